/**
 * The runs the CW_SLURM and CW_PBS tests share, with the checks that do not depend on the
 * scheduler: output bytes against the sequential run, blocks counted once, who read, the key in
 * no worker's argv, a lost job's blocks re-run, a user-function error. Each test file checks the
 * scheduler's side (job states, scripts) through `ended`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { apply } from '../../src/applier/apply.js';
import { UserFunctionError } from '../../src/errors.js';
import { EventLog, riotsTempEntries, type ChannelFixture } from './subproc.js';
import { workerPids } from './slurm.js';

export const BLOCKS = 25; // 300 x 260 in blocks of 64

/** The job ids of a run's 'launched' events. */
export const jobIds = (log: EventLog): string[] => log.of('launched').map((e) => e.handle.replace(/^job /, ''));

/** Run `body` with a log of worker events and the riots temp folders that existed before. */
export async function withLog(body: (log: EventLog, tempBefore: string[]) => Promise<void>): Promise<void> {
  const tempBefore = riotsTempEntries();
  const log = new EventLog();
  try {
    await body(log, tempBefore);
  } finally {
    log.close();
  }
}

/** After a run: no worker process and no new riots temporary folder is left. */
export function assertNothingLeft(tempBefore: string[]): void {
  assert.deepEqual(workerPids(), [], 'no worker process is left');
  assert.deepEqual(
    riotsTempEntries().filter((e) => !tempBefore.includes(e)),
    [],
    'no riots temporary folder is left',
  );
}

/**
 * A run with `controls` (2 workers): output identical to the sequential run, every block counted
 * once, the workers read iff `read`, and no key in a worker's argv. `ended(log)` checks the jobs.
 * @returns the job ids.
 */
export async function equivalentRun(
  fx: ChannelFixture,
  name: string,
  controls: Record<string, unknown>,
  read: boolean,
  ended: (log: EventLog, tempBefore: string[]) => string[],
): Promise<string[]> {
  let ids: string[] = [];
  await withLog(async (log, tempBefore) => {
    const seen: string[] = [];
    log.on((e) => {
      // while the workers run: their command lines
      if (e.event === 'connected') {
        for (const pid of workerPids()) seen.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
      }
    });
    const out = path.join(fx.dir, `${name}.tif`);
    const otherArgs = { count: 0 };
    const r = await apply(fx.combine, fx.inputs, { out }, { controls, otherArgs });
    assert.deepEqual(readFileSync(out), fx.seqBytes);
    assert.equal(otherArgs.count, 0);
    const counts = (r.otherArgsList as { count: number }[]).map((o) => o.count);
    assert.equal(
      counts.reduce((s, c) => s + c, 0),
      BLOCKS,
      `every block counted once: ${counts.join(', ')}`,
    );
    const workersRead = [...r.workerTimings.values()].reduce((s, t) => s + (t.toJSON().reading?.count ?? 0), 0);
    assert.equal(workersRead, read ? BLOCKS : 0);
    ids = ended(log, tempBefore);
    assert.equal(ids.length, 2);
    assert.ok(seen.length > 0 && seen.every((c) => c.includes('computeworker')), 'worker command lines seen');
    for (const c of seen) assert.doesNotMatch(c, /[0-9a-f]{64}/i, 'no key in a worker argv');
  });
  return ids;
}

/**
 * A run with `controls` (3 workers) in which `kill(jobId)` stops the job of the busiest worker
 * after 8 results: one worker lost, its blocks re-run, the output identical.
 * @returns the killed job's id.
 */
export async function lostJobRun(
  fx: ChannelFixture,
  name: string,
  controls: Record<string, unknown>,
  kill: (jobId: string) => void,
  ended: (log: EventLog, tempBefore: string[]) => string[],
): Promise<string> {
  let killed: string | undefined;
  await withLog(async (log, tempBefore) => {
    log.on((e) => {
      if (e.event === 'result' && log.of('result').length === 8 && killed === undefined) {
        const busy = log.of('dispatched').at(-1)!.workerId;
        killed = log
          .of('launched')
          .find((l) => l.workerId === busy)!
          .handle.replace(/^job /, '');
        kill(killed);
      }
    });
    const out = path.join(fx.dir, `${name}.tif`);
    await apply(fx.combine, fx.inputs, { out }, { controls, otherArgs: { busyMs: 60 } });
    assert.deepEqual(readFileSync(out), fx.seqBytes);
    assert.ok(killed, 'a job was stopped');
    assert.equal(log.of('lost').length, 1, 'one worker lost');
    assert.ok(log.of('lost')[0]!.requeued.length >= 1, 'its blocks went back to the queue');
    ended(log, tempBefore);
  });
  return killed!;
}

/** A run whose user function throws on block 7: UserFunctionError naming it and the worker, no output, every job ended. */
export async function userErrorRun(
  fx: ChannelFixture,
  name: string,
  controls: Record<string, unknown>,
  ended: (log: EventLog, tempBefore: string[]) => string[],
): Promise<void> {
  await withLog(async (log, tempBefore) => {
    const out = path.join(fx.dir, `${name}.tif`);
    const err = await apply(fx.combine, fx.inputs, { out }, { controls, otherArgs: { throwOnBlock: 7 } }).then(
      () => assert.fail('the run should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof UserFunctionError, String(err));
    assert.match(err.message, /user function refuses block 7/);
    assert.match(err.message, /worker \d/);
    assert.equal(existsSync(out), false, 'no output left looking complete');
    ended(log, tempBefore);
  });
}
