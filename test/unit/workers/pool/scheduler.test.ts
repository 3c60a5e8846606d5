/**
 * BlockScheduler (pure bookkeeping): credit, block order, re-queueing on loss, stale results,
 * the deaths rule; plus a fast-check property over random event sequences.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { WorkerLostError, type BlockCoords } from '../../../../src/errors.js';
import { BlockScheduler } from '../../../../src/workers/pool/scheduler.js';

const coords = (index: number): BlockCoords => ({ index, xoff: index * 10, yoff: 0, xsize: 10, ysize: 10 });

function track<R>(p: Promise<R>): { state: 'pending' | 'resolved' | 'rejected'; value?: R; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; value?: R; error?: unknown } = { state: 'pending' };
  p.then(
    (v) => Object.assign(t, { state: 'resolved', value: v }),
    (e: unknown) => Object.assign(t, { state: 'rejected', error: e }),
  );
  return t;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('BlockScheduler', () => {
  test('hands blocks in order to the least loaded worker, within credit', () => {
    const s = new BlockScheduler<null, number>({ credit: 2, maxDeaths: 3 });
    for (let i = 0; i < 6; i++) void s.submit(coords(i), null);
    s.addWorker(0);
    s.addWorker(1);
    const a = s.assign();
    assert.deepEqual(
      a.get(0)!.map((t) => t.job.coords.index),
      [0, 2],
    );
    assert.deepEqual(
      a.get(1)!.map((t) => t.job.coords.index),
      [1, 3],
    );
    assert.equal(s.queued, 2);
    assert.equal(s.assign().size, 0, 'no credit left');
  });

  test('a lost worker: its running block is charged, the others re-queued in block order; late results discarded', async () => {
    const s = new BlockScheduler<null, string>({ credit: 2, maxDeaths: 3 });
    const p = [0, 1, 2, 3].map((i) => track(s.submit(coords(i), null)));
    s.addWorker(0);
    s.addWorker(1);
    const first = s.assign();
    const [t0, t2] = first.get(0)!;
    const out = s.workerLost(0, 'died');
    assert.equal(out.fatal, undefined);
    assert.deepEqual(
      out.revoked.map((t) => t.job.coords.index),
      [0, 2],
    );
    assert.deepEqual(t0!.job.killed, [0], 'the running block is charged');
    assert.deepEqual(t2!.job.killed, [], 'the queued one is not');
    s.addWorker(2);
    const again = s.assign();
    assert.deepEqual(
      again.get(2)!.map((t) => [t.job.coords.index, t.attempt]),
      [
        [0, 1],
        [2, 1],
      ],
    );
    assert.equal(s.take(0, t0!.taskId, 0, 0), undefined, 'a late result of the lost worker is discarded');
    assert.equal(s.discarded, 1);
    const t = s.take(2, again.get(2)![0]!.taskId, 1, 0)!;
    s.resolve(t, 'zero');
    await tick();
    assert.deepEqual(p[0], { state: 'resolved', value: 'zero' });
    assert.equal(s.take(2, again.get(2)![0]!.taskId, 1, 0), undefined, 'a second result for the same task is discarded');
  });

  test('tasksPerLifetime 1 (single-block workers): each worker is handed one block in its life; a lost one needs a new worker', async () => {
    const s = new BlockScheduler<null, string>({ credit: 1, maxDeaths: 3, tasksPerLifetime: 1 });
    const p = [0, 1, 2].map((i) => track(s.submit(coords(i), null)));
    s.addWorker(0);
    s.addWorker(1);
    const a = s.assign();
    assert.deepEqual(
      [...a].map(([w, ts]) => [w, ts.map((t) => t.job.coords.index)]),
      [
        [0, [0]],
        [1, [1]],
      ],
    );
    const t0 = s.take(0, a.get(0)![0]!.taskId, 0, 0)!;
    s.resolve(t0, 'zero');
    s.removeWorker(0);
    assert.equal(s.assign().size, 0, 'worker 0 is done for good, worker 1 still holds its one block');
    const out = s.workerLost(1, 'killed');
    assert.deepEqual(
      out.revoked.map((t) => t.job.coords.index),
      [1],
    );
    s.removeWorker(1);
    assert.equal(s.assign().size, 0, 'no worker left to take block 1 again');
    s.addWorker(2);
    assert.deepEqual(
      [...s.assign()].map(([w, ts]) => [w, ts.map((t) => [t.job.coords.index, t.attempt])]),
      [[2, [[1, 1]]]],
      'the new worker takes the re-queued block first',
    );
    assert.equal(s.assign().size, 0, 'and nothing more');
    s.addWorker(3);
    assert.deepEqual(
      [...s.assign()].map(([w, ts]) => [w, ts.map((t) => t.job.coords.index)]),
      [[3, [2]]],
    );
    await tick();
    assert.deepEqual(p[0], { state: 'resolved', value: 'zero' });
    assert.equal(s.pending, 2);
  });

  test('a block that kills maxDeaths workers fails every pending block with WorkerLostError naming it', async () => {
    const s = new BlockScheduler<null, string>({ credit: 1, maxDeaths: 3 });
    const p = [0, 1].map((i) => track(s.submit(coords(i), null)));
    for (let w = 0; w < 3; w++) {
      s.addWorker(w);
      s.assign();
      const out = s.workerLost(w, `exit ${w}`);
      if (w < 2) assert.equal(out.fatal, undefined);
      else {
        assert.ok(out.fatal instanceof WorkerLostError);
        assert.equal(out.fatal.block?.index, 0);
        assert.match(out.fatal.message, /block 0 .* killed its worker 3 times \(workers 0, 1, 2\); the last one: exit 2/);
      }
    }
    await tick();
    assert.equal(p[0]!.state, 'rejected');
    assert.equal(p[1]!.state, 'rejected');
    assert.ok(p[1]!.error instanceof WorkerLostError);
    await assert.rejects(s.submit(coords(5), null), WorkerLostError);
  });

  test('property: every block settles once, credit is never exceeded, attempts grow, kept results are current', async () => {
    type Ev = { kind: 'add' } | { kind: 'assign' } | { kind: 'result'; pick: number } | { kind: 'lose'; pick: number };
    const ev: fc.Arbitrary<Ev> = fc.oneof(
      fc.constant<Ev>({ kind: 'add' }),
      fc.constant<Ev>({ kind: 'assign' }),
      fc.nat(50).map<Ev>((pick) => ({ kind: 'result', pick })),
      fc.nat(50).map<Ev>((pick) => ({ kind: 'lose', pick })),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 3 }), fc.array(ev, { maxLength: 80 }), async (nBlocks, credit, events) => {
        const s = new BlockScheduler<null, number>({ credit, maxDeaths: 3 });
        const settled = new Map<number, number>();
        const promises = Array.from({ length: nBlocks }, (_, i) =>
          s.submit(coords(i), null).then(
            (v) => settled.set(i, (settled.get(i) ?? 0) + 1 + v * 0),
            () => settled.set(i, (settled.get(i) ?? 0) + 1),
          ),
        );
        const workers: number[] = [];
        const lost = new Set<number>();
        const lastAttempt = new Map<number, number>();
        const drive = (e: Ev): void => {
          if (e.kind === 'add') {
            const id = workers.length;
            workers.push(id);
            s.addWorker(id);
          } else if (e.kind === 'assign') {
            for (const [w, tasks] of s.assign()) {
              assert.ok(!lost.has(w), 'no task for a lost worker');
              for (const t of tasks) {
                assert.ok(t.attempt > (lastAttempt.get(t.job.coords.index) ?? -1), 'attempts grow');
                lastAttempt.set(t.job.coords.index, t.attempt);
              }
            }
            for (const w of workers) assert.ok(s.inFlight(w).length <= credit, 'credit respected');
          } else if (e.kind === 'result') {
            const live = workers.filter((w) => s.inFlight(w).length > 0);
            if (live.length === 0) return;
            const w = live[e.pick % live.length]!;
            const t = s.inFlight(w)[0]!;
            const got = s.take(w, t.taskId, t.attempt, t.job.coords.index);
            assert.ok(got, 'a current result is taken');
            s.resolve(got, t.job.coords.index);
          } else {
            const alive = workers.filter((w) => !lost.has(w));
            if (alive.length === 0) return;
            const w = alive[e.pick % alive.length]!;
            lost.add(w);
            s.workerLost(w, 'test');
          }
        };
        for (const e of events) drive(e);
        // finish: a fresh worker does everything left, unless the run failed
        if (s.failure === undefined) {
          // every live worker delivers what it holds, again and again, until nothing is left
          s.addWorker(999);
          for (let round = 0; s.pending > 0; round++) {
            assert.ok(round < 10 * nBlocks + 10, 'the queue drains');
            for (const w of [...workers, 999]) {
              for (const t of [...s.inFlight(w)]) s.resolve(s.take(w, t.taskId, t.attempt, t.job.coords.index)!, 0);
            }
            s.assign();
          }
        }
        await Promise.all(promises);
        for (let i = 0; i < nBlocks; i++) assert.equal(settled.get(i), 1, `block ${i} settled exactly once`);
      }),
      { numRuns: Number(process.env.SCHED_RUNS ?? 300) },
    );
  });
});
