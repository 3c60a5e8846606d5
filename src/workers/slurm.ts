/**
 * CW_SLURM: one SLURM batch job per compute worker, submitted with `sbatch`, followed with
 * `squeue` and stopped with `scancel`.
 *
 * Only the start and stop of workers is here (a {@link Launcher}); scheduling, the channel,
 * re-queueing of lost workers' blocks and the barrier are the shared channel backend's
 * (remote.ts). Each job runs a small script, given to sbatch on its standard input, that runs
 * `initCmds` and then `riots computeworker -i ID ...`: by default the node and riots this process
 * runs (absolute paths, as on a cluster whose software lives on a shared file system), or
 * `workerCommand`. The key never appears in the script or on a command line: with
 * haveSharedTemp the worker reads it from the 0600 address file in the run's folder (which must
 * then be on a file system the nodes share: set controls tempdir); otherwise it reaches the job
 * through the environment sbatch exports (RIOTS_CHANNEL_KEY), which SLURM keeps with the job and
 * shows to the job's owner and the administrators only.
 *
 * Every job of a run has the same name, `riots-<run id>`, so one `squeue` follows them all and
 * `scancel --name` finds them. Jobs are submitted with --no-requeue: riots re-runs a lost worker's
 * blocks itself, and a requeued job would come back as a second worker with the same id. A
 * process that exits in the middle of a run (an uncaught exception elsewhere, process.exit())
 * cancels its unended jobs with `scancel` at 'exit', so no pending job starts later to wait for a
 * main that is gone. SIGKILL of the main leaves running jobs to their worker timeout and pending
 * ones to start and time out (a few seconds each).
 *
 * computeWorkerExtraParams (besides the shared ones of remote.ts):
 * - `sbatchOptions`: more sbatch options, as a string (shell quoting) or an array of words, e.g.
 *   '--partition=short --time=01:00:00 --mem=4G'. Not --job-name, --output, --error, --array,
 *   --wrap, --parsable or --export, which riots sets.
 * - `initCmds`: shell lines run in the job before the worker (e.g. 'module load gdal').
 * - `workerCommand`: the command that runs riots on the nodes, as a string or words (default:
 *   this process's node and riots). `computeworker` and its arguments are added.
 * - `logDir`: a folder (on the submitting machine's view of the file system) for the jobs'
 *   output, one file per job, kept after the run. Default: with haveSharedTemp the run's folder
 *   (the tail of a failed job's log goes into the error; the folder is removed at the end),
 *   otherwise /dev/null.
 * - `pollSeconds` (2): how often squeue follows the jobs.
 * - `jobEndGraceSeconds` (5): at the end, how long a running job may take to exit by itself
 *   before it is cancelled. `cancelWaitSeconds` (60): how long to wait for cancelled jobs to end.
 * - `commandTimeoutSeconds` (60): how long one sbatch, squeue or scancel may take.
 * - singleBlockComputeWorkers: at most `singleBlockMaxWorkers` jobs alive at once (default 32).
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, writeSync } from 'node:fs';
import path from 'node:path';
import type { RunDescription } from '../applier/apply.js';
import type { ComputeBackend } from '../applier/compute.js';
import { shellWords } from '../cli/batch-shellwords.js';
import { ControlsError, WorkerError } from '../errors.js';
import { cleanUpAtExit } from '../exitcleanup.js';
import { CHANNEL_KEY_ENV } from './channeladdr.js';
import { WORKER_TMPDIR_ENV } from './computeworker.js';
import { GLIBC_TUNABLES_ENV, withWorkerMallocTunables } from './malloc.js';
import { extraSeconds } from './launcher.js';
import { ChannelWorkerBackend, type LaunchContext, type LaunchSpec, type Launcher } from './remote.js';
import { riotsNodeArgs } from './subproc.js';

export interface SlurmSettings {
  sbatchOptions: string[];
  initCmds: string | undefined;
  workerCommand: string[];
  logDir: string | undefined;
  pollSeconds: number;
  jobEndGraceSeconds: number;
  cancelWaitSeconds: number;
  commandTimeoutSeconds: number;
}

/** sbatch options riots sets itself. */
const RESERVED_OPTIONS = ['-J', '--job-name', '-o', '--output', '-e', '--error', '-a', '--array', '--wrap', '--parsable', '--export'];

function words(extra: Readonly<Record<string, unknown>>, k: string): string[] | undefined {
  const v = extra[k];
  if (v === undefined) return undefined;
  if (typeof v === 'string') {
    try {
      return shellWords(v);
    } catch (err) {
      throw new ControlsError(`computeWorkerExtraParams.${k}: ${(err as Error).message}`);
    }
  }
  if (Array.isArray(v) && v.every((w) => typeof w === 'string')) return [...(v as string[])];
  throw new ControlsError(`computeWorkerExtraParams.${k} must be a string of shell words or an array of strings`);
}

/** Read the CW_SLURM settings of computeWorkerExtraParams. @throws {ControlsError} on a bad value. */
export function slurmSettings(extra: Readonly<Record<string, unknown>>): SlurmSettings {
  const num = (k: string, dflt: number, allowZero = false): number => extraSeconds(extra, k, dflt, allowZero);
  const sbatchOptions = words(extra, 'sbatchOptions') ?? [];
  for (const w of sbatchOptions) {
    const name = w.startsWith('--') ? w.split('=')[0]! : w.slice(0, 2);
    if (RESERVED_OPTIONS.includes(name)) {
      const hint = name === '--export' ? ' (the job gets this environment; set more variables in initCmds)' : name === '-o' || name === '--output' || name === '-e' || name === '--error' ? " (use logDir for the jobs' output)" : '';
      throw new ControlsError(`computeWorkerExtraParams.sbatchOptions may not set ${name}: riots sets it${hint}`);
    }
  }
  const workerCommand = words(extra, 'workerCommand') ?? [process.execPath, ...riotsNodeArgs()];
  if (workerCommand.length === 0) throw new ControlsError('computeWorkerExtraParams.workerCommand is empty');
  const initCmds = extra.initCmds;
  if (initCmds !== undefined && typeof initCmds !== 'string') throw new ControlsError('computeWorkerExtraParams.initCmds must be a string of shell lines');
  const logDir = extra.logDir;
  if (logDir !== undefined && (typeof logDir !== 'string' || logDir === '')) throw new ControlsError('computeWorkerExtraParams.logDir must be a folder');
  return {
    sbatchOptions,
    initCmds,
    workerCommand,
    logDir: logDir === undefined ? undefined : path.resolve(logDir),
    pollSeconds: num('pollSeconds', 2),
    jobEndGraceSeconds: num('jobEndGraceSeconds', 5, true),
    cancelWaitSeconds: num('cancelWaitSeconds', 60, true),
    commandTimeoutSeconds: num('commandTimeoutSeconds', 60),
  };
}

/** Quote a word for a POSIX shell. */
export function shellQuote(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The job script: the init commands, then exec the worker. */
export function jobScript(command: readonly string[], initCmds: string | undefined): string {
  const lines = ['#!/bin/sh', '# riots compute worker'];
  if (initCmds) lines.push(initCmds);
  lines.push(`exec ${command.map(shellQuote).join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Job states after which nothing of the job runs any more. */
const ENDED_STATES = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'PREEMPTED',
  'OUT_OF_MEMORY',
  'BOOT_FAIL',
  'DEADLINE',
  'REVOKED',
  'SPECIAL_EXIT',
]);

export interface SlurmJob {
  workerId: number;
  jobId: string;
  /** Last state squeue gave ('SUBMITTED' until the first poll). */
  state: string;
  reason: string;
  /** Set once the job is seen to have ended. */
  endedText: string | undefined;
  ended: Promise<string>;
  resolveEnded: (text: string) => void;
  logFile: string | undefined;
  /** A time scancel was sent. */
  cancelledAt: number | undefined;
}

/** Run a SLURM command; resolves with its stdout. @throws {WorkerError} with its stderr. */
function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
        const why =
          e.code === 'ENOENT'
            ? `${cmd} not found (is SLURM's client installed and on PATH?)`
            : e.killed
              ? `${cmd} did not answer within ${opts.timeoutMs / 1000} s`
              : `${cmd} failed: ${String(stderr).trim() || e.message}`;
        reject(new WorkerError(why, { cause: err }));
      } else resolve(String(stdout));
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

function say(line: string): void {
  try {
    writeSync(2, line + '\n');
  } catch {
    // nowhere to say it
  }
}

async function tail(file: string | undefined): Promise<string> {
  if (!file || file === '/dev/null') return '';
  try {
    const text = await fs.readFile(file, 'utf8');
    return text.trim().split('\n').slice(-3).join(' / ').slice(-1000);
  } catch {
    return '';
  }
}

export class SlurmLauncher implements Launcher<SlurmJob> {
  readonly kind = 'CW_SLURM';
  readonly bindHost = '0.0.0.0';
  readonly useAddrFile: boolean;
  readonly singleBlockWorkers = { default: 32 };
  readonly runId: string;
  /** The name of every job of the run. */
  readonly jobName: string;
  readonly jobs = new Map<string, SlurmJob>();
  private readonly s: SlurmSettings;
  private readonly sharedTemp: boolean;
  private tempDir: string | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private lastPollError: string | undefined;
  private submitting = 0;
  private keepJobsAtExit: (() => void) | undefined;
  private closed = false;

  constructor(settings: SlurmSettings, opts: { haveSharedTemp: boolean; runId?: string }) {
    this.s = settings;
    this.sharedTemp = opts.haveSharedTemp;
    this.useAddrFile = opts.haveSharedTemp;
    this.runId = opts.runId ?? `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    this.jobName = `riots-${this.runId}`;
  }

  async prepare(ctx: LaunchContext): Promise<void> {
    this.tempDir = ctx.tempDir;
    if (this.sharedTemp) {
      await fs.mkdir(path.join(ctx.tempDir, 'cwd'), { mode: 0o700 });
      await fs.mkdir(path.join(ctx.tempDir, 'tmp'), { mode: 0o700 });
    }
    if (this.s.logDir) await fs.mkdir(this.s.logDir, { recursive: true });
    this.keepJobsAtExit = cleanUpAtExit(() => this.cancelAtExit());
    this.schedulePoll();
  }

  private logFile(workerId: number): string {
    if (this.s.logDir) return path.join(this.s.logDir, `${this.jobName}-worker-${workerId}.log`);
    if (this.sharedTemp && this.tempDir) return path.join(this.tempDir, `worker-${workerId}.log`);
    return '/dev/null';
  }

  async launch(spec: LaunchSpec): Promise<SlurmJob> {
    const logFile = this.logFile(spec.workerId);
    const script = jobScript([...this.s.workerCommand, ...spec.args], this.s.initCmds);
    const args = [
      ...this.s.sbatchOptions,
      '--parsable',
      `--job-name=${this.jobName}`,
      `--output=${logFile}`,
      '--no-requeue',
      '--export=ALL',
      ...(this.sharedTemp && this.tempDir ? [`--chdir=${path.join(this.tempDir, 'cwd')}`] : []),
    ];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      [GLIBC_TUNABLES_ENV]: withWorkerMallocTunables(process.env[GLIBC_TUNABLES_ENV]),
      ...spec.env,
      ...(this.sharedTemp && this.tempDir ? { [WORKER_TMPDIR_ENV]: path.join(this.tempDir, 'tmp') } : {}),
    };
    if (!(CHANNEL_KEY_ENV in spec.env)) delete env[CHANNEL_KEY_ENV];
    this.submitting++;
    let out: string;
    try {
      out = await run('sbatch', args, { input: script, env, timeoutMs: this.s.commandTimeoutSeconds * 1000 });
    } catch (err) {
      throw new WorkerError(`cannot submit the SLURM job of worker ${spec.workerId}: ${(err as Error).message}`, { workerId: spec.workerId, cause: err });
    } finally {
      this.submitting--;
    }
    // --parsable: "jobid" or "jobid;cluster"
    const jobId = out.trim().split('\n').pop()!.split(';')[0]!.trim();
    if (!/^\d+$/.test(jobId)) throw new WorkerError(`sbatch gave no job id for worker ${spec.workerId} (it printed: ${out.trim().slice(0, 200)})`, { workerId: spec.workerId });
    let resolveEnded!: (t: string) => void;
    const ended = new Promise<string>((r) => (resolveEnded = r));
    const job: SlurmJob = { workerId: spec.workerId, jobId, state: 'SUBMITTED', reason: '', endedText: undefined, ended, resolveEnded, logFile, cancelledAt: undefined };
    this.jobs.set(jobId, job);
    if (this.closed) await this.cancel(job);
    return job;
  }

  private schedulePoll(): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => {
      void this.poll().finally(() => this.schedulePoll());
    }, this.s.pollSeconds * 1000);
    this.pollTimer.unref();
  }

  /** One squeue for every job of the run (one at a time: concurrent callers share it). */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const watched = [...this.jobs.values()].filter((j) => j.endedText === undefined);
    if (watched.length === 0) return;
    let out: string;
    try {
      out = await run('squeue', ['--noheader', '--states=all', `--name=${this.jobName}`, '--format=%i|%T|%r'], { timeoutMs: this.s.commandTimeoutSeconds * 1000 });
      this.lastPollError = undefined;
    } catch (err) {
      this.lastPollError = (err as Error).message;
      return;
    }
    const seen = new Map<string, { state: string; reason: string }>();
    for (const line of out.split('\n')) {
      const [id, state, reason] = line.trim().split('|');
      if (id && state) seen.set(id, { state, reason: reason ?? '' });
    }
    for (const j of watched) {
      const s = seen.get(j.jobId);
      if (s === undefined) {
        // submitted jobs are listed at once; one no longer listed has ended long enough ago to be purged
        this.markEnded(j, 'no longer known to SLURM');
        continue;
      }
      j.state = s.state;
      j.reason = s.reason === 'None' ? '' : s.reason;
      if (ENDED_STATES.has(s.state)) this.markEnded(j, `${s.state}${j.reason ? ` (${j.reason})` : ''}`);
    }
  }

  private markEnded(j: SlurmJob, how: string): void {
    if (j.endedText !== undefined) return;
    j.endedText = `job ${j.jobId} ${how}`;
    void tail(j.logFile).then((t) => j.resolveEnded(t ? `${j.endedText}: ${t}` : j.endedText!));
  }

  /** Poll every `ms` until `j` has ended or `deadline` passes; true if it ended. */
  private async waitEnded(j: SlurmJob, deadline: number, ms = 250): Promise<boolean> {
    while (j.endedText === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, ms));
      await this.poll();
    }
    return j.endedText !== undefined;
  }

  async cancel(j: SlurmJob): Promise<void> {
    if (j.endedText !== undefined) return;
    // a running worker told to shut down ends by itself: give it a moment before cancelling
    if (j.state === 'RUNNING' && j.cancelledAt === undefined && this.s.jobEndGraceSeconds > 0) {
      if (await this.waitEnded(j, Date.now() + this.s.jobEndGraceSeconds * 1000)) return;
    }
    j.cancelledAt ??= Date.now();
    try {
      await run('scancel', [j.jobId], { timeoutMs: this.s.commandTimeoutSeconds * 1000 });
    } catch (err) {
      say(`riots: scancel of SLURM job ${j.jobId} (worker ${j.workerId}) failed: ${(err as Error).message}`);
    }
    if (!(await this.waitEnded(j, Date.now() + this.s.cancelWaitSeconds * 1000, 500))) {
      say(`riots: SLURM job ${j.jobId} (worker ${j.workerId}) is still ${j.state} ${this.s.cancelWaitSeconds} s after scancel; check with 'squeue -j ${j.jobId}'`);
    }
  }

  async status(j: SlurmJob): Promise<string> {
    if (j.endedText !== undefined) return j.ended;
    const t = await tail(j.logFile);
    const st = `job ${j.jobId} ${j.state}${j.reason ? ` (${j.reason})` : ''}${this.lastPollError ? ` [squeue: ${this.lastPollError}]` : ''}`;
    return t ? `${st}: ${t}` : st;
  }

  ended(j: SlurmJob): Promise<string> {
    return j.ended;
  }

  describe(j: SlurmJob): string {
    return `job ${j.jobId}`;
  }

  /** At 'exit' (synchronous): scancel the jobs not seen to end. */
  private cancelAtExit(): void {
    const ids = [...this.jobs.values()].filter((j) => j.endedText === undefined).map((j) => j.jobId);
    if (ids.length === 0 && this.submitting === 0) return;
    // by name: also a job whose sbatch was under way, which has no id here yet
    const r = spawnSync('scancel', [`--name=${this.jobName}`], { stdio: 'ignore', timeout: this.s.commandTimeoutSeconds * 1000, killSignal: 'SIGKILL' });
    say(
      r.status === 0
        ? `riots: the process is exiting mid-run: cancelled the SLURM jobs of run ${this.runId} (name ${this.jobName})`
        : `riots: the process is exiting mid-run and scancel failed; cancel the jobs with 'scancel --name=${this.jobName}'`,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    await this.polling;
    const left = [...this.jobs.values()].some((j) => j.endedText === undefined);
    if (!left && this.submitting === 0) this.keepJobsAtExit?.();
  }
}

/** Entry point for src/workers/index.ts. Nothing is submitted before start(). */
export async function createBackend(run: RunDescription): Promise<ComputeBackend> {
  const s = slurmSettings(run.concurrency.computeWorkerExtraParams);
  return new ChannelWorkerBackend(run, new SlurmLauncher(s, { haveSharedTemp: run.concurrency.haveSharedTemp }));
}
