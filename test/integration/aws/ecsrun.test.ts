/**
 * What a CW_ECS run makes for itself (src/aws/ecsrun.ts), through the real SDK clients against
 * the local endpoint: a cluster, instances joined to it and a task definition, all tagged with the
 * run id; everything gone after destroy(), and after a create() that fails part-way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeTaskDefinitionCommand, ListClustersCommand, ListTagsForResourceCommand } from '@aws-sdk/client-ecs';
import { startLocalAws, type LocalAws } from '../../../src/aws/local/server.js';
import { ec2 as loadEc2, ecs as loadEcs } from '../../../src/aws/clients.js';
import { EcsRunResources, type EcsRunParams } from '../../../src/aws/ecsrun.js';
import { AwsError } from '../../../src/errors.js';
import { clients, createBatchStack } from '../../helpers/localaws.js';

const REGION = 'ap-southeast-2';
let aws: LocalAws;
let c: ReturnType<typeof clients>;
let group: string;
let subnet: string;
const saved = { ...process.env };

before(async () => {
  aws = await startLocalAws({ region: REGION, startDelaySeconds: 0.05, stackDelaySeconds: 0.05, killGraceSeconds: 0.2 });
  Object.assign(process.env, { AWS_ENDPOINT_URL: aws.url, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  c = clients(aws.url, REGION);
  const out = await createBatchStack(aws);
  group = out.BatchSecurityGroup!;
  subnet = out.BatchPrivateSubnets!.split(',')[0]!;
});
after(async () => {
  process.env = saved;
  await aws?.close();
});

const privateCluster = (name: string, joins = name): EcsRunParams => ({
  createCluster: { clusterName: name },
  runInstances: {
    ImageId: 'ami-0123456789abcdef0',
    InstanceType: 'm5.large',
    MinCount: 2,
    MaxCount: 2,
    UserData: `#!/bin/bash\necho ECS_CLUSTER=${joins} >> /etc/ecs/ecs.config\n`,
    SubnetId: subnet,
    SecurityGroupIds: [group],
    TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'RIOS-computeworkerinstance', Value: name }] }],
  },
  registerTaskDefinition: {
    family: `${name}-worker`,
    requiresCompatibilities: ['EC2'],
    memory: '512',
    containerDefinitions: [{ name: 'worker', image: 'example.invalid/riots-worker:latest', essential: true }],
  },
});

async function resources(runId: string, params: EcsRunParams, instanceWaitSeconds = 10): Promise<EcsRunResources> {
  return new EcsRunResources(await loadEcs(REGION), await loadEc2(REGION), runId, params, { instanceWaitSeconds, pollSeconds: 0.05 });
}

async function instanceStates(runId: string): Promise<string[]> {
  const r = await c.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:riots-run-id', Values: [runId] }] }));
  return r.Reservations!.flatMap((x) => x.Instances!.map((i) => i.State!.Name!));
}

test('a private cluster: made, instances registered, everything tagged with the run id; destroy() leaves nothing', async () => {
  const r = await resources('run-a', privateCluster('priv-a'));
  const made = await r.create();
  assert.equal(made.cluster, 'priv-a');
  assert.equal(made.instanceIds.length, 2);
  const clusterArn = (await c.ecs.send(new ListClustersCommand({}))).clusterArns!.find((a) => a.endsWith('/priv-a'))!;
  assert.deepEqual((await c.ecs.send(new ListTagsForResourceCommand({ resourceArn: clusterArn }))).tags, [{ key: 'riots-run-id', value: 'run-a' }]);
  assert.deepEqual((await c.ecs.send(new ListTagsForResourceCommand({ resourceArn: made.taskDefinitionArn! }))).tags, [
    { key: 'riots-run-id', value: 'run-a' },
  ]);
  assert.deepEqual(await instanceStates('run-a'), ['running', 'running']);
  const tagged = await c.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:RIOS-computeworkerinstance', Values: ['priv-a'] }] }));
  assert.equal(tagged.Reservations!.length, 2, "the user's own instance tags kept beside the run's");

  const defArn = made.taskDefinitionArn!;
  assert.deepEqual(await r.destroy(), []);
  assert.deepEqual(r.made, { instanceIds: [] }, 'nothing is left on the record');
  assert.ok(!(await c.ecs.send(new ListClustersCommand({}))).clusterArns!.some((a) => a.endsWith('/priv-a')));
  assert.ok((await instanceStates('run-a')).every((s) => s === 'shutting-down' || s === 'terminated'));
  assert.equal((await c.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: defArn }))).taskDefinition!.status, 'INACTIVE');
  assert.deepEqual(await r.destroy(), [], 'a second destroy() has nothing left to do');
});

test('a create() that fails part-way undoes what it made: a bad task definition; instances that never join', async () => {
  const bad = privateCluster('priv-b');
  bad.registerTaskDefinition = { ...bad.registerTaskDefinition!, requiresCompatibilities: ['FARGATE'], networkMode: 'bridge', cpu: '256' };
  const r = await resources('run-b', bad);
  await assert.rejects(r.create(), (e: unknown) => e instanceof AwsError && /Fargate only supports network mode 'awsvpc'/.test(e.message));
  assert.ok(!(await c.ecs.send(new ListClustersCommand({}))).clusterArns!.some((a) => a.endsWith('/priv-b')));
  assert.ok((await instanceStates('run-b')).every((s) => s !== 'running' && s !== 'pending'));

  const lost = await resources('run-c', privateCluster('priv-c', 'some-other-cluster'), 0.5);
  await assert.rejects(
    lost.create(),
    (e: unknown) =>
      e instanceof AwsError && /waited 0\.5 s for the instances of cluster priv-c to register with it \(2 expected, 0 registered\)/.test(e.message),
  );
  assert.ok(!(await c.ecs.send(new ListClustersCommand({}))).clusterArns!.some((a) => a.endsWith('/priv-c')));
  assert.ok((await instanceStates('run-c')).every((s) => s !== 'running' && s !== 'pending'));

  await assert.rejects(
    resources('run-d', { runInstances: privateCluster('x').runInstances! }),
    /run_instances starts instances for a cluster made for the run: give create_cluster too/,
  );
});
