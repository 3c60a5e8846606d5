/**
 * What the AWS kinds (CW_AWSBATCH, CW_ECS) share: a {@link Launcher} over a {@link RunTracker}
 * of the run's jobs or tasks (the kind supplies only how one is started and named), and its last
 * resort. A process that exits in the middle of a run (an uncaught exception elsewhere,
 * process.exit(), a write to a closed pipe) cannot make AWS calls any more, and its jobs or tasks
 * still waiting for capacity would start later, find no main and wait out their connection
 * timeout, billed. So at 'exit' the launcher runs `riots batch cleanup --run-id ID` with the ids
 * it knows, and waits for it a bounded time.
 */
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { writeSync } from 'node:fs';
import type { RunTracker, Tracked } from '../../jobtracker.js';
import { cleanUpAtExit } from '../../exitcleanup.js';
import type { LaunchSpec, Launcher } from '../pool/launcher.js';
import { riotsNodeArgs } from '../pool/workerenv.js';

/** A line on stderr, which may be the closed pipe that ended the process. */
function say(line: string): void {
  try {
    writeSync(2, line + '\n');
  } catch {
    // nothing to tell it to
  }
}

export interface ExitCleanup {
  runId: string;
  stack: { stackName: string; region: string | undefined };
  /** `--job-id ID` / `--task-id ARN` (and `--cluster NAME`) arguments for what may still be active. */
  idArgs: string[];
  /** What may still be active, for the messages. */
  what: string;
  /** How long to wait (0: start it in the background and return). */
  waitSeconds: number;
}

/**
 * Synchronous (it runs at 'exit'). The command runs in a session of its own, behind a shell that
 * only waits for it: if the wait runs out, or this process is killed meanwhile (a second Ctrl-C),
 * only the shell goes and the clean-up carries on. Waiting matters where this process's end is
 * everyone's end: a main running as a container's first process (a Batch main job) takes its
 * children with it.
 */
export function cleanUpRunAtExit(o: ExitCleanup): void {
  const args = [
    ...riotsNodeArgs(),
    ...['batch', 'cleanup', '--run-id', o.runId],
    ...(o.stack.stackName ? ['--stackname', o.stack.stackName] : []),
    ...(o.stack.region ? ['--region', o.stack.region] : []),
    ...o.idArgs,
  ];
  const check = `check with 'riots batch cleanup --run-id ${o.runId} --dry-run'`;
  if (o.waitSeconds === 0) {
    try {
      const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore' });
      child.unref();
      say(
        `riots: the process is exiting while ${o.what} may still be active: 'riots batch cleanup' is stopping them in the background (pid ${child.pid ?? '?'}); ${check}`,
      );
    } catch (err) {
      say(
        `riots: the process is exiting while ${o.what} may still be active, and 'riots batch cleanup' could not be started (${(err as Error).message}); run 'riots batch cleanup --run-id ${o.runId}'`,
      );
    }
    return;
  }
  say(`riots: the process is exiting while ${o.what} may still be active: stopping them with 'riots batch cleanup' (waiting at most ${o.waitSeconds} s)`);
  // `detached` (a session of its own) is honoured by spawnSync though its typings omit it
  const options = { detached: true, stdio: 'ignore', timeout: o.waitSeconds * 1000, killSignal: 'SIGKILL' } as SpawnSyncOptions;
  const r = spawnSync('/bin/sh', ['-c', '"$@" >/dev/null 2>&1 & wait $!', 'sh', process.execPath, ...args], options);
  if (r.status === 0) say(`riots: the jobs and tasks of run ${o.runId} are stopped`);
  else if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT')
    say(`riots: 'riots batch cleanup' could not be started (${r.error.message}); run 'riots batch cleanup --run-id ${o.runId}'`);
  else if (r.status === null) say(`riots: 'riots batch cleanup' is still running in the background after ${o.waitSeconds} s; ${check}`);
  else say(`riots: 'riots batch cleanup' failed (exit code ${r.status}); run 'riots batch cleanup --run-id ${o.runId}'`);
}

/** The waits of an AWS run, in seconds (from computeWorkerExtraParams). */
export interface AwsRunTiming {
  pollSeconds: number;
  jobEndGraceSeconds: number;
  /** After a stop call, how long to wait for the end (terminateWaitSeconds, stopWaitSeconds). */
  stopWaitSeconds: number;
  exitCleanupWaitSeconds: number;
}

/** What a kind calls its jobs, and how `riots batch cleanup` names them. */
export interface AwsRunWords {
  /** "2 AWS Batch job(s) of run R (ids)": what may still be active at exit. */
  active(ids: string[]): string;
  /** "the AWS Batch job being submitted for run R". */
  starting: string;
  /** `riots batch cleanup` arguments that name these ids. */
  cleanupArgs(ids: string[]): string[];
}

/**
 * The launcher of an AWS kind: starts one worker with {@link start}, follows every job or task
 * with the tracker (one describe call for all, every pollSeconds), stops with a grace, and at
 * 'exit' hands what may still be active to `riots batch cleanup`.
 */
export abstract class AwsRunLauncher<D, T extends Tracked<D>, H extends T & { workerId: number }> implements Launcher<H> {
  abstract readonly kind: string;
  readonly bindHost = '0.0.0.0';
  readonly useAddrFile = false;
  /** Start calls under way (their ids are not known yet). */
  private starting = 0;
  private keepAtExit: (() => void) | undefined;

  constructor(
    readonly runId: string,
    readonly tracker: RunTracker<D, T>,
    readonly advertiseHost: string,
    private readonly timing: AwsRunTiming,
    /** Where the jobs are, for the clean-up at exit. */
    private readonly stack: { stackName: string; region: string | undefined },
    private readonly words: AwsRunWords,
    private readonly destroyClient: () => void,
  ) {}

  /** Start one worker's job or task with the worker image's command arguments and environment. */
  protected abstract start(workerId: number, command: string[], env: Record<string, string>): Promise<H>;

  abstract describe(h: H): string;

  async prepare(): Promise<void> {
    this.tracker.startPolling(this.timing.pollSeconds * 1000);
    this.keepAtExit = cleanUpAtExit(() => this.stopAfterExit());
  }

  async launch(spec: LaunchSpec): Promise<H> {
    // the image's ENTRYPOINT is `riots computeworker`: pass only its arguments
    const command = spec.args[0] === 'computeworker' ? spec.args.slice(1) : spec.args;
    this.starting++;
    try {
      return await this.start(spec.workerId, command, spec.env);
    } finally {
      this.starting--;
    }
  }

  /** The ids not seen to end, and whether a start is under way. */
  private unended(): { ids: string[]; starting: boolean } {
    return { ids: [...this.tracker.jobs.values()].filter((j) => j.endedText === undefined).map((j) => j.id), starting: this.starting > 0 };
  }

  /** Whether the run holds AWS resources of its own (a cluster, instances, a task definition) that clean-up must remove. */
  protected holdsResources(): boolean {
    return false;
  }

  /** At 'exit': stop what may still be active, with `riots batch cleanup`. */
  private stopAfterExit(): void {
    const { ids, starting } = this.unended();
    if (ids.length === 0 && !starting && !this.holdsResources()) return;
    cleanUpRunAtExit({
      runId: this.runId,
      stack: this.stack,
      idArgs: this.words.cleanupArgs(ids),
      what: ids.length > 0 ? this.words.active(ids) : starting ? this.words.starting : `the AWS resources made for run ${this.runId}`,
      waitSeconds: this.timing.exitCleanupWaitSeconds,
    });
  }

  cancel(h: H): Promise<void> {
    return this.tracker.stop(
      h,
      `riots run ${this.runId} stopped worker ${h.workerId}`,
      this.timing.jobEndGraceSeconds * 1000,
      this.timing.stopWaitSeconds * 1000,
    );
  }

  status(h: H): Promise<string> {
    return this.tracker.status(h);
  }

  ended(h: H): Promise<string> {
    return h.ended;
  }

  async close(): Promise<void> {
    this.tracker.stopPolling();
    this.destroyClient();
    // every one was stopped: nothing to do at exit (one whose stop call failed stays listed)
    const { ids, starting } = this.unended();
    if (ids.length === 0 && !starting && !this.holdsResources()) this.keepAtExit?.();
  }
}
