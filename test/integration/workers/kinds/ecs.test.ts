/**
 * CW_ECS end to end, through the real AWS SDK against the local endpoint: the stack of
 * aws/batch.yaml gives the cluster, the Fargate task definition, the subnets and the security
 * group; each task is a local process running the worker image's ENTRYPOINT (3 s start delay).
 * Outputs must be byte-identical to the sequential run, and no task of a run may be left
 * running, however the run ends.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand, StopTaskCommand, type Task } from '@aws-sdk/client-ecs';
import { apply } from '../../../../src/applier/apply.js';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { parseStackOutputs, RUN_ID_TAG } from '../../../../src/aws/stack.js';
import { AwsError, ControlsError, TimeoutError, UserFunctionError } from '../../../../src/errors.js';
import { ecsPlacement, ecsSettings } from '../../../../src/workers/kinds/ecs.js';
import { useEndpointEnv, writeMainProject } from '../../../helpers/awsbatch.js';
import { createBatchStack, waitFor } from '../../../helpers/localaws.js';
import { EventLog, sequentialFixture } from '../../../helpers/subproc.js';

const ROOT = REPO_ROOT;
const START_DELAY = 3;
const CLUSTER = 'riosEcsCluster';
const BLOCKS = 25; // 300 x 260 in blocks of 64

let dir: string;
let aws: LocalAws;
let restoreEnv: () => void;
let ecs: ECSClient;
let outputs: Record<string, string>;
let inputs: { a: string; b: string };
let combine: Parameters<typeof apply>[0];
let seqBytes: Buffer;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-ecs-'));
  aws = await startLocalAws({ startDelaySeconds: START_DELAY, stackDelaySeconds: 0.2, killGraceSeconds: 1 });
  restoreEnv = useEndpointEnv(aws);
  ecs = new ECSClient({});
  outputs = await createBatchStack(aws);
  ({ inputs, combine, seqBytes } = await sequentialFixture(dir, 300, 260));
});

after(async () => {
  ecs?.destroy();
  await aws?.close();
  restoreEnv?.();
  rmSync(dir, { recursive: true, force: true });
});

function ecsControls(n: number, extra: Record<string, unknown> = {}, concurrency: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    windowXSize: 64,
    windowYSize: 64,
    concurrency: {
      computeWorkerKind: 'CW_ECS',
      numComputeWorkers: n,
      computeBarrierTimeout: 60,
      ...concurrency,
      computeWorkerExtraParams: { channelAddress: '127.0.0.1', heartbeatSeconds: 0.5, workerLostSeconds: 4, pollSeconds: 0.5, ...extra },
    },
  };
}

/** Task ARNs of the run's 'launched' events ("task <id>"), through ListTasks of both states. */
async function tasksOf(log: EventLog): Promise<Task[]> {
  const ids = log.of('launched').map((e) => /^task ([0-9a-f]+)$/.exec(e.handle)![1]!);
  if (ids.length === 0) return [];
  return (await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: ids, include: ['TAGS'] }))).tasks ?? [];
}

/** Nothing of the run (nor anything else) is still running in the cluster, and no task process is alive. */
async function assertNothingRunning(): Promise<void> {
  const running = (await ecs.send(new ListTasksCommand({ cluster: CLUSTER, desiredStatus: 'RUNNING' }))).taskArns ?? [];
  assert.deepEqual(running, [], 'no task is left running in the cluster');
  await waitFor(
    'every task process to exit',
    async () => aws.jobPids(),
    (p) => p.length === 0,
    10_000,
  );
}

describe('CW_ECS on the local endpoint', () => {
  test('3 workers as Fargate tasks of the stack: output identical to sequential, every task stopped, the key only in the environment', async () => {
    const log = new EventLog();
    const out = path.join(dir, 'ecs.tif');
    try {
      const t0 = performance.now();
      const r = await apply(combine, inputs, { out }, { controls: ecsControls(3), otherArgs: { count: 0 } });
      assert.ok(performance.now() - t0 >= START_DELAY * 1000, 'the start delay was really waited');
      assert.deepEqual(readFileSync(out), seqBytes, 'output byte-identical to the sequential run');
      const counts = (r.otherArgsList as { count: number }[]).map((o) => o.count);
      assert.equal(
        counts.reduce((s, c) => s + c, 0),
        BLOCKS,
        `every block once: ${counts.join(', ')}`,
      );
      const tasks = await tasksOf(log);
      assert.equal(tasks.length, 3, 'one task per worker');
      const runIds = new Set(tasks.map((t) => t.tags?.find((x) => x.key === RUN_ID_TAG)?.value));
      assert.equal(runIds.size, 1, 'every task tagged with the one run id');
      const runId = [...runIds][0]!;
      assert.match(runId, /^riots-/);
      for (const t of tasks) {
        assert.equal(t.lastStatus, 'STOPPED', `${t.taskArn}: ${t.lastStatus}`);
        assert.equal(t.launchType, 'FARGATE');
        assert.equal(t.startedBy, runId);
        assert.equal(t.taskDefinitionArn, outputs.EcsWorkerTaskDefinitionArn);
        const worker = log.of('launched').find((e) => t.taskArn!.endsWith(e.handle.slice(5)))!.workerId;
        if (log.of('ready').some((e) => e.workerId === worker)) {
          assert.equal(t.stopCode, 'EssentialContainerExited', `${t.taskArn}: ${t.stopCode} ${t.stoppedReason}`);
          assert.equal(t.containers![0]!.exitCode, 0, 'a worker that was ready exits 0 after the shutdown');
        }
        const o = t.overrides!.containerOverrides![0]!;
        assert.equal(o.name, outputs.EcsWorkerContainerName);
        const cmd = o.command!;
        assert.equal(cmd[0], '-i', `the command holds only computeworker's arguments: ${cmd.join(' ')}`);
        assert.equal(cmd[cmd.indexOf('--channaddr') + 1]!.split(',')[0], '127.0.0.1');
        const key = o.environment!.find((e) => e.name === 'RIOTS_CHANNEL_KEY')?.value;
        assert.match(String(key), /^[0-9a-f]{64}$/, 'the key is in the environment override');
        assert.ok(!cmd.join(' ').includes(key!), 'the key is not in the command');
      }
      await assertNothingRunning();
    } finally {
      log.close();
    }
  });

  test('a task stopped in the middle of the run: its blocks are re-run by the others, the output is identical', async () => {
    const log = new EventLog();
    const out = path.join(dir, 'stopped.tif');
    let victim: string | undefined;
    log.on((e) => {
      if (e.event === 'result' && victim === undefined && e.workerId === 0) {
        victim = log
          .of('launched')
          .find((l) => l.workerId === 0)!
          .handle.slice(5);
        void ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: victim, reason: 'stopped by the test' }));
      }
    });
    try {
      await apply(combine, inputs, { out }, { controls: ecsControls(2), otherArgs: { busyMs: 40, slowWorker: 1, slowFactor: 1 } });
      assert.ok(victim, 'worker 0 produced a result and its task was stopped');
      assert.deepEqual(readFileSync(out), seqBytes, 'output byte-identical to the sequential run');
      assert.ok(
        log.of('lost').some((e) => e.workerId === 0),
        'worker 0 was declared lost',
      );
      const t = (await tasksOf(log)).find((x) => x.taskArn!.endsWith(victim!))!;
      assert.equal(t.stopCode, 'UserInitiated');
      assert.equal(t.stoppedReason, 'stopped by the test');
      await assertNothingRunning();
    } finally {
      log.close();
    }
  });

  test('FARGATE_SPOT: tasks on the Spot provider; one interrupted mid-run has its blocks re-run, the output is identical', async () => {
    const log = new EventLog();
    const out = path.join(dir, 'spot.tif');
    let victim: string | undefined;
    log.on((e) => {
      if (e.event === 'result' && victim === undefined && e.workerId === 1) {
        victim = log
          .of('launched')
          .find((l) => l.workerId === 1)!
          .handle.slice(5);
        aws.interruptSpotTask(victim);
      }
    });
    try {
      await apply(combine, inputs, { out }, { controls: ecsControls(2, { capacityProvider: 'FARGATE_SPOT' }), otherArgs: { busyMs: 40 } });
      assert.ok(victim, 'worker 1 produced a result and its task was interrupted');
      assert.deepEqual(readFileSync(out), seqBytes, 'output byte-identical to the sequential run');
      const lost = log.of('lost').find((e) => e.workerId === 1);
      assert.ok(lost, 'worker 1 was declared lost');
      const tasks = await tasksOf(log);
      for (const t of tasks) assert.equal(t.capacityProviderName, 'FARGATE_SPOT', 'every task ran on the Spot provider');
      const t = tasks.find((x) => x.taskArn!.endsWith(victim!))!;
      assert.deepEqual([t.stopCode, t.stoppedReason], ['SpotInterruption', 'Your Spot Task was interrupted.']);
      await assertNothingRunning();
    } finally {
      log.close();
    }
    // the strategy must name a provider of the cluster: an unknown setting is refused before any task
    assert.throws(() => ecsSettings({ capacityProvider: 'SPOT' }), /capacityProvider must be one of 'FARGATE', 'FARGATE_SPOT'/);
  });

  test('tasks that never leave PROVISIONING: the barrier timeout names each task and its state, and every task is stopped', async () => {
    const log = new EventLog();
    aws.holdCluster(CLUSTER, 'held by the test');
    try {
      const err = await apply(
        combine,
        inputs,
        { out: path.join(dir, 'held.tif') },
        { controls: ecsControls(2, {}, { computeBarrierTimeout: START_DELAY + 2 }) },
      ).then(
        () => assert.fail('the run should time out'),
        (e: unknown) => e as Error,
      );
      assert.ok(err instanceof TimeoutError, String(err));
      assert.match(err.message, /computeBarrierTimeout/);
      const tasks = await tasksOf(log);
      assert.equal(tasks.length, 2);
      for (const t of tasks) {
        assert.match(err.message, new RegExp(`task ${t.taskArn!.replace(/[/:]/g, '.')} PROVISIONING`), err.message);
        // where its output goes, from the stack's task definition (awslogs)
        const id = t.taskArn!.slice(t.taskArn!.lastIndexOf('/') + 1);
        assert.match(err.message, new RegExp(`log: CloudWatch group /riots/\\w+/ecs-workers, stream riots/worker/${id}`), err.message);
        assert.equal(t.lastStatus, 'STOPPED');
        assert.equal(t.stopCode, 'UserInitiated');
        assert.match(String(t.stoppedReason), /riots run riots-\S+ stopped worker/);
      }
      assert.equal(existsSync(path.join(dir, 'held.tif')), false, 'no output at the final path');
      await assertNothingRunning();
    } finally {
      aws.holdCluster(CLUSTER, undefined);
      log.close();
    }
  });

  test('a user-function error surfaces with its block and worker, and every task is stopped', async () => {
    const log = new EventLog();
    try {
      const err = await apply(combine, inputs, { out: path.join(dir, 'err.tif') }, { controls: ecsControls(2), otherArgs: { throwOnBlock: 7 } }).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e as Error,
      );
      assert.ok(err instanceof UserFunctionError, String(err));
      assert.match(err.message, /block 7\b/);
      assert.match(err.message, /worker \d/);
      assert.match(err.message, /user function refuses block 7/);
      for (const t of await tasksOf(log)) assert.equal(t.lastStatus, 'STOPPED', String(t.taskArn));
      await assertNothingRunning();
    } finally {
      log.close();
    }
  });

  test("a main process that calls process.exit() with tasks provisioning: its exit waits for 'riots batch cleanup' to stop them", async () => {
    const proj = path.join(dir, 'dieproj');
    writeMainProject(proj, ROOT);
    writeFileSync(
      path.join(proj, 'dying.ts'),
      `import diagnostics from 'node:diagnostics_channel';
import { apply } from 'riots';
import { diff } from './fn.ts';
const [a, b, out] = process.argv.slice(2);
let launched = 0;
diagnostics.subscribe('riots:workers', (m: any) => {
  if (m.event === 'launched' && ++launched === 2) process.exit(7);
});
await apply(diff, { a: a!, b: b! }, { out: out! }, {
  controls: { windowXSize: 64, windowYSize: 64, concurrency: { computeWorkerKind: 'CW_ECS', numComputeWorkers: 2, computeBarrierTimeout: 120, computeWorkerExtraParams: { channelAddress: '127.0.0.1' } } },
});
`,
    );
    const since = Date.now();
    const out = path.join(dir, 'died.tif');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', path.join(proj, 'dying.ts'), inputs.a, inputs.b, out],
        { cwd: proj, env: { ...process.env } },
        (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      );
    });
    assert.equal(r.code, 7, r.stderr);
    assert.equal(existsSync(out), false, 'no output at the final path');
    const mine = [...aws.state.tasks.values()].filter((t) => t.createdAt >= since);
    assert.equal(mine.length, 2, 'both tasks were started');
    const runId = mine[0]!.startedBy!;
    assert.match(
      r.stderr,
      new RegExp(
        `riots: the process is exiting while 2 ECS task\\(s\\) of run ${runId} may still be active: stopping them with 'riots batch cleanup' \\(waiting at most 30 s\\)\\nriots: the jobs and tasks of run ${runId} are stopped\\n`,
      ),
    );
    // the exit waited for the clean-up: both tasks are stopped by it, before they ever started (3 s delay)
    for (const t of mine) {
      assert.equal(t.lastStatus, 'STOPPED', t.taskArn);
      assert.equal(t.stoppedReason, 'riots batch cleanup');
      assert.equal(t.startedAt, undefined, 'stopped before it started');
    }
    await assertNothingRunning();
  });

  test("'riots batch cleanup' lists and stops riots' tasks of a run, and leaves other tasks alone", async () => {
    // two tasks of a made-up run, and one without riots' tag, all held in PROVISIONING
    aws.holdCluster(CLUSTER, 'held by the test');
    const run = (tags: { key: string; value: string }[], startedBy: string) =>
      ecs.send(
        new RunTaskCommand({
          cluster: CLUSTER,
          taskDefinition: outputs.EcsWorkerTaskDefinitionArn,
          launchType: 'FARGATE',
          count: startedBy === 'someone-else' ? 1 : 2,
          startedBy,
          tags,
          networkConfiguration: { awsvpcConfiguration: { subnets: outputs.BatchPrivateSubnets!.split(','), securityGroups: [outputs.BatchSecurityGroup!] } },
        }),
      );
    const riots = ((await run([{ key: RUN_ID_TAG, value: 'riots-test-cleanup' }], 'riots-test-cleanup')).tasks ?? []).map((t) => t.taskArn!);
    const other = ((await run([], 'someone-else')).tasks ?? []).map((t) => t.taskArn!);
    const cli = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'batch', 'cleanup', ...args], { env: { ...process.env } });
    try {
      const dry = await cli(['--run-id', 'riots-test-cleanup', '--dry-run']);
      for (const arn of riots) assert.match(dry.stdout, new RegExp(`would stop task ${arn} \\(run riots-test-cleanup, PROVISIONING, cluster ${CLUSTER}\\)`));
      assert.match(dry.stdout, /found 2 ECS task\(s\) of run riots-test-cleanup/);
      // --cluster: a cluster of the user's own; the stack is not read (there is no such stack), no jobs are looked at
      const own = await cli(['--cluster', CLUSTER, '--stackname', 'no-such-stack', '--task-id', riots[0]!, '--dry-run']);
      assert.equal(own.stdout, `would stop task ${riots[0]} (run riots-test-cleanup, PROVISIONING, cluster ${CLUSTER})\nfound 1 ECS task(s) of riots\n`);
      await assert.rejects(cli(['--cluster', CLUSTER, '--job-id', 'j-1']), (e: { stderr: string }) =>
        /--cluster cleans ECS tasks only: it cannot go with --job-id/.test(e.stderr),
      );
      const real = await cli([]);
      assert.match(real.stdout, /stopped 2 ECS task\(s\) of riots/);
      const d = (await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [...riots, ...other] }))).tasks!;
      for (const t of d) {
        if (riots.includes(t.taskArn!)) assert.equal(t.lastStatus, 'STOPPED', t.taskArn);
        else assert.equal(t.lastStatus, 'PROVISIONING', `a task without riots' tag is left alone: ${t.taskArn}`);
      }
    } finally {
      for (const arn of other) await ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: arn }));
      aws.holdCluster(CLUSTER, undefined);
    }
  });
});

describe('CW_ECS settings', () => {
  test('the placement comes from the stack, settings override it, and a stack without the ECS outputs is a clear error', () => {
    const base = {
      BatchProcessingJobQueueName: 'q',
      BatchProcessingJobDefinitionName: 'd',
      BatchVCPUS: '1',
      BatchMaxVCPUS: '8',
      BatchPrivateSubnets: 'subnet-1,subnet-2',
      BatchSecurityGroup: 'sg-1',
    };
    const ecsOut = { EcsClusterName: 'c', EcsWorkerTaskDefinitionArn: 'arn:td:1', EcsWorkerContainerName: 'worker' };
    const full = parseStackOutputs({ ...base, ...ecsOut }, 'RIOS', 'us-east-1');
    assert.deepEqual(ecsPlacement({}, full), {
      cluster: 'c',
      taskDefinition: 'arn:td:1',
      containerName: 'worker',
      subnets: ['subnet-1', 'subnet-2'],
      securityGroups: ['sg-1'],
    });
    const s = ecsSettings({ cluster: 'mine', subnets: 'subnet-9, subnet-8', securityGroups: ['sg-9'] });
    assert.deepEqual(ecsPlacement(s.placement, full), {
      cluster: 'mine',
      taskDefinition: 'arn:td:1',
      containerName: 'worker',
      subnets: ['subnet-9', 'subnet-8'],
      securityGroups: ['sg-9'],
    });
    const old = parseStackOutputs(base, 'OLD', 'us-east-1');
    assert.throws(
      () => ecsPlacement({}, old),
      (e: Error) =>
        e instanceof AwsError &&
        /stack 'OLD' has no output EcsClusterName, EcsWorkerTaskDefinitionArn, EcsWorkerContainerName .*riots batch create --modify/.test(e.message),
    );
  });

  test('bad settings are ControlsErrors naming the setting', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ subnets: [] }, /subnets must be a non-empty list/],
      [{ securityGroups: [''] }, /securityGroups must be a non-empty list/],
      [{ cluster: 3 }, /cluster must be a non-empty string/],
      [{ cpu: '1 vCPU' }, /cpu must be a positive whole number/],
      [{ assignPublicIp: 'yes' }, /assignPublicIp must be true or false/],
      [{ taskEnvironment: { RIOTS_CHANNEL_KEY: 'x' } }, /may not set RIOTS_CHANNEL_KEY/],
      [{ pollSeconds: 0 }, /pollSeconds/],
    ];
    for (const [extra, re] of bad)
      assert.throws(
        () => ecsSettings(extra),
        (e: Error) => e instanceof ControlsError && re.test(e.message),
        JSON.stringify(extra),
      );
  });

  test('RunTask refused (an unknown security group): the error carries the reason and nothing is left running', async () => {
    const err = await apply(combine, inputs, { out: path.join(dir, 'badsg.tif') }, { controls: ecsControls(2, { securityGroups: ['sg-doesnotexist'] }) }).then(
      () => assert.fail('the run should fail'),
      (e: unknown) => e as Error,
    );
    assert.match(err.message, /RunTask of worker 0 in cluster riosEcsCluster failed: InvalidParameterException: .*sg-doesnotexist/);
    await assertNothingRunning();
    // the endpoint refuses what AWS refuses of a strategy: a provider the cluster lacks, or a strategy with a launch type
    const net = { awsvpcConfiguration: { subnets: outputs.BatchPrivateSubnets!.split(','), securityGroups: [outputs.BatchSecurityGroup!] } };
    const base = { cluster: CLUSTER, taskDefinition: outputs.EcsWorkerTaskDefinitionArn, networkConfiguration: net };
    await assert.rejects(
      ecs.send(new RunTaskCommand({ ...base, capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT' }], launchType: 'FARGATE' })),
      /Specifying both a launch type and capacity provider strategy/,
    );
    await assert.rejects(
      ecs.send(new RunTaskCommand({ ...base, capacityProviderStrategy: [{ capacityProvider: 'MY_ASG' }] })),
      /not associated with the cluster/,
    );
  });
});
