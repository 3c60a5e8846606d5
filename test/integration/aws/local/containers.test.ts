/**
 * The AWS flow with real containers (`riots batch local --containers`), through the real AWS SDK
 * and the riots CLI against the local endpoint, with this machine's container engine (Docker
 * when its engine answers, else podman, which test/containers/setup.sh installs): the worker
 * image built and pushed to the endpoint's registry, the stack created, CW_AWSBATCH and CW_ECS
 * runs whose workers are containers of that image (outputs byte-identical to a sequential run),
 * a worker container killed mid-run, a main image built from aws/Dockerfile.main.example's recipe
 * and run by `submit-main`, and no container left behind by a terminated job, a main killed with
 * SIGKILL, or the endpoint closing.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { BatchClient, SubmitJobCommand, TerminateJobCommand } from '@aws-sdk/client-batch';
import { ECRClient, DescribeImagesCommand } from '@aws-sdk/client-ecr';
import { DescribeTasksCommand, ECSClient, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { getStackOutputs } from '../../../../src/aws/stack.js';
import { makeExtraParamsPrivateCluster } from '../../../../src/index.js';
import { apply } from '../../../../src/applier/apply.js';
import { WORKER_TAG, ecrLogin, pushImage } from '../../../../src/aws/images.js';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { chooseEngine, runEngine, type Engine } from '../../../../src/containerengine.js';
import { batchControls, describeJobs, jobIdsOf, useEndpointEnv } from '../../../helpers/awsbatch.js';
import { runRiots } from '../../../helpers/batchtools.js';
import { createBatchStack, waitFor } from '../../../helpers/localaws.js';
import { REPO_ROOT } from '../../../helpers/root.js';
import { EventLog, sequentialFixture } from '../../../helpers/subproc.js';

const START_DELAY = 1;
const LABEL = 'riots.local-endpoint.pid';

let engine: Engine;
let dir: string;
let aws: LocalAws;
let restoreEnv: () => void;
let batch: BatchClient;
let inputs: { a: string; b: string };
let combine: Parameters<typeof apply>[0];
let seqBytes: Buffer;
/** What was left of a dead endpoint's container once the endpoint started. */
let orphanLeft: string;

/** Names of the containers this process's endpoint started that still exist (running or not). */
function ourContainers(): string[] {
  const r = spawnSync(engine, ['ps', '--all', '--filter', `label=${LABEL}=${process.pid}`, '--format', '{{.Names}}'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

async function noContainersLeft(what: string): Promise<void> {
  await waitFor(
    `no container left ${what}`,
    async () => ourContainers(),
    (c) => c.length === 0,
    60_000,
    250,
  );
}

function riots(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}) {
  return runRiots(args, { ...aws.env, RIOTS_CONTAINER_ENGINE: engine }, { timeoutMs: 600_000, ...opts });
}

before(async () => {
  engine = await chooseEngine();
  console.log(`# containers run with ${engine}`);
  dir = mkdtempSync(join(tmpdir(), 'riots-containers-'));
  // a container left by an endpoint that was killed (its process id is gone)
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const orphan = await runEngine(
    engine,
    [
      'run',
      '-d',
      '--rm',
      '--name',
      `riots-orphan-${process.pid}`,
      '--label',
      `${LABEL}=${gone}`,
      '--entrypoint',
      'sleep',
      'docker.io/library/node:20-bookworm-slim',
      '600',
    ],
    { capture: true },
  );
  assert.equal(orphan.code, 0, orphan.stderr);
  aws = await startLocalAws({
    startDelaySeconds: START_DELAY,
    stackDelaySeconds: 0.2,
    killGraceSeconds: 2,
    containers: { engine, mounts: [{ path: dir, writable: true }] },
  });
  orphanLeft = spawnSync(engine, ['ps', '--all', '--filter', `name=riots-orphan-${process.pid}`, '--format', '{{.Names}}'], { encoding: 'utf8' }).stdout.trim();
  restoreEnv = useEndpointEnv(aws);
  batch = new BatchClient({});
  ({ inputs, combine, seqBytes } = await sequentialFixture(dir, 300, 260));
});

after(async () => {
  batch?.destroy();
  await aws?.close();
  restoreEnv?.();
  rmSync(dir, { recursive: true, force: true });
});

describe('the AWS flow with containers (riots batch local --containers)', () => {
  test('a new endpoint removes the containers of an endpoint that was killed', () => {
    assert.equal(orphanLeft, '');
  });

  test('create the stack, build and push the worker image; preflight sees it and its architecture', async () => {
    const created = await riots(['batch', 'create', '--wait']);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    const uri = aws.state.repositories.get('riosecr')!.uri;
    assert.equal(uri, `${aws.containers!.registryHost}/riosecr`, 'the ECR URI points at the endpoint registry');
    const t0 = performance.now();
    // the same build arguments as image-build.test.ts, so that the engine's layer cache serves both
    const built = await riots(['batch', 'build-image', '--extra-packages', 'jq', '--npm-packages', 'proj4', '--push'], { timeoutMs: 1_800_000 });
    assert.equal(built.code, 0, built.stdout + built.stderr);
    console.log(`# build-image --push: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    assert.match(built.stdout, new RegExp(`pushed ${uri}:latest`));
    const ecr = new ECRClient({});
    try {
      const d = (await ecr.send(new DescribeImagesCommand({ repositoryName: 'riosecr', imageIds: [{ imageTag: 'latest' }] }))).imageDetails![0]!;
      const local = await runEngine(engine, ['image', 'inspect', '--format', '{{.Id}}', `${uri}:latest`], { capture: true });
      assert.equal(local.code, 0, local.stderr);
      assert.match(d.imageDigest!, /^sha256:[0-9a-f]{64}$/);
      // the manifest in the registry names the config of the image the engine built
      const manifest = JSON.parse(readFileSync(join(aws.stateDir, 'registry', 'blobs', d.imageDigest!.slice(7)), 'utf8')) as { config: { digest: string } };
      assert.equal(manifest.config.digest.slice(7), local.stdout.trim().replace(/^sha256:/, ''), 'the pushed image is the one built');
    } finally {
      ecr.destroy();
    }
    const pre = await riots(['batch', 'preflight']);
    assert.match(pre.stdout, /PASS\s+worker image is pushed to BatchECR as latest/);
    const arch = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim() === 'aarch64' ? 'arm64' : 'amd64';
    assert.match(pre.stdout, new RegExp(`PASS\\s+images are built for the stack's architecture: worker image linux/${arch}`));
  });

  test("preflight fails when the stack's instances are of another architecture than the pushed image", async () => {
    const local = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim() === 'aarch64' ? 'arm64' : 'amd64';
    const [other, type] = local === 'amd64' ? ['arm64', 'm7g'] : ['amd64', 'm7i'];
    const modified = await riots(['batch', 'create', '--modify', '--instancetype', type, '--wait']);
    assert.equal(modified.code, 0, modified.stdout + modified.stderr);
    try {
      const pre = await riots(['batch', 'preflight']);
      assert.notEqual(pre.code, 0, 'preflight fails');
      assert.match(
        pre.stdout,
        new RegExp(
          `FAIL\\s+images are built for the stack's architecture: the worker image is built for ${local} but the Batch instances \\(InstanceType ${type}\\) are ${other}: rebuild it with 'riots batch build-image --platform linux/${other} --push'`,
        ),
      );
    } finally {
      const back = await riots(['batch', 'create', '--modify', '--instancetype', 'optimal', '--wait']);
      assert.equal(back.code, 0, back.stdout + back.stderr);
    }
  });

  test('CW_AWSBATCH with 3 workers as containers: output byte-identical to sequential, the key never in an argv', async () => {
    const log = new EventLog();
    const seen = new Map<string, string[]>();
    log.on((e) => {
      if (e.event !== 'result' || seen.size > 0) return;
      // while the run goes on: what the engine was told, and the env files
      for (const name of ourContainers()) {
        const r = spawnSync(engine, ['inspect', '--format', '{{json .Config.Env}} {{json .Args}}', name], { encoding: 'utf8' });
        seen.set(name, [r.stdout]);
      }
      const envFiles = readdirSync(join(aws.stateDir, 'jobs')).filter((x) => x.endsWith('.env'));
      seen.set(
        'env files',
        envFiles.map((f) => (statSync(join(aws.stateDir, 'jobs', f)).mode & 0o777).toString(8)),
      );
      for (const pid of aws.jobPids()) seen.set(`argv ${pid}`, [readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')]);
    });
    const out = join(dir, 'batch3.tif');
    try {
      await apply(combine, inputs, { out }, { controls: { ...batchControls(3), jobName: 'parity' }, otherArgs: { count: 0 } });
      assert.deepEqual(readFileSync(out), seqBytes, 'output byte-identical to the sequential run');
      const ids = jobIdsOf(log.of('launched').map((e) => e.handle));
      assert.equal(ids.length, 3);
      for (const j of await describeJobs(batch, ids)) {
        assert.equal(j.status, 'SUCCEEDED', `${j.jobId}: ${j.statusReason}`);
        assert.match(j.jobName!, /^riots-parity-[0-9a-z]+-[0-9a-f]{8}-worker-\d$/, "RIOS's jobName is in the job's name");
      }
    } finally {
      log.close();
    }
    const containers = [...seen.keys()].filter((k) => k.startsWith('riots-'));
    assert.ok(containers.length >= 1, 'worker containers were running during the run');
    for (const c of containers) {
      const [envJson, argsJson] = seen.get(c)![0]!.split(' ');
      const key = (JSON.parse(envJson!) as string[]).find((v) => v.startsWith('RIOTS_CHANNEL_KEY='))?.slice('RIOTS_CHANNEL_KEY='.length);
      assert.match(String(key), /^[0-9a-f]{64}$/, `${c} has the run's key in its environment`);
      assert.ok(!argsJson!.includes(key!), `${c}: the key is not in the container's arguments`);
      for (const [k, v] of seen) if (k.startsWith('argv ')) assert.ok(!v[0]!.includes(key!), `the key is not in the argv of ${k}: ${v[0]}`);
    }
    const modes = seen.get('env files') ?? [];
    assert.ok(modes.length >= 1, 'env files were there during the run');
    assert.deepEqual(
      modes.filter((m) => m !== '600'),
      [],
      'env files are readable by their owner only',
    );
    await noContainersLeft('after the run');
  });

  test('a worker container killed mid-run: its blocks are re-run by the others, the output is identical', async () => {
    const log = new EventLog();
    let victim: string | undefined;
    let killing: Promise<unknown> | undefined;
    log.on((e) => {
      if (e.event !== 'result' || victim !== undefined) return;
      victim = jobIdsOf([log.of('launched').find((l) => l.workerId === e.workerId)!.handle])[0]!;
      killing = runEngine(engine, ['kill', `riots-${victim}`], { capture: true });
    });
    const out = join(dir, 'killed.tif');
    try {
      await apply(combine, inputs, { out }, { controls: batchControls(3, {}, { computeWorkersRead: false, numReadWorkers: 1 }), otherArgs: { busyMs: 150 } });
      await killing;
      assert.deepEqual(readFileSync(out), seqBytes, 'output identical despite the lost worker');
      const lost = log.of('lost');
      assert.equal(lost.length, 1, 'one worker was lost');
      for (const b of lost[0]!.requeued) {
        assert.ok(
          log.of('result').some((r) => r.blockIndex === b && r.workerId !== lost[0]!.workerId),
          `block ${b} re-run by another worker`,
        );
      }
      const [job] = await describeJobs(batch, [victim!]);
      assert.equal(job!.status, 'FAILED');
      assert.equal(job!.container?.exitCode, 137, 'killed: exit code 137');
    } finally {
      log.close();
    }
    await noContainersLeft('after the killed run');
  });

  test('CW_ECS with 3 tasks as containers: output byte-identical to sequential', async () => {
    const log = new EventLog();
    const out = join(dir, 'ecs3.tif');
    const controls = batchControls(3);
    (controls.concurrency as Record<string, unknown>).computeWorkerKind = 'CW_ECS';
    try {
      await apply(combine, inputs, { out }, { controls, otherArgs: { count: 0 } });
      assert.deepEqual(readFileSync(out), seqBytes, 'output byte-identical to the sequential run');
      const tasks = [...aws.state.tasks.values()];
      assert.equal(tasks.length, 3, 'three tasks');
      for (const t of tasks) assert.equal(t.container.exitCode, 0, `${t.taskId}: ${t.stoppedReason}`);
    } finally {
      log.close();
    }
    await noContainersLeft('after the ECS run');
  });

  test('CW_ECS as RIOS users run it, tasks as containers: a private EC2 cluster made for the run; output byte-identical; nothing left', async () => {
    const o = (await getStackOutputs()).all;
    const extra = makeExtraParamsPrivateCluster({
      jobName: 'ctr',
      numInstances: 2,
      ami: 'ami-0123456789abcdef0',
      instanceType: 'm5.large',
      containerImage: `${o.BatchECR!}:latest`,
      subnet: o.BatchPrivateSubnets!.split(',')[0]!,
      securityGroups: [o.BatchSecurityGroup!],
      instanceProfileArn: 'arn:aws:iam::000000000000:instance-profile/ecsInstanceRole',
    });
    const controls = batchControls(3, { ...extra, waitClusterInstanceCountTimeout: 60 });
    (controls.concurrency as Record<string, unknown>).computeWorkerKind = 'CW_ECS';
    const before = aws.state.tasks.size;
    const out = join(dir, 'ecs-private.tif');
    await apply(combine, inputs, { out }, { controls, otherArgs: { count: 0 } });
    assert.deepEqual(readFileSync(out), seqBytes, 'output byte-identical to the sequential run');
    const tasks = [...aws.state.tasks.values()].slice(before);
    assert.equal(tasks.length, 3, 'three tasks');
    for (const t of tasks) assert.deepEqual([t.launchType, t.container.exitCode], ['EC2', 0], `${t.taskId}: ${t.stoppedReason}`);
    const cluster = (extra.create_cluster as { clusterName: string }).clusterName;
    assert.equal(aws.state.findCluster(cluster), undefined, 'the cluster is deleted');
    assert.deepEqual(
      [...aws.state.instances.values()].filter((i) => i.state === 'pending' || i.state === 'running'),
      [],
      'the instances are terminated',
    );
    assert.deepEqual(
      [...aws.state.taskDefinitions.values()].filter((d) => d.family === (extra.register_task_definition as { family: string }).family).map((d) => d.status),
      ['INACTIVE'],
    );
    await noContainersLeft('after the private-cluster run');
  });

  test('a job of an image never pushed fails with CannotPullContainerError', async () => {
    const { jobId } = await batch.send(new SubmitJobCommand({ jobName: 'nomain', jobQueue: 'riosJobQueueMain', jobDefinition: 'riosJobDefinitionMain' }));
    const [job] = await waitFor(
      'the job to fail',
      () => describeJobs(batch, [jobId!]),
      (j) => j[0]?.status === 'FAILED',
      30_000,
    );
    assert.match(job!.statusReason!, /^CannotPullContainerError: .*riosecrmain:latest: not found/);
    assert.deepEqual(ourContainers(), []);
  });

  test('a main image from the recipe, pushed; submit-main runs it in a container, which starts its worker containers', async () => {
    const proj = join(dir, 'mainproj');
    mkdirSync(proj);
    copyFileSync(join(REPO_ROOT, 'aws', 'Dockerfile.main.example'), join(proj, 'Dockerfile.main'));
    writeFileSync(
      join(proj, 'main.mjs'),
      `import { apply, Block, defineUserFunction, isComputeWorker } from 'riots';
export const diff = defineUserFunction(import.meta.url, (info, inputs, outputs) => {
  const out = new Block('Float32', 1, inputs.a.rows, inputs.a.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = inputs.a.data[i] * 2 - inputs.b.data[i] + info.block.index;
  outputs.out = out;
}, 'diff');
// workers import this module for diff: only the main runs the apply
if (!isComputeWorker()) {
  const [a, b, out, workers] = process.argv.slice(2);
  const controls = { windowXSize: 64, windowYSize: 64 };
  if (workers) controls.concurrency = { computeWorkerKind: 'CW_AWSBATCH', numComputeWorkers: Number(workers), computeBarrierTimeout: 120 };
  const r = await apply(diff, { a, b }, { out }, { controls });
  console.log('main done: ' + r.blocks + ' blocks, ' + r.workerTimings.size + ' workers');
}
`,
    );
    const built = await riots(['batch', 'build-image', '--main', '--push'], { cwd: proj });
    assert.equal(built.code, 0, built.stdout + built.stderr);
    assert.match(built.stdout, /pushed \S+\/riosecrmain:latest/);
    const ref = join(dir, 'main-ref.tif');
    const out = join(dir, 'main-out.tif');
    // the sequential reference, by the same image (no workers)
    const seq = await runEngine(engine, ['run', '--rm', '-v', `${dir}:${dir}`, 'riots-main', inputs.a, inputs.b, ref], { capture: true, timeoutMs: 120_000 });
    assert.equal(seq.code, 0, seq.stdout + seq.stderr);
    const sub = await riots(['batch', 'submit-main', '--args', `${inputs.a} ${inputs.b} ${out} 2`, '--wait', '--poll', '0.5', '--timeout', '300']);
    const mainId = sub.stdout.split('\n')[0]!.trim();
    const mainLog = (): string => readFileSync(join(aws.stateDir, 'jobs', `${mainId}.log`), 'utf8');
    assert.equal(sub.code, 0, sub.stdout + sub.stderr + mainLog());
    assert.match(sub.stdout, new RegExp(`job ${mainId}: SUCCEEDED`));
    assert.match(mainLog(), /main done: 25 blocks, [12] workers/);
    assert.deepEqual(readFileSync(out), readFileSync(ref), "the main job's output equals a sequential run");
    const main = aws.state.jobs.get(mainId)!;
    const workers = [...aws.state.jobs.values()].filter((j) => j.jobQueue.endsWith('/riosJobQueueWorker') && j.createdAt >= main.createdAt);
    assert.equal(workers.length, 2, 'the main job submitted one job per worker');
    for (const j of workers) assert.match(j.image, new RegExp(`^${aws.containers!.registryHost}/riosecr`), 'workers run the pushed worker image');
    await noContainersLeft('after submit-main');
  });

  test('a main killed with SIGKILL: its worker containers end and are removed', async () => {
    const script = join(dir, 'killme.mts');
    const userModule = pathToFileURL(join(dir, 'user', 'userfn.ts')).href;
    writeFileSync(
      script,
      `import { apply } from '${pathToFileURL(join(REPO_ROOT, 'src', 'applier', 'apply.ts')).href}';
const { combine } = await import('${userModule}');
await apply(combine, ${JSON.stringify(inputs)}, { out: ${JSON.stringify(join(dir, 'never.tif'))} }, { controls: ${JSON.stringify(batchControls(2))}, otherArgs: { busyMs: 2000 } });
`,
    );
    const child = spawn(process.execPath, ['--import', pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, script], {
      env: { ...process.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitFor(
        'two worker containers running',
        async () => {
          assert.equal(child.exitCode, null, `the main exited early: ${stderr}`);
          return ourContainers();
        },
        (c) => c.length === 2,
        60_000,
        250,
      );
      await waitFor(
        'both worker jobs RUNNING',
        async () => [...aws.state.jobs.values()].filter((j) => j.status === 'RUNNING').length,
        (n) => n === 2,
        60_000,
        250,
      );
      await new Promise((r) => setTimeout(r, 3000)); // connected and computing
    } finally {
      child.kill('SIGKILL');
    }
    await noContainersLeft('after the main was killed');
  });

  /** Submit a worker job that waits for a main that never answers (a silent TCP server), and wait for its container. */
  async function waitingJob(name: string, port: number): Promise<string> {
    const { jobId } = await batch.send(
      new SubmitJobCommand({
        jobName: name,
        jobQueue: 'riosJobQueueWorker',
        jobDefinition: 'riosJobDefinition',
        containerOverrides: { command: ['-i', '0', '--channaddr', `127.0.0.1,${port}`, '--timeout', '300'] },
      }),
    );
    await waitFor(
      `the container of ${name}`,
      async () => ourContainers(),
      (c) => c.includes(`riots-${jobId!}`),
      60_000,
      250,
    );
    return jobId!;
  }

  test('StopTask stops and removes the container of an ECS task', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const ecs = new ECSClient({});
    try {
      const o = (await getStackOutputs()).all;
      const run = await ecs.send(
        new RunTaskCommand({
          cluster: o.EcsClusterName!,
          taskDefinition: o.EcsWorkerTaskDefinitionArn!,
          launchType: 'FARGATE',
          networkConfiguration: { awsvpcConfiguration: { subnets: o.BatchPrivateSubnets!.split(','), securityGroups: [o.BatchSecurityGroup!] } },
          overrides: {
            containerOverrides: [{ name: o.EcsWorkerContainerName!, command: ['-i', '0', '--channaddr', `127.0.0.1,${port}`, '--timeout', '300'] }],
          },
        }),
      );
      const taskArn = run.tasks![0]!.taskArn!;
      const id = taskArn.slice(taskArn.lastIndexOf('/') + 1);
      await waitFor(
        'the task container',
        async () => ourContainers(),
        (c) => c.includes(`riots-${id}`),
        60_000,
        250,
      );
      await ecs.send(new StopTaskCommand({ cluster: o.EcsClusterName!, task: taskArn, reason: 'stopped by the test' }));
      const t = await waitFor(
        'the task to stop',
        async () => (await ecs.send(new DescribeTasksCommand({ cluster: o.EcsClusterName!, tasks: [taskArn] }))).tasks![0]!,
        (x) => x.lastStatus === 'STOPPED',
        30_000,
      );
      assert.equal(t.stopCode, 'UserInitiated');
      await noContainersLeft('after StopTask');
    } finally {
      ecs.destroy();
      silent.close();
    }
  });

  test('TerminateJob stops and removes its container; riots batch delete terminates the rest and empties the registry; closing the endpoint removes every container', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const first = await waitingJob('waits-1', port);
      await batch.send(new TerminateJobCommand({ jobId: first, reason: 'stopped by the test' }));
      const [job] = await waitFor(
        'the job to fail',
        () => describeJobs(batch, [first]),
        (j) => j[0]?.status === 'FAILED',
        30_000,
      );
      assert.equal(job!.statusReason, 'stopped by the test');
      await noContainersLeft('after TerminateJob');

      const second = await waitingJob('waits-2', port);
      const deleted = await riots(['batch', 'delete', '--wait']);
      assert.equal(deleted.code, 0, deleted.stdout + deleted.stderr);
      const [gone] = await describeJobs(batch, [second]);
      assert.equal(gone!.status, 'FAILED', 'the job on the deleted queue was terminated');
      await noContainersLeft('after riots batch delete');
      assert.equal(aws.state.repositories.size, 0, 'the repositories went with the stack');

      // a new stack: its repository is empty again; the registry still has the layers
      const outputs = await createBatchStack(aws);
      await ecrLogin(engine, aws.region, outputs.BatchECR!);
      await pushImage(engine, WORKER_TAG, outputs.BatchECR!, 600_000);
      await waitingJob('waits-3', port);
      await aws.close();
      assert.deepEqual(ourContainers(), [], 'the endpoint removed its containers as it closed');
      const names = spawnSync(engine, ['images', '--format', '{{.Repository}}'], { encoding: 'utf8' }).stdout;
      assert.ok(!names.includes(aws.containers!.registryHost), "and the engine's names for its registry's images");
    } finally {
      silent.close();
    }
  });
});
