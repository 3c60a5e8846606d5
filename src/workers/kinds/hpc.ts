/**
 * What CW_SLURM and CW_PBS share: one batch job per compute worker on a cluster scheduler,
 * submitted from a small shell script, followed by polling the scheduler, stopped by its cancel
 * command. A {@link Scheduler} supplies the commands (slurm.ts: sbatch/squeue/scancel; pbs.ts:
 * qsub/qstat/qdel); {@link HpcLauncher} does the rest: the job's environment and log, the
 * polling, the grace given to a worker ending by itself, the wait after a cancel, and the
 * cancel at 'exit' of a process that leaves mid-run.
 *
 * The key never appears in a job script or on a command line: with haveSharedTemp the worker
 * reads it from the 0600 address file in the run's folder (which must then be on a file system
 * the nodes share: set controls tempdir); otherwise it reaches the job through the environment the
 * submit command exports (RIOTS_CHANNEL_KEY), which the scheduler keeps with the job and shows to
 * the job's owner and the administrators only.
 *
 * computeWorkerExtraParams shared by both kinds (besides those of remote.ts):
 * - `<submit>Options` (`sbatchOptions`, `qsubOptions`): more options for the submit command, as a
 *   string (shell quoting) or an array of words. Not those riots sets (each kind lists them).
 * - `initCmds`: shell lines run in the job before the worker (e.g. 'module load gdal').
 * - `workerCommand`: the command that runs riots on the nodes, as a string or words (default:
 *   this process's node and riots). `computeworker` and its arguments are added.
 * - `logDir`: a folder (on the submitting machine's view of the file system) for the jobs'
 *   output, one file per job, kept after the run. Default: with haveSharedTemp the run's folder
 *   (the tail of a failed job's log goes into the error; the folder is removed at the end),
 *   otherwise /dev/null.
 * - `pollSeconds` (2): how often the scheduler is asked about the jobs.
 * - `jobEndGraceSeconds` (5): at the end, how long a running job may take to exit by itself
 *   before it is cancelled. `cancelWaitSeconds` (60): how long to wait for cancelled jobs to end.
 * - `commandTimeoutSeconds` (60): how long one scheduler command may take.
 * - singleBlockComputeWorkers: at most `singleBlockMaxWorkers` jobs alive at once (default 32).
 */
import { execFile } from 'node:child_process';
import { promises as fs, writeSync } from 'node:fs';
import path from 'node:path';
import { ControlsError, SchedulerCommandError, WorkerError } from '../../errors.js';
import { cleanUpAtExit } from '../../exitcleanup.js';
import { newRunId } from '../../runid.js';
import { RunTracker, newTracked, type Tracked } from '../../jobtracker.js';
import { CHANNEL_SETTINGS } from '../pool/settings.js';
import { parseSettings, seconds, text, words, type SettingsTable } from '../../settings.js';
import type { LaunchContext, LaunchSpec, Launcher } from '../pool/launcher.js';
import { riotsNodeArgs, workerProcessEnv } from '../pool/workerenv.js';

export interface HpcSettings {
  /** More options for the submit command (sbatchOptions / qsubOptions). */
  submitOptions: string[];
  initCmds: string | undefined;
  workerCommand: string[];
  logDir: string | undefined;
  pollSeconds: number;
  jobEndGraceSeconds: number;
  cancelWaitSeconds: number;
  commandTimeoutSeconds: number;
}

/** The computeWorkerExtraParams CW_SLURM and CW_PBS share (besides the channel's and their submit options). */
export const HPC_SETTINGS = {
  initCmds: text({ meaning: 'shell lines the job runs before the worker (`module load …`, `source venv/bin/activate`)' }),
  workerCommand: words({ default: 'this `node` and riots', meaning: 'what runs riots on a node, a string or words' }),
  logDir: text({ default: 'run folder or `/dev/null`', meaning: 'a folder for one log per job, kept after the run' }),
  pollSeconds: seconds(2, 'how often the scheduler is asked about every job of the run'),
  jobEndGraceSeconds: seconds(5, 'at the end, how long a running job may take to exit by itself before it is cancelled', true),
  cancelWaitSeconds: seconds(60, 'how long to wait for a cancelled job to end (then say so and go on)', true),
  commandTimeoutSeconds: seconds(60, 'how long one scheduler command may take'),
} satisfies SettingsTable;

/** The whole table of one scheduler's kind: the channel's, the shared HPC ones, and its submit options under `optionsKey`. */
export function hpcExtraParams(optionsKey: string, optionsMeaning: string): SettingsTable {
  return { ...CHANNEL_SETTINGS, ...HPC_SETTINGS, [optionsKey]: words({ meaning: optionsMeaning }) };
}

/**
 * Read the settings of computeWorkerExtraParams. `optionsKey` names the submit options;
 * `refuse(word)` says why a word of them is riots' own (undefined: allowed).
 * @throws {ControlsError} on a bad value.
 */
export function hpcSettings(extra: Readonly<Record<string, unknown>>, optionsKey: string, refuse: (word: string) => string | undefined): HpcSettings {
  const s = parseSettings(HPC_SETTINGS, extra, 'computeWorkerExtraParams', { strict: false });
  const submitOptions = parseSettings({ [optionsKey]: words({ meaning: '' }) }, extra, 'computeWorkerExtraParams', { strict: false })[optionsKey] ?? [];
  for (const w of submitOptions) {
    const why = refuse(w);
    if (why !== undefined) throw new ControlsError(`computeWorkerExtraParams.${optionsKey} ${why}`);
  }
  const workerCommand = s.workerCommand ?? [process.execPath, ...riotsNodeArgs()];
  if (workerCommand.length === 0) throw new ControlsError('computeWorkerExtraParams.workerCommand is empty');
  return { ...s, submitOptions, workerCommand, logDir: s.logDir === undefined ? undefined : path.resolve(s.logDir) };
}

/** Quote a word for a POSIX shell. */
export function shellQuote(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The job script: a working folder, the init commands, then exec the worker. */
export function jobScript(command: readonly string[], initCmds: string | undefined, workDir?: string): string {
  const lines = ['#!/bin/sh', '# riots compute worker'];
  if (workDir) lines.push(`cd ${shellQuote(workDir)} || exit 1`);
  if (initCmds) lines.push(initCmds);
  lines.push(`exec ${command.map(shellQuote).join(' ')}`);
  return lines.join('\n') + '\n';
}

/**
 * Run a scheduler command; resolves with its stdout.
 * @throws {SchedulerCommandError} with its stderr (or stdout, where the command writes its errors there).
 */
export function runCommand(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs: number; what: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
          const said = String(stderr).trim() || String(stdout).trim();
          const why =
            e.code === 'ENOENT'
              ? `${cmd} not found (is ${opts.what}'s client installed and on PATH?)`
              : e.killed
                ? `${cmd} did not answer within ${opts.timeoutMs / 1000} s`
                : `${cmd} failed: ${said.slice(0, 2000) || e.message}`;
          reject(
            new SchedulerCommandError(why, {
              ...(typeof e.code === 'number' ? { exitCode: e.code } : {}),
              stdout: String(stdout),
              stderr: String(stderr),
              cause: err,
            }),
          );
        } else resolve(String(stdout));
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin?.end();
  });
}

export function say(line: string): void {
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

/** What the scheduler says of one job. */
export interface JobState {
  /** Its state, as the scheduler names it ("PENDING", "Q (queued)"). */
  state: string;
  /** Why it waits, or how it ended ('' if nothing is said). */
  reason: string;
  running: boolean;
  ended: boolean;
}

export interface SubmitRequest {
  workerId: number;
  jobName: string;
  /** The job script (no key in it). */
  script: string;
  /** A private path where the script may be written, if the command wants a file. */
  scriptFile: string;
  logFile: string;
  /** The job's working folder on the nodes, when the run has a shared temporary folder. */
  workDir: string | undefined;
  /** The submit command's environment, which the job inherits (the key, when not in a file). */
  env: NodeJS.ProcessEnv;
  options: string[];
  timeoutMs: number;
}

/** The commands of one scheduler. */
export interface Scheduler {
  readonly kind: 'CW_SLURM' | 'CW_PBS';
  /** For messages: "SLURM", "PBS". */
  readonly name: string;
  /** The name every job of a run gets. */
  jobName(runId: string): string;
  /** Submit one job. @returns its id. @throws {WorkerError} with the scheduler's words. */
  submit(r: SubmitRequest): Promise<string>;
  /**
   * The state of each of these jobs of run `jobName`; a job missing from the answer is no
   * longer known to the scheduler (it ended a while ago). @throws when the scheduler could not be asked.
   */
  query(ids: string[], jobName: string, timeoutMs: number): Promise<Map<string, JobState>>;
  /** Cancel one job. A job that has already ended is not an error. */
  cancel(id: string, timeoutMs: number): Promise<void>;
  /** At 'exit', synchronously: cancel these jobs (and, where the scheduler can, any of the run being submitted). */
  cancelAtExit(ids: string[], jobName: string, timeoutMs: number): { ok: boolean; how: string; manual: string };
  /** The command a user runs to look at a job. */
  lookCommand(id: string): string;
}

/** What the scheduler said of a job last. */
export type HpcJobState = JobState & { id: string };

/** One worker's job, followed by the run's {@link RunTracker}. */
export type HpcJob = Tracked<HpcJobState> & {
  workerId: number;
  jobId: string;
  logFile: string | undefined;
  /** A time the cancel command was sent. */
  cancelledAt: number | undefined;
};

export class HpcLauncher implements Launcher<HpcJob> {
  readonly kind: string;
  readonly bindHost = '0.0.0.0';
  readonly useAddrFile: boolean;
  readonly singleBlockWorkers = { default: 32 };
  readonly runId: string;
  /** The name of every job of the run. */
  readonly jobName: string;
  /** The run's jobs, polled with one scheduler query for all (the shared tracker, src/jobtracker.ts). */
  readonly tracker: RunTracker<HpcJobState, HpcJob>;
  private readonly sharedTemp: boolean;
  private tempDir: string | undefined;
  private submitting = 0;
  private keepJobsAtExit: (() => void) | undefined;
  private closed = false;

  constructor(
    readonly sched: Scheduler,
    private readonly s: HpcSettings,
    opts: { haveSharedTemp: boolean; runId?: string },
  ) {
    this.kind = sched.kind;
    this.sharedTemp = opts.haveSharedTemp;
    this.useAddrFile = opts.haveSharedTemp;
    this.runId = opts.runId ?? newRunId();
    this.jobName = sched.jobName(this.runId);
    const timeoutMs = s.commandTimeoutSeconds * 1000;
    this.tracker = new RunTracker<HpcJobState, HpcJob>(s.pollSeconds * 1000, {
      noun: 'job',
      batchSize: Number.POSITIVE_INFINITY,
      describe: async (ids) => [...(await sched.query(ids, this.jobName, timeoutMs))].map(([id, st]) => ({ ...st, id })),
      // submitted jobs are listed at once; one no longer listed has ended long enough ago to be purged
      goneText: `no longer known to ${sched.name}`,
      endedLine: async (id, line) => {
        const t = await tail(this.tracker.jobs.get(id)?.logFile);
        return t ? `${line}: ${t}` : line;
      },
      idOf: (d) => d.id,
      isDone: (d) => d.ended,
      isRunning: (d) => d?.running === true,
      text: (d) => (d ? `${d.state}${d.reason ? ` (${d.reason})` : ''}` : 'SUBMITTED'),
      keep: (d) => d,
      stop: (id) => sched.cancel(id, timeoutMs),
    });
  }

  async prepare(ctx: LaunchContext): Promise<void> {
    this.tempDir = ctx.tempDir;
    await fs.mkdir(path.join(ctx.tempDir, 'scripts'), { mode: 0o700 });
    if (this.sharedTemp) {
      await fs.mkdir(path.join(ctx.tempDir, 'cwd'), { mode: 0o700 });
      await fs.mkdir(path.join(ctx.tempDir, 'tmp'), { mode: 0o700 });
    }
    if (this.s.logDir) await fs.mkdir(this.s.logDir, { recursive: true });
    this.keepJobsAtExit = cleanUpAtExit(() => this.cancelAtExit());
    this.tracker.startPolling(this.s.pollSeconds * 1000);
  }

  private logFile(workerId: number): string {
    if (this.s.logDir) return path.join(this.s.logDir, `${this.jobName}-worker-${workerId}.log`);
    if (this.sharedTemp && this.tempDir) return path.join(this.tempDir, `worker-${workerId}.log`);
    return '/dev/null';
  }

  async launch(spec: LaunchSpec): Promise<HpcJob> {
    const logFile = this.logFile(spec.workerId);
    const workDir = this.sharedTemp && this.tempDir ? path.join(this.tempDir, 'cwd') : undefined;
    const env = workerProcessEnv(spec.env, this.sharedTemp && this.tempDir ? path.join(this.tempDir, 'tmp') : undefined);
    this.submitting++;
    let jobId: string;
    try {
      jobId = await this.sched.submit({
        workerId: spec.workerId,
        jobName: this.jobName,
        script: jobScript([...this.s.workerCommand, ...spec.args], this.s.initCmds, workDir),
        scriptFile: path.join(this.tempDir ?? '.', 'scripts', `worker-${spec.workerId}.sh`),
        logFile,
        workDir,
        env,
        options: this.s.submitOptions,
        timeoutMs: this.s.commandTimeoutSeconds * 1000,
      });
    } catch (err) {
      throw new WorkerError(`cannot submit the ${this.sched.name} job of worker ${spec.workerId}: ${(err as Error).message}`, {
        workerId: spec.workerId,
        cause: err,
      });
    } finally {
      this.submitting--;
    }
    const job = this.tracker.adopt({ ...newTracked<HpcJobState>(jobId), workerId: spec.workerId, jobId, logFile, cancelledAt: undefined });
    if (this.closed) await this.cancel(job);
    return job;
  }

  async cancel(j: HpcJob): Promise<void> {
    if (j.endedText !== undefined) return;
    // a running worker told to shut down ends by itself: give it a moment before cancelling (once)
    const graceMs = j.cancelledAt === undefined ? this.s.jobEndGraceSeconds * 1000 : 0;
    j.cancelledAt ??= Date.now();
    const waitMs = this.s.cancelWaitSeconds * 1000;
    try {
      await this.tracker.stop(j, 'riots: the run is over', graceMs, waitMs);
    } catch (err) {
      say(`riots: cancelling ${this.sched.name} job ${j.jobId} (worker ${j.workerId}) failed: ${(err as Error).message}`);
      await this.tracker.waitEnded(j, waitMs);
    }
    if (j.endedText === undefined) {
      say(
        `riots: ${this.sched.name} job ${j.jobId} (worker ${j.workerId}) is still ${this.tracker.api.text(j.detail)} ${this.s.cancelWaitSeconds} s after it was cancelled; check with '${this.sched.lookCommand(j.jobId)}'`,
      );
    }
  }

  async status(j: HpcJob): Promise<string> {
    if (j.endedText !== undefined) return j.ended;
    const [st, t] = await Promise.all([this.tracker.status(j), tail(j.logFile)]);
    return t ? `${st}: ${t}` : st;
  }

  ended(j: HpcJob): Promise<string> {
    return j.ended;
  }

  describe(j: HpcJob): string {
    return `job ${j.jobId}`;
  }

  /** At 'exit' (synchronous): cancel the jobs not seen to end. */
  private cancelAtExit(): void {
    const ids = [...this.tracker.jobs.values()].filter((j) => j.endedText === undefined).map((j) => j.jobId);
    if (ids.length === 0 && this.submitting === 0) return;
    const r = this.sched.cancelAtExit(ids, this.jobName, this.s.commandTimeoutSeconds * 1000);
    say(
      r.ok
        ? `riots: the process is exiting mid-run: cancelled the ${this.sched.name} jobs of run ${this.runId} (${r.how})`
        : `riots: the process is exiting mid-run and the ${this.sched.name} jobs of run ${this.runId} could not be cancelled (${r.how}); cancel them with '${r.manual}'`,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tracker.stopPolling();
    await this.tracker.idle();
    const left = [...this.tracker.jobs.values()].some((j) => j.endedText === undefined);
    if (!left && this.submitting === 0) this.keepJobsAtExit?.();
  }
}
