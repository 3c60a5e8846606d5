/**
 * The last resort of the AWS kinds (CW_AWSBATCH, CW_ECS): a process that exits in the middle of a
 * run (an uncaught exception elsewhere, process.exit(), a write to a closed pipe) cannot make AWS
 * calls any more, and its jobs or tasks still waiting for capacity would start later, find no
 * main and wait out their connection timeout, billed. So at 'exit' the launcher runs
 * `riots batch cleanup --run-id ID` with the ids it knows, and waits for it a bounded time.
 */
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { writeSync } from 'node:fs';
import { riotsNodeArgs } from './subproc.js';

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
      say(`riots: the process is exiting while ${o.what} may still be active: 'riots batch cleanup' is stopping them in the background (pid ${child.pid ?? '?'}); ${check}`);
    } catch (err) {
      say(`riots: the process is exiting while ${o.what} may still be active, and 'riots batch cleanup' could not be started (${(err as Error).message}); run 'riots batch cleanup --run-id ${o.runId}'`);
    }
    return;
  }
  say(`riots: the process is exiting while ${o.what} may still be active: stopping them with 'riots batch cleanup' (waiting at most ${o.waitSeconds} s)`);
  // `detached` (a session of its own) is honoured by spawnSync though its typings omit it
  const options = { detached: true, stdio: 'ignore', timeout: o.waitSeconds * 1000, killSignal: 'SIGKILL' } as SpawnSyncOptions;
  const r = spawnSync('/bin/sh', ['-c', '"$@" >/dev/null 2>&1 & wait $!', 'sh', process.execPath, ...args], options);
  if (r.status === 0) say(`riots: the jobs and tasks of run ${o.runId} are stopped`);
  else if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') say(`riots: 'riots batch cleanup' could not be started (${r.error.message}); run 'riots batch cleanup --run-id ${o.runId}'`);
  else if (r.status === null) say(`riots: 'riots batch cleanup' is still running in the background after ${o.waitSeconds} s; ${check}`);
  else say(`riots: 'riots batch cleanup' failed (exit code ${r.status}); run 'riots batch cleanup --run-id ${o.runId}'`);
}
