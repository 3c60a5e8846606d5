/**
 * CW_SUBPROC: compute workers as `riots computeworker` processes on this machine. It is the
 * reference launcher for the channel backend (remote.ts): every remote kind differs from it only
 * in how it starts and stops the same command.
 *
 * Workers run the riots this process runs: the built CLI (dist/cli/main.js) under plain node, or,
 * when riots itself runs from its TypeScript sources, src/cli/main.ts under tsx. They start in an
 * empty private folder, read the channel address and key from a 0600 file, and are killed at the
 * end of the run whatever happens. Their bundle folder is inside the run's private folder, so
 * nothing they leave there outlives the run. They keep freed block buffers for the next block
 * (glibc malloc settings, malloc.ts).
 *
 * singleBlockComputeWorkers works here as for the batch kinds (one process per block), with at
 * most os.availableParallelism() processes at once: it is the local reference for them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunDescription } from '../backend.js';
import type { ComputeBackend } from '../backend.js';
import { WorkerError } from '../../errors.js';
import { riotsNodeArgs, workerProcessEnv } from '../pool/workerenv.js';
import { CHANNEL_SETTINGS } from '../pool/settings.js';
import { ChannelWorkerBackend } from '../pool/channelbackend.js';
import type { LaunchContext, LaunchSpec, Launcher } from '../pool/launcher.js';

export interface ChildHandle {
  workerId: number;
  child: ChildProcess;
  /** Resolves with how the process ended. */
  exit: Promise<string>;
  exited: boolean;
  /** The last few kB of its stderr, for error messages. */
  stderrTail: string;
}

const TAIL = 4000;

export class SubprocLauncher implements Launcher<ChildHandle> {
  readonly kind = 'CW_SUBPROC';
  readonly endNoticedPromptly = true;
  readonly bindHost = '127.0.0.1';
  readonly useAddrFile = true;
  /** singleBlockComputeWorkers: one process per CPU at most (and by default). */
  readonly singleBlockWorkers = { default: os.availableParallelism(), most: os.availableParallelism(), mostWhy: 'the CPUs of this machine' };
  private cwd: string | undefined;
  private tmp: string | undefined;

  async prepare(ctx: LaunchContext): Promise<void> {
    this.cwd = path.join(ctx.tempDir, 'cwd');
    await fs.mkdir(this.cwd, { mode: 0o700 });
    // the workers' own temporary files (the bundle) live in the run's folder, which the main
    // removes even when a worker was killed before it could clean up. (Not TMPDIR: tools such as
    // tsx keep caches there that should outlive a run.)
    this.tmp = path.join(ctx.tempDir, 'tmp');
    await fs.mkdir(this.tmp, { mode: 0o700 });
  }

  async launch(spec: LaunchSpec): Promise<ChildHandle> {
    const env = workerProcessEnv(spec.env, this.tmp);
    const child = spawn(process.execPath, [...riotsNodeArgs(), ...spec.args], {
      cwd: this.cwd,
      env,
      stdio: ['ignore', 'inherit', 'pipe'],
      // its own process group: Ctrl-C reaches the main only, which stops the workers itself
      detached: true,
    });
    const h: ChildHandle = { workerId: spec.workerId, child, exited: false, stderrTail: '', exit: Promise.resolve('') };
    const prefix = `[CW_SUBPROC worker ${spec.workerId}] `;
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      h.stderrTail = (h.stderrTail + s).slice(-TAIL);
      const lines = (partial + s).split('\n');
      partial = lines.pop()!;
      for (const l of lines) process.stderr.write(prefix + l + '\n');
    });
    h.exit = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => {
        h.exited = true;
        if (partial) process.stderr.write(prefix + partial + '\n');
        resolve(signal ? `killed by ${signal}` : `exited with code ${code}`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) =>
        reject(new WorkerError(`cannot start worker ${spec.workerId} (${process.execPath}): ${err.message}`, { workerId: spec.workerId, cause: err })),
      );
    });
    return h;
  }

  async cancel(h: ChildHandle): Promise<void> {
    if (h.exited) return;
    h.child.kill('SIGTERM');
    h.child.kill('SIGCONT'); // a stopped process acts on SIGTERM only once continued
    const t = setTimeout(() => h.child.kill('SIGKILL'), 2000);
    await h.exit;
    clearTimeout(t);
  }

  async status(h: ChildHandle): Promise<string> {
    if (!h.exited) return `running as pid ${h.child.pid}`;
    const how = await h.exit;
    const last = h.stderrTail.trim().split('\n').slice(-3).join(' / ');
    return last ? `${how}: ${last}` : how;
  }

  ended(h: ChildHandle): Promise<string> {
    return h.exit.then(async () => this.status(h));
  }

  describe(h: ChildHandle): string {
    return `pid ${h.child.pid}`;
  }
}

/** Every computeWorkerExtraParams of CW_SUBPROC: the channel's. */
export const EXTRA_PARAMS = CHANNEL_SETTINGS;

/** Entry point for src/workers/index.ts. */
export async function createBackend(run: RunDescription): Promise<ComputeBackend> {
  return new ChannelWorkerBackend(run, new SubprocLauncher());
}
