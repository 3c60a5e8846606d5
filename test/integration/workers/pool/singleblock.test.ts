/**
 * singleBlockComputeWorkers: one short-lived worker per block, for CW_SUBPROC (real processes)
 * and CW_AWSBATCH (the real SDK against the local endpoint, whose jobs are local processes).
 * Outputs are compared byte for byte with a sequential run; each worker must do exactly one
 * block; a worker killed in the middle of its block is replaced by a new one; at most
 * singleBlockMaxWorkers are alive at once; nothing is left running.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BatchClient } from '@aws-sdk/client-batch';
import { apply } from '../../../../src/applier/apply.js';
import type { RunDescription } from '../../../../src/workers/backend.js';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { RUN_ID_TAG } from '../../../../src/aws/stack.js';
import type { RunJobs } from '../../../../src/aws/jobs.js';
import { ControlsError, InterruptedError, TimeoutError, WorkerLostError } from '../../../../src/errors.js';
import { AwsBatchLauncher, awsBatchSettings } from '../../../../src/workers/kinds/awsbatch.js';
import { ConcurrencyStyle } from '../../../../src/concurrency.js';
import { ChannelWorkerBackend } from '../../../../src/workers/pool/channelbackend.js';
import { channelBackendSettings, singleBlockMaxWorkers } from '../../../../src/workers/pool/settings.js';
import type { WorkerEvent } from '../../../../src/workers/pool/events.js';
import { SubprocLauncher } from '../../../../src/workers/kinds/subproc.js';
import { activeJobs, describeJobs, jobIdsOf, useEndpointEnv } from '../../../helpers/awsbatch.js';
import { createBatchStack } from '../../../helpers/localaws.js';
import { channelFixture, type ChannelFixture, EventLog, withEventLog } from '../../../helpers/subproc.js';

const BLOCKS = 9; // 3 x 3 blocks of 64, the last row and column ragged
const CPUS = os.availableParallelism();
let dir: string;
let inputs: { a: string; b: string };
let combine: Parameters<typeof apply>[0];
let seqBytes: Buffer;

let fx: ChannelFixture;

before(async () => {
  fx = await channelFixture('riots-single-test-', 170, 150, { count: 0 });
  ({ dir, inputs, combine, seqBytes } = fx);
});

after(() => fx.close());

function singleControls(
  kind: 'CW_SUBPROC' | 'CW_AWSBATCH',
  extra: Record<string, unknown> = {},
  concurrency: Record<string, unknown> = {},
): Record<string, unknown> {
  const base =
    kind === 'CW_SUBPROC'
      ? { heartbeatSeconds: 0.2, workerLostSeconds: 1.5 }
      : { channelAddress: '127.0.0.1', heartbeatSeconds: 0.5, workerLostSeconds: 4, pollSeconds: 0.3 };
  return {
    windowXSize: 64,
    windowYSize: 64,
    concurrency: {
      computeWorkerKind: kind,
      singleBlockComputeWorkers: true,
      computeWorkersRead: false,
      computeBarrierTimeout: 60,
      ...concurrency,
      computeWorkerExtraParams: { ...base, ...extra },
    },
  };
}

/** Most workers alive at once, as the events tell: from 'launched' to its final report, loss or end. */
function aliveAtOnce(log: EventLog): () => number {
  const alive = new Set<number>();
  let most = 0;
  log.on((e: WorkerEvent) => {
    if (e.event === 'launched') {
      alive.add(e.workerId);
      most = Math.max(most, alive.size);
    } else if (e.event === 'finished' || e.event === 'lost' || e.event === 'ended') alive.delete(e.workerId);
  });
  return () => most;
}

/** Each worker's kept results (block indexes), by worker id. */
function blocksByWorker(log: EventLog): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const r of log.of('result')) m.set(r.workerId, [...(m.get(r.workerId) ?? []), r.blockIndex]);
  return m;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => assert.fail('the run should fail'),
    (e: unknown) => e as Error,
  );
}

describe('settings', () => {
  test('CW_SUBPROC: one process per CPU by default, never more; CW_AWSBATCH: MaxVCPUS / VCPUS by default, any number asked', () => {
    const sub = new SubprocLauncher();
    assert.equal(singleBlockMaxWorkers(channelBackendSettings({}), sub), CPUS);
    assert.equal(singleBlockMaxWorkers(channelBackendSettings({ singleBlockMaxWorkers: 1 }), sub), 1);
    assert.throws(
      () => singleBlockMaxWorkers(channelBackendSettings({ singleBlockMaxWorkers: CPUS + 1 }), sub),
      (e: Error) =>
        e instanceof ControlsError && new RegExp(`singleBlockMaxWorkers ${CPUS + 1} is more than CW_SUBPROC runs at once: ${CPUS} \\(the CPUs`).test(e.message),
    );
    assert.throws(() => channelBackendSettings({ singleBlockMaxWorkers: 0 }), /singleBlockMaxWorkers must be a positive whole number \(got 0\)/);
    const batch = new AwsBatchLauncher({
      runId: 'r',
      jobs: {} as RunJobs,
      settings: awsBatchSettings({}),
      advertiseHost: '127.0.0.1',
      destroyClient: () => undefined,
      stack: { stackName: 'RIOS', region: undefined },
      maxWorkers: 128,
    });
    assert.equal(singleBlockMaxWorkers(channelBackendSettings({}), batch), 128);
    assert.equal(singleBlockMaxWorkers(channelBackendSettings({ singleBlockMaxWorkers: 500 }), batch), 500);
    assert.throws(
      () => singleBlockMaxWorkers(channelBackendSettings({}), { kind: 'CW_PBS' }),
      /CW_PBS with singleBlockComputeWorkers needs computeWorkerExtraParams.singleBlockMaxWorkers/,
    );
  });

  test('capacity (blocks between read and write) depends on the workers at once, not on the number of blocks', () => {
    const capacity = (total: number): number => {
      const run = {
        concurrency: new ConcurrencyStyle({
          computeWorkerKind: 'CW_SUBPROC',
          singleBlockComputeWorkers: true,
          computeWorkerExtraParams: { singleBlockMaxWorkers: 1 },
        }),
        layout: Promise.resolve({ plan: { total } }),
        signal: new AbortController().signal,
      };
      return new ChannelWorkerBackend(run as unknown as RunDescription, new SubprocLauncher()).capacity;
    };
    assert.equal(capacity(9), 4);
    assert.equal(capacity(1_000_000), 4);
  });
});

describe('CW_SUBPROC with singleBlockComputeWorkers', () => {
  test('one worker per block: identical output, each did exactly one block and exited 0, at most one per CPU at once, one bundle', async () => {
    await withEventLog(
      async (log) => {
        const most = aliveAtOnce(log);
        const out = path.join(dir, 'single.tif');
        const otherArgs = { count: 0 };
        const r = await apply(combine, inputs, { out }, { controls: singleControls('CW_SUBPROC'), otherArgs });
        assert.deepEqual(readFileSync(out), seqBytes);
        assert.equal(otherArgs.count, 0, "the caller's otherArgs is untouched");
        assert.equal(log.of('launched').length, BLOCKS, 'one worker per block');
        assert.equal(log.of('bundled').length, 1, 'the bundle is made once');
        const byWorker = blocksByWorker(log);
        assert.equal(byWorker.size, BLOCKS);
        for (const [w, b] of byWorker) assert.equal(b.length, 1, `worker ${w} did ${b.join(', ')}`);
        assert.deepEqual(
          [...byWorker.values()].flat().sort((a, b) => a - b),
          [...Array(BLOCKS).keys()],
        );
        for (const w of byWorker.keys()) assert.equal(log.of('dispatched').filter((d) => d.workerId === w).length, 1, `worker ${w} was handed one block`);
        assert.deepEqual(
          (r.otherArgsList as { count: number }[]).map((o) => o.count),
          Array(BLOCKS).fill(1),
          'one otherArgs per worker, each after one block',
        );
        assert.equal(r.workerTimings.size, BLOCKS);
        for (const [w, t] of r.workerTimings) assert.equal(t.toJSON().userfunction?.count, 1, `worker ${w} timed one block`);
        assert.equal(log.of('finished').length, BLOCKS);
        const ended = log.of('ended');
        assert.equal(ended.length, BLOCKS);
        for (const e of ended) assert.match(e.status, /^exited with code 0/, `worker ${e.workerId}`);
        assert.ok(most() <= CPUS, `${most()} workers at once, CPUs ${CPUS}`);
      },
      { workersStarted: true },
    );
  });

  test('singleBlockMaxWorkers 1: one worker at a time, workers reading their own inputs', async () => {
    await withEventLog(
      async (log) => {
        const most = aliveAtOnce(log);
        const out = path.join(dir, 'one.tif');
        await apply(combine, inputs, { out }, { controls: singleControls('CW_SUBPROC', { singleBlockMaxWorkers: 1 }, { computeWorkersRead: true }) });
        assert.deepEqual(readFileSync(out), seqBytes);
        assert.equal(most(), 1);
        assert.equal(log.of('launched').length, BLOCKS);
      },
      { workersStarted: true },
    );
  });

  test('a worker SIGKILLed in the middle of its block: a new worker re-runs it, identical output, nothing left', async () => {
    await withEventLog(
      async (log) => {
        const markers = path.join(dir, 'markers-subproc');
        mkdirSync(markers);
        const out = path.join(dir, 'killed.tif');
        const r = await apply(
          combine,
          inputs,
          { out },
          { controls: singleControls('CW_SUBPROC'), otherArgs: { count: 0, killOnceOnBlock: 4, markerDir: markers } },
        );
        assert.deepEqual(readFileSync(out), seqBytes);
        const victim = log.of('dispatched').find((d) => d.blockIndex === 4 && d.attempt === 0)!.workerId;
        assert.equal(
          Number(readFileSync(path.join(markers, 'killed-block-4'), 'utf8')),
          log.of('connected').find((c) => c.workerId === victim)!.pid,
          'the worker that held block 4 killed itself',
        );
        const lost = log.of('lost');
        assert.deepEqual(
          lost.map((l) => [l.workerId, l.requeued]),
          [[victim, [4]]],
        );
        assert.equal(log.of('launched').length, BLOCKS + 1, 'one more worker than blocks');
        const again = log.of('result').filter((x) => x.blockIndex === 4);
        assert.equal(again.length, 1);
        assert.notEqual(again[0]!.workerId, victim);
        assert.equal(again[0]!.attempt, 1);
        const byWorker = blocksByWorker(log);
        assert.equal(byWorker.has(victim), false);
        for (const [w, b] of byWorker) assert.equal(b.length, 1, `worker ${w} did ${b.join(', ')}`);
        assert.equal(r.otherArgsList.length, BLOCKS, 'the lost worker has no final otherArgs');
      },
      { workersStarted: true },
    );
  });

  test('a block that kills every worker it gets: the third death fails the run naming it', async () => {
    await withEventLog(
      async (log) => {
        const out = path.join(dir, 'die.tif');
        const err = await failure(apply(combine, inputs, { out }, { controls: singleControls('CW_SUBPROC'), otherArgs: { dieOnBlock: 7 } }));
        assert.ok(err instanceof WorkerLostError, String(err));
        assert.equal(err.block?.index, 7);
        assert.match(err.message, /block 7 \(x 64\.\.127, y 128\.\.149\) killed its worker 3 times/);
        assert.equal(
          new Set(
            log
              .of('dispatched')
              .filter((d) => d.blockIndex === 7)
              .map((d) => d.workerId),
          ).size,
          3,
          'three different workers',
        );
        assert.equal(existsSync(out), false);
      },
      { workersStarted: true },
    );
  });

  test('workers that cannot start are not launched for ever: after maxBlockDeaths in a row, a clear error', async () => {
    const preload = path.join(dir, 'nostart.cjs');
    writeFileSync(preload, "if (process.argv.includes('computeworker')) process.exit(9);\n");
    const saved = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `${saved ?? ''} --require ${preload}`;
    try {
      await withEventLog(
        async (log) => {
          const err = await failure(apply(combine, inputs, { out: path.join(dir, 'nostart.tif') }, { controls: singleControls('CW_SUBPROC') }));
          assert.ok(err instanceof WorkerLostError, String(err));
          assert.match(
            err.message,
            /every CW_SUBPROC compute worker is gone, with \d+ block\(s\) not done: 3 single-block workers in a row failed before they were ready/,
          );
          assert.match(err.message, /exited with code 9/);
          const launched = log.of('launched').length;
          assert.ok(launched >= 3 && launched <= 2 + CPUS, `${launched} workers launched`);
        },
        { workersStarted: true },
      );
    } finally {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
    }
  });

  test('no worker ready within computeBarrierTimeout: a TimeoutError, every launched worker stopped', async () => {
    await withEventLog(
      async (log) => {
        log.on((e) => {
          if (e.event === 'launched') process.kill(Number(/pid (\d+)/.exec(e.handle)![1]), 'SIGSTOP');
        });
        const out = path.join(dir, 'barrier.tif');
        const err = await failure(apply(combine, inputs, { out }, { controls: singleControls('CW_SUBPROC', {}, { computeBarrierTimeout: 1.5 }) }));
        assert.ok(err instanceof TimeoutError, String(err));
        assert.match(err.message, /computeBarrierTimeout/);
        assert.equal(log.of('launched').length, Math.min(CPUS, BLOCKS), 'only the first wave was launched');
        assert.equal(existsSync(out), false);
      },
      { workersStarted: true },
    );
  });

  test('an interrupt mid-run stops every worker and removes the temporary output', async () => {
    await withEventLog(
      async (log) => {
        const ac = new AbortController();
        log.on((e) => {
          if (e.event === 'result' && log.of('result').length === 3) ac.abort(new InterruptedError('interrupted by the test'));
        });
        const err = await failure(
          apply(
            combine,
            inputs,
            { out: path.join(dir, 'abort.tif') },
            { controls: singleControls('CW_SUBPROC'), otherArgs: { busyMs: 50 }, signal: ac.signal },
          ),
        );
        assert.ok(err instanceof InterruptedError, String(err));
        assert.deepEqual(
          readdirSync(dir).filter((n) => n.startsWith('abort')),
          [],
        );
      },
      { workersStarted: true },
    );
  });
});

describe('CW_AWSBATCH with singleBlockComputeWorkers on the local endpoint', () => {
  const QUEUE = 'riosJobQueueWorker';
  let aws: LocalAws;
  let restoreEnv: () => void;
  let batch: BatchClient;
  before(async () => {
    aws = await startLocalAws({ startDelaySeconds: 0.3, stackDelaySeconds: 0.1, killGraceSeconds: 1 });
    restoreEnv = useEndpointEnv(aws);
    batch = new BatchClient({});
    await createBatchStack(aws);
  });
  after(async () => {
    batch?.destroy();
    await aws?.close();
    restoreEnv?.();
  });

  async function assertNoActiveJobs(): Promise<void> {
    assert.deepEqual(await activeJobs(batch, QUEUE), [], 'no job is active on the worker queue (ListJobs)');
  }

  test('one job per block: identical output, each job did one block and SUCCEEDED, at most singleBlockMaxWorkers at once', async () => {
    const log = new EventLog();
    const most = aliveAtOnce(log);
    const out = path.join(dir, 'batch-single.tif');
    try {
      const r = await apply(combine, inputs, { out }, { controls: singleControls('CW_AWSBATCH', { singleBlockMaxWorkers: 3 }), otherArgs: { count: 0 } });
      assert.deepEqual(readFileSync(out), seqBytes);
      const ids = jobIdsOf(log.of('launched').map((e) => e.handle));
      assert.equal(ids.length, BLOCKS, 'one job per block');
      const byWorker = blocksByWorker(log);
      assert.equal(byWorker.size, BLOCKS);
      for (const [w, b] of byWorker) assert.equal(b.length, 1, `worker ${w} did ${b.join(', ')}`);
      assert.deepEqual(
        (r.otherArgsList as { count: number }[]).map((o) => o.count),
        Array(BLOCKS).fill(1),
      );
      assert.ok(most() <= 3, `${most()} jobs alive at once`);
      const jobs = await describeJobs(batch, ids);
      assert.equal(new Set(jobs.map((j) => j.tags?.[RUN_ID_TAG])).size, 1, 'every job tagged with the one run id');
      for (const j of jobs) assert.equal(j.status, 'SUCCEEDED', `${j.jobId}: ${j.status} ${j.statusReason ?? ''}`);
      await assertNoActiveJobs();
    } finally {
      log.close();
    }
  });

  test('a job SIGKILLed in the middle of its block: a new job re-runs it, identical output, no job left active', async () => {
    const log = new EventLog();
    const markers = path.join(dir, 'markers-batch');
    mkdirSync(markers);
    const out = path.join(dir, 'batch-killed.tif');
    try {
      await apply(
        combine,
        inputs,
        { out },
        { controls: singleControls('CW_AWSBATCH', { singleBlockMaxWorkers: 3 }), otherArgs: { killOnceOnBlock: 2, markerDir: markers } },
      );
      assert.deepEqual(readFileSync(out), seqBytes);
      const victim = log.of('dispatched').find((d) => d.blockIndex === 2 && d.attempt === 0)!.workerId;
      assert.deepEqual(
        log.of('lost').map((l) => [l.workerId, l.requeued]),
        [[victim, [2]]],
      );
      const again = log.of('result').filter((x) => x.blockIndex === 2);
      assert.equal(again.length, 1);
      assert.notEqual(again[0]!.workerId, victim);
      for (const [w, b] of blocksByWorker(log)) assert.equal(b.length, 1, `worker ${w} did ${b.join(', ')}`);
      const launched = log.of('launched');
      assert.equal(launched.length, BLOCKS + 1);
      const victimJob = jobIdsOf([launched.find((l) => l.workerId === victim)!.handle])[0]!;
      const [job] = await describeJobs(batch, [victimJob]);
      assert.equal(job!.status, 'FAILED');
      assert.equal(job!.container?.exitCode, 137);
      await assertNoActiveJobs();
    } finally {
      log.close();
    }
  });
});
