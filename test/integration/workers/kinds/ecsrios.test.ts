/**
 * CW_ECS as RIOS users run it, through the real SDK against the local endpoint: a Fargate cluster
 * and task definition made for the run, and a private EC2 cluster (instances started for the run
 * that join it). Each run's output must be byte-identical to the sequential run, and afterwards
 * the endpoint must hold no task, task definition, instance or cluster the run made — also after
 * a failure. Settings that cannot work together are refused before anything starts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient, ListClustersCommand, ListTaskDefinitionsCommand } from '@aws-sdk/client-ecs';
import { apply } from '../../../../src/applier/apply.js';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { ControlsError, InterruptedError, UserFunctionError } from '../../../../src/errors.js';
import { makeExtraParamsFargate, makeExtraParamsPrivateCluster } from '../../../../src/index.js';
import { ec2 as loadEc2, ecs as loadEcs } from '../../../../src/aws/clients.js';
import { EcsRunResources } from '../../../../src/aws/ecsrun.js';
import { useEndpointEnv, writeMainProject } from '../../../helpers/awsbatch.js';
import { REPO_ROOT } from '../../../helpers/root.js';
import { createBatchStack, waitFor } from '../../../helpers/localaws.js';
import { EventLog, makeInputs, sequentialFixture } from '../../../helpers/subproc.js';
import { py } from '../../../helpers/py.js';
import { failsOnBlock3 } from '../../../helpers/userfns.js';

let dir: string;
let aws: LocalAws;
let restoreEnv: () => void;
let ecs: ECSClient;
let ec2: EC2Client;
let outputs: Record<string, string>;
let inputs: { a: string; b: string };
let combine: Parameters<typeof apply>[0];
let seqBytes: Buffer;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-ecsrios-'));
  aws = await startLocalAws({ startDelaySeconds: 1, stackDelaySeconds: 0.2, killGraceSeconds: 1 });
  restoreEnv = useEndpointEnv(aws);
  ecs = new ECSClient({});
  ec2 = new EC2Client({});
  outputs = await createBatchStack(aws);
  ({ inputs, combine, seqBytes } = await sequentialFixture(dir, 300, 260));
});

after(async () => {
  ecs?.destroy();
  ec2?.destroy();
  await aws?.close();
  restoreEnv?.();
  rmSync(dir, { recursive: true, force: true });
});

function controls(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    windowXSize: 64,
    windowYSize: 64,
    concurrency: {
      computeWorkerKind: 'CW_ECS',
      numComputeWorkers: 3,
      computeBarrierTimeout: 60,
      computeWorkerExtraParams: { channelAddress: '127.0.0.1', heartbeatSeconds: 0.5, workerLostSeconds: 4, pollSeconds: 0.2, ...extra },
    },
  };
}

/** RIOS's Fargate shape: a cluster and task definition for the run, RunTask in the stack's network. */
function fargate(name: string): Record<string, unknown> {
  return {
    create_cluster: { clusterName: name, tags: [{ key: 'RIOS-cluster', value: '' }] },
    register_task_definition: {
      family: `${name}_task`,
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '1024',
      memory: '2048',
      containerDefinitions: [{ name: `${name}_container`, image: `${outputs.BatchECR!}:latest` }],
    },
    run_task: {
      launchType: 'FARGATE',
      cluster: name,
      networkConfiguration: {
        awsvpcConfiguration: { subnets: outputs.BatchPrivateSubnets!.split(','), securityGroups: [outputs.BatchSecurityGroup!], assignPublicIp: 'DISABLED' },
      },
      overrides: { containerOverrides: [{ name: `${name}_container` }] },
    },
  };
}

/** RIOS's private-cluster shape: instances that join the run's cluster, EC2 tasks on them. */
function privateCluster(name: string): Record<string, unknown> {
  const f = fargate(name) as { register_task_definition: Record<string, unknown>; run_task: Record<string, unknown> };
  return {
    waitClusterInstanceCountTimeout: 30,
    create_cluster: { clusterName: name },
    run_instances: {
      ImageId: 'ami-0123456789abcdef0',
      InstanceType: 'm5.large',
      MinCount: 1,
      MaxCount: 2,
      SubnetId: outputs.BatchPrivateSubnets!.split(',')[0],
      SecurityGroupIds: [outputs.BatchSecurityGroup!],
      IamInstanceProfile: { Arn: 'arn:aws:iam::000000000000:instance-profile/ecsInstanceRole' },
      UserData: `#!/bin/bash\necho ECS_CLUSTER=${name} >> /etc/ecs/ecs.config`,
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: 'RIOS-computeworkerinstance', Value: '' },
            { Key: 'RIOS-clustername', Value: name },
          ],
        },
      ],
    },
    register_task_definition: { ...f.register_task_definition, requiresCompatibilities: ['EC2'], cpu: undefined, memory: undefined },
    run_task: { ...f.run_task, launchType: 'EC2' },
  };
}

/** Python GDAL's comparison of two rasters: pixels, each overview level, band metadata (statistics, histogram). */
function sameRaster(a: string, b: string): { pixels: boolean; overviews: boolean[]; metadata: boolean } {
  return py(
    `
A = gdal.Open(args['a']); B = gdal.Open(args['b']); ba = A.GetRasterBand(1); bb = B.GetRasterBand(1)
out({'pixels': bool(np.array_equal(A.ReadAsArray(), B.ReadAsArray())),
     'overviews': [bool(np.array_equal(ba.GetOverview(i).ReadAsArray(), bb.GetOverview(i).ReadAsArray())) for i in range(ba.GetOverviewCount())],
     'metadata': ba.GetMetadata() == bb.GetMetadata()})
`,
    { a, b },
  );
}

/** makeExtraParamsPrivateCluster in the stack's network, with the stack's worker image. */
function helperPrivateCluster(jobName: string, numInstances: number): Record<string, unknown> {
  return makeExtraParamsPrivateCluster({
    jobName,
    numInstances,
    ami: 'ami-0123456789abcdef0',
    instanceType: 'm5.large',
    containerImage: `${outputs.BatchECR!}:latest`,
    subnet: outputs.BatchPrivateSubnets!.split(',')[0]!,
    securityGroups: [outputs.BatchSecurityGroup!],
    instanceProfileArn: 'arn:aws:iam::000000000000:instance-profile/ecsInstanceRole',
  });
}

/** What the endpoint still holds that a run made: clusters and task definitions not the stack's, instances not terminated. */
async function leftovers(): Promise<{ clusters: string[]; definitions: string[]; instances: string[] }> {
  const clusters = ((await ecs.send(new ListClustersCommand({}))).clusterArns ?? []).filter((a) => !a.endsWith(`/${outputs.EcsClusterName!}`));
  const definitions = ((await ecs.send(new ListTaskDefinitionsCommand({}))).taskDefinitionArns ?? []).filter((a) => a !== outputs.EcsWorkerTaskDefinitionArn);
  const r = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running'] }] }));
  const instances = (r.Reservations ?? []).flatMap((x) => (x.Instances ?? []).map((i) => i.InstanceId!));
  return { clusters, definitions, instances };
}

async function assertNothingLeft(): Promise<void> {
  assert.deepEqual(await leftovers(), { clusters: [], definitions: [], instances: [] }, 'no cluster, task definition or instance of the run is left');
  await waitFor(
    'every task process to exit',
    async () => aws.jobPids(),
    (p) => p.length === 0,
    10_000,
  );
}

describe('CW_ECS with RIOS-shaped computeWorkerExtraParams', () => {
  test('Fargate (makeExtraParamsFargate): a cluster and task definition made for the run; output identical to sequential; nothing left', async () => {
    const log = new EventLog();
    const out = path.join(dir, 'fargate.tif');
    const extra = makeExtraParamsFargate({
      jobName: 't1',
      containerImage: `${outputs.BatchECR!}:latest`,
      subnet: outputs.BatchPrivateSubnets!.split(',')[0]!,
      securityGroups: [outputs.BatchSecurityGroup!],
      executionRoleArn: 'arn:aws:iam::000000000000:role/exec',
      taskRoleArn: 'arn:aws:iam::000000000000:role/task',
      tags: { project: 'test' },
    });
    const family = (extra.register_task_definition as { family: string }).family;
    try {
      await apply(combine, inputs, { out }, { controls: controls(extra), otherArgs: { count: 0 } });
      assert.deepEqual(readFileSync(out), seqBytes, 'output byte-identical to the sequential run');
      assert.equal(log.of('launched').length, 3);
    } finally {
      log.close();
    }
    await assertNothingLeft();
    const inactive = (await ecs.send(new ListTaskDefinitionsCommand({ status: 'INACTIVE', familyPrefix: family }))).taskDefinitionArns;
    assert.equal(inactive?.length, 1, 'the run registered its task definition and deregistered it');
  });

  test('a private EC2 cluster (makeExtraParamsPrivateCluster): instances started for the run join it, EC2 tasks run there; all terminated and deleted after', async () => {
    const out = path.join(dir, 'private.tif');
    const extra = helperPrivateCluster('t2', 2);
    const cluster = (extra.create_cluster as { clusterName: string }).clusterName;
    await apply(combine, inputs, { out }, { controls: controls({ ...extra, waitClusterInstanceCountTimeout: 30 }), otherArgs: { count: 0 } });
    assert.deepEqual(readFileSync(out), seqBytes, 'output byte-identical to the sequential run');
    await assertNothingLeft();
    const tagged = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:RIOS-clustername', Values: [cluster] }] }));
    assert.equal(tagged.Reservations?.length, 2, "RIOS's instance tags were given to both instances");
  });

  /** The three ways, each with a name for what it makes. */
  const WAYS: [string, (n: string) => Record<string, unknown>][] = [
    ['the riots stack', () => ({})],
    ['Fargate, own cluster', (n) => fargate(n)],
    ['private EC2 cluster', (n) => privateCluster(n)],
  ];

  for (const [i, [way, params]] of WAYS.entries()) {
    test(`${way}: a run that fails part-way leaves nothing`, async () => {
      await assert.rejects(
        apply(failsOnBlock3, inputs, { out: path.join(dir, 'fails.tif') }, { controls: controls(params(`RIOS_f${i}_cluster`)) }),
        (e: unknown) => e instanceof UserFunctionError,
      );
      await assertNothingLeft();
    });

    test(`${way}: an interrupted run (AbortSignal) leaves nothing`, async () => {
      const log = new EventLog();
      const ac = new AbortController();
      log.on((e) => {
        if (e.event === 'launched') ac.abort(new InterruptedError('stopped by the test'));
      });
      try {
        await assert.rejects(
          apply(
            combine,
            inputs,
            { out: path.join(dir, 'interrupted.tif') },
            { controls: controls(params(`RIOS_i${i}_cluster`)), otherArgs: { count: 0 }, signal: ac.signal },
          ),
          (e: unknown) => e instanceof InterruptedError,
        );
      } finally {
        log.close();
      }
      await assertNothingLeft();
    });

    test(`${way}: a main process that calls process.exit() mid-run: 'riots batch cleanup' at exit removes what the run made`, async () => {
      const proj = path.join(dir, `dieproj${i}`);
      writeMainProject(proj, REPO_ROOT);
      writeFileSync(
        path.join(proj, 'dying.ts'),
        `import diagnostics from 'node:diagnostics_channel';
import { apply } from 'riots';
import { diff } from './fn.ts';
const [a, b, out, extra] = process.argv.slice(2);
diagnostics.subscribe('riots:workers', (m: any) => {
  if (m.event === 'launched') process.exit(7);
});
await apply(diff, { a: a!, b: b! }, { out: out! }, {
  controls: { windowXSize: 64, windowYSize: 64, concurrency: { computeWorkerKind: 'CW_ECS', numComputeWorkers: 2, computeBarrierTimeout: 120, computeWorkerExtraParams: { channelAddress: '127.0.0.1', pollSeconds: 0.2, ...JSON.parse(extra!) } } },
});
`,
      );
      const out = path.join(dir, 'died.tif');
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', path.join(proj, 'dying.ts'), inputs.a, inputs.b, out, JSON.stringify(params(`RIOS_x${i}_cluster`))],
          { cwd: proj, env: { ...process.env } },
          (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
        );
      });
      assert.equal(r.code, 7, r.stderr);
      assert.match(r.stderr, /riots: the jobs and tasks of run \S+ are stopped/, r.stderr);
      assert.equal(existsSync(out), false);
      await assertNothingLeft();
    });
  }

  test("'riots batch cleanup --run-id' finds what a run made by its tag, and removes it", async () => {
    const runId = 'riots-left-behind';
    const made = privateCluster('RIOS_t7_cluster') as { create_cluster: object; run_instances: object; register_task_definition: object };
    const r = new EcsRunResources(
      await loadEcs(),
      await loadEc2(),
      runId,
      {
        createCluster: made.create_cluster,
        runInstances: made.run_instances,
        registerTaskDefinition: made.register_task_definition,
      } as never,
      { instanceWaitSeconds: 20, pollSeconds: 0.1 },
    );
    await r.create();
    const cli = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/cli/main.ts'), 'batch', 'cleanup', ...args], {
        env: { ...process.env },
      });
    const dry = await cli(['--run-id', runId, '--dry-run']);
    assert.match(dry.stdout, /would remove cluster RIOS_t7_cluster \(run riots-left-behind\)/);
    assert.match(dry.stdout, /would remove task definition RIOS_t7_cluster_task:1 \(run riots-left-behind\)/);
    assert.equal(dry.stdout.match(/would remove instance i-/g)?.length, 2);
    assert.notDeepEqual(await leftovers(), { clusters: [], definitions: [], instances: [] }, 'a dry run removes nothing');
    const real = await cli(['--run-id', runId, '--cluster', 'RIOS_t7_cluster']);
    assert.match(real.stdout, /removed cluster RIOS_t7_cluster \(run riots-left-behind\)/);
    await assertNothingLeft();
  });

  test('W1-size work (two 6000 x 6000 inputs, 512 x 512 blocks), 3 workers, each of the three ways: identical to sequential, nothing left', async () => {
    const big = path.join(dir, 'w1');
    mkdirSync(big);
    const w1 = makeInputs(big, 6000, 6000);
    const window = { windowXSize: 512, windowYSize: 512 };
    const seq = path.join(big, 'seq.tif');
    await apply(combine, w1, { out: seq }, { controls: window, otherArgs: { count: 0 } });
    const ways: [string, Record<string, unknown>][] = [
      ['the riots stack', {}],
      [
        'Fargate, own cluster',
        makeExtraParamsFargate({
          jobName: 'w1f',
          containerImage: `${outputs.BatchECR!}:latest`,
          subnet: outputs.BatchPrivateSubnets!.split(',')[0]!,
          securityGroups: [outputs.BatchSecurityGroup!],
        }),
      ],
      ['private EC2 cluster', helperPrivateCluster('w1p', 3)],
    ];
    for (const [way, extra] of ways) {
      const out = path.join(big, `${way.replace(/\W+/g, '-')}.tif`);
      const c = controls(extra) as { concurrency: object };
      await apply(combine, w1, { out }, { controls: { ...c, ...window }, otherArgs: { count: 0 } });
      // at this size GTiff's multi-threaded compression writes tiles in the order they finish, so the
      // files' layouts differ: the pixels, every overview and the statistics must not (Python GDAL)
      assert.deepEqual(sameRaster(out, seq), { pixels: true, overviews: [true, true, true, true], metadata: true }, way);
      rmSync(out);
      await assertNothingLeft();
    }
    rmSync(big, { recursive: true, force: true });
  });

  test('settings that cannot work together are refused before anything starts', async () => {
    const bad = async (extra: Record<string, unknown>, re: RegExp): Promise<void> => {
      await assert.rejects(
        apply(combine, inputs, { out: path.join(dir, 'bad.tif') }, { controls: controls(extra), otherArgs: { count: 0 } }),
        (e: unknown) => e instanceof ControlsError && re.test(e.message),
      );
    };
    const f = fargate('RIOS_t4_cluster') as Record<string, Record<string, unknown>>;
    await bad({ ...f, cluster: 'other' }, /either as RIOS's run_task or with cluster, not both/);
    await bad({ ...f, run_task: { ...f.run_task, count: 3 } }, /computeWorkerExtraParams\.run_task\.count is not a setting of RunTask/);
    await bad({ ...f, run_task: { ...f.run_task, overrides: { containerOverrides: [{ name: 'x', command: ['rm'] }] } } }, /riots sets the worker's command/);
    await bad({ ...f, run_task: { ...f.run_task, taskDefinition: 'x:1' } }, /leave it out when register_task_definition registers one/);
    await bad(
      { run_instances: { ImageId: 'ami-1', MinCount: 1, MaxCount: 1 } },
      /run_instances starts instances for a cluster made for the run: give create_cluster too/,
    );
    await bad({ create_cluster: { clusterNmae: 'x' } }, /create_cluster\.clusterNmae is not a setting of CreateCluster \(did you mean clusterName\?\)/);
    await assertNothingLeft();
  });
});
