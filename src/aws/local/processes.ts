/**
 * Jobs and tasks as local processes (the endpoint's default mode): each in a process group of its
 * own, so that stopping it stops what it started, and every group killed again on close.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import type { LaunchCallbacks, LaunchSpec, Launcher } from './launch.js';
import { settleWithin } from '../../timeout.js';

export class ProcessLauncher implements Launcher {
  readonly kind = 'process';
  private readonly procs = new Map<string, ChildProcess>();
  private readonly exited = new Map<string, Promise<void>>();
  /** Every process group started, killed again on close (children a job left behind). */
  private readonly groups = new Set<number>();

  /** Job ids and task ids share the table (they never collide: UUIDs and 32-hex ids). */
  launch(key: string, spec: LaunchSpec, logPath: string, cb: LaunchCallbacks): void {
    if (spec.kind !== 'process') throw new Error('the process launcher runs processes, not containers');
    const { argv, cwd, env } = spec;
    // stdout and stderr in one file, in the order written, as in a CloudWatch log stream
    const out = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', out, out], detached: true });
    } catch (e) {
      cb.failed(`CannotStartContainerError: ${(e as Error).message} (running ${argv.join(' ')})`);
      return;
    } finally {
      closeSync(out);
    }
    this.procs.set(key, child);
    let resolveExit!: () => void;
    this.exited.set(key, new Promise((r) => (resolveExit = r)));
    child.once('spawn', () => {
      this.groups.add(child.pid!);
      cb.started(child.pid!);
    });
    child.once('error', (e) => {
      if (child.pid !== undefined) return; // errors after spawn are followed by 'exit'
      this.procs.delete(key);
      cb.failed(`CannotStartContainerError: ${e.message} (running ${argv.join(' ')})`);
      resolveExit();
    });
    child.once('exit', (code, signal) => {
      this.procs.delete(key);
      cb.exited(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0), signal);
      resolveExit();
    });
  }

  has(key: string): boolean {
    return this.procs.has(key);
  }

  stop(key: string, graceMs: number): void {
    const child = this.procs.get(key);
    if (!child) return;
    killGroup(child, 'SIGTERM');
    setTimeout(() => {
      if (this.procs.get(key) === child) killGroup(child, 'SIGKILL');
    }, graceMs).unref();
  }

  runningPids(): number[] {
    return [...this.procs.values()].map((c) => c.pid).filter((p): p is number => p !== undefined);
  }

  killAll(): void {
    for (const child of this.procs.values()) killGroup(child, 'SIGKILL');
    for (const pgid of this.groups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* group already empty */
      }
    }
  }

  async close(timeoutMs: number): Promise<void> {
    this.killAll();
    await settleWithin(Promise.all([...this.exited.values()]), timeoutMs);
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}
