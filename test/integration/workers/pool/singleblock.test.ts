/**
 * singleBlockComputeWorkers: one short-lived worker per block, for CW_SUBPROC (real processes)
 * and CW_ECS (the real SDK against the local endpoint, whose tasks are local processes).
 * CW_AWSBATCH refuses it, as RIOS does (test/unit/concurrency.test.ts).
 * Outputs are compared byte for byte with a sequential run; each worker must do exactly one
 * block; a worker killed in the middle of its block is replaced by a new one; at most
 * singleBlockMaxWorkers are alive at once; nothing is left running.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DescribeTasksCommand, ECSClient, ListTasksCommand, type Task } from '@aws-sdk/client-ecs';
import { apply } from '../../../../src/applier/apply.js';
import type { RunDescription } from '../../../../src/workers/backend.js';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { RUN_ID_TAG } from '../../../../src/aws/stack.js';
import type { RunTasks } from '../../../../src/aws/tasks.js';
import { ControlsError, InterruptedError, TimeoutError, WorkerLostError } from '../../../../src/errors.js';
import { EcsLauncher, ecsSettings } from '../../../../src/workers/kinds/ecs.js';
import { ConcurrencyStyle } from '../../../../src/concurrency.js';
import { ChannelWorkerBackend } from '../../../../src/workers/pool/channelbackend.js';
import { channelBackendSettings, singleBlockMaxWorkers } from '../../../../src/workers/pool/settings.js';
import type { WorkerEvent } from '../../../../src/workers/pool/events.js';
import { SubprocLauncher } from '../../../../src/workers/kinds/subproc.js';
import { useEndpointEnv } from '../../../helpers/awsbatch.js';
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
  kind: 'CW_SUBPROC' | 'CW_ECS',
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
  test('CW_SUBPROC: one process per CPU by default, never more; CW_ECS: 32 by default, any number asked', () => {
    const sub = new SubprocLauncher();
    assert.equal(singleBlockMaxWorkers(channelBackendSettings({}), sub), CPUS);
    assert.equal(singleBlockMaxWorkers(channelBackendSettings({ singleBlockMaxWorkers: 1 }), sub), 1);
    assert.throws(
      () => singleBlockMaxWorkers(channelBackendSettings({ singleBlockMaxWorkers: CPUS + 1 }), sub),
      (e: Error) =>
        e instanceof ControlsError && new RegExp(`singleBlockMaxWorkers ${CPUS + 1} is more than CW_SUBPROC runs at once: ${CPUS} \\(the CPUs`).test(e.message),
    );
    assert.throws(() => channelBackendSettings({ singleBlockMaxWorkers: 0 }), /singleBlockMaxWorkers must be a positive whole number \(got 0\)/);
    const ecs = new EcsLauncher('r', {} as RunTasks, ecsSettings({}), '127.0.0.1', { stackName: 'RIOS', region: undefined }, () => undefined);
    assert.equal(singleBlockMaxWorkers(channelBackendSettings({}), ecs), 32);
    assert.equal(singleBlockMaxWorkers(channelBackendSettings({ singleBlockMaxWorkers: 500 }), ecs), 500);
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

describe('CW_ECS with singleBlockComputeWorkers on the local endpoint', () => {
  const CLUSTER = 'riosEcsCluster';
  let aws: LocalAws;
  let restoreEnv: () => void;
  let ecs: ECSClient;
  before(async () => {
    aws = await startLocalAws({ startDelaySeconds: 0.3, stackDelaySeconds: 0.1, killGraceSeconds: 1 });
    restoreEnv = useEndpointEnv(aws);
    ecs = new ECSClient({});
    await createBatchStack(aws);
  });
  after(async () => {
    ecs?.destroy();
    await aws?.close();
    restoreEnv?.();
  });

  /** The run's tasks, from its 'launched' events ("task <id>"), through DescribeTasks. */
  async function tasksOf(handles: string[]): Promise<Task[]> {
    const ids = handles.map((h) => /^task ([0-9a-f]+)$/.exec(h)![1]!);
    return (await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: ids, include: ['TAGS'] }))).tasks ?? [];
  }
  async function assertNothingRunning(): Promise<void> {
    assert.deepEqual((await ecs.send(new ListTasksCommand({ cluster: CLUSTER, desiredStatus: 'RUNNING' }))).taskArns ?? [], [], 'no task is left running');
  }

  test('one task per block: identical output, each task did one block and exited 0, at most singleBlockMaxWorkers at once', async () => {
    const log = new EventLog();
    const most = aliveAtOnce(log);
    const out = path.join(dir, 'ecs-single.tif');
    try {
      const r = await apply(combine, inputs, { out }, { controls: singleControls('CW_ECS', { singleBlockMaxWorkers: 3 }), otherArgs: { count: 0 } });
      assert.deepEqual(readFileSync(out), seqBytes);
      const handles = log.of('launched').map((e) => e.handle);
      assert.equal(handles.length, BLOCKS, 'one task per block');
      const byWorker = blocksByWorker(log);
      assert.equal(byWorker.size, BLOCKS);
      for (const [w, b] of byWorker) assert.equal(b.length, 1, `worker ${w} did ${b.join(', ')}`);
      assert.deepEqual(
        (r.otherArgsList as { count: number }[]).map((o) => o.count),
        Array(BLOCKS).fill(1),
      );
      assert.ok(most() <= 3, `${most()} tasks alive at once`);
      const tasks = await tasksOf(handles);
      assert.equal(new Set(tasks.map((t) => t.tags?.find((x) => x.key === RUN_ID_TAG)?.value)).size, 1, 'every task tagged with the one run id');
      for (const t of tasks) {
        assert.equal(t.lastStatus, 'STOPPED', `${t.taskArn}: ${t.lastStatus}`);
        assert.equal(t.containers?.[0]?.exitCode, 0, `${t.taskArn}: ${t.stoppedReason ?? ''}`);
      }
      await assertNothingRunning();
    } finally {
      log.close();
    }
  });

  test('a task SIGKILLed in the middle of its block: a new task re-runs it, identical output, no task left running', async () => {
    const log = new EventLog();
    const markers = path.join(dir, 'markers-ecs');
    mkdirSync(markers);
    const out = path.join(dir, 'ecs-killed.tif');
    try {
      await apply(
        combine,
        inputs,
        { out },
        { controls: singleControls('CW_ECS', { singleBlockMaxWorkers: 3 }), otherArgs: { killOnceOnBlock: 2, markerDir: markers } },
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
      const [task] = await tasksOf([launched.find((l) => l.workerId === victim)!.handle]);
      assert.equal(task!.lastStatus, 'STOPPED');
      assert.equal(task!.containers?.[0]?.exitCode, 137);
      await assertNothingRunning();
    } finally {
      log.close();
    }
  });
});
