/**
 * Clusters and task definitions a run makes for itself, on the local endpoint (src/aws/local/
 * ecsadmin.ts), through the real @aws-sdk/client-ecs: created, tagged, listed, refused where AWS
 * refuses (a cluster with active tasks, a deregistered revision, a Fargate definition without
 * awsvpc or task-level sizes), and gone after clean-up.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateClusterCommand,
  DeleteClusterCommand,
  DeregisterTaskDefinitionCommand,
  DescribeClustersCommand,
  DescribeTasksCommand,
  ListClustersCommand,
  ListTagsForResourceCommand,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type RegisterTaskDefinitionCommandInput,
} from '@aws-sdk/client-ecs';
import { DescribeInstancesCommand, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { ACCOUNT_ID } from '../../../../src/aws/local/state.js';
import { clients, createBatchStack, waitFor } from '../../../helpers/localaws.js';

const REGION = 'ap-southeast-2';
let aws: LocalAws;
let c: ReturnType<typeof clients>;
let subnet: string;
let group: string;

before(async () => {
  aws = await startLocalAws({ region: REGION, startDelaySeconds: 0.05, stackDelaySeconds: 0.01, killGraceSeconds: 0.2 });
  c = clients(aws.url, REGION);
  const out = await createBatchStack(aws);
  subnet = out.BatchPrivateSubnets!.split(',')[0]!;
  group = out.BatchSecurityGroup!;
});
after(async () => aws?.close());

const refusal = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a refusal, got success');
};

const fargate = (family: string, extra: Partial<RegisterTaskDefinitionCommandInput> = {}): RegisterTaskDefinitionCommandInput => ({
  family,
  networkMode: 'awsvpc',
  requiresCompatibilities: ['FARGATE'],
  cpu: '512',
  memory: '1024',
  containerDefinitions: [{ name: 'worker', image: 'example.invalid/riots-worker:latest', essential: true }],
  tags: [{ key: 'riots-run-id', value: 'r1' }],
  ...extra,
});

test('CreateCluster / DeleteCluster: tagged, idempotent by name, refused while a task is active, gone after', async () => {
  const made = await c.ecs.send(
    new CreateClusterCommand({ clusterName: 'rios-run-1', capacityProviders: ['FARGATE'], tags: [{ key: 'riots-run-id', value: 'r1' }] }),
  );
  const arn = made.cluster!.clusterArn!;
  assert.equal(arn, `arn:aws:ecs:${REGION}:${ACCOUNT_ID}:cluster/rios-run-1`);
  assert.equal((await c.ecs.send(new CreateClusterCommand({ clusterName: 'rios-run-1' }))).cluster!.clusterArn, arn, 'the same name gives the same cluster');
  assert.deepEqual((await c.ecs.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags, [{ key: 'riots-run-id', value: 'r1' }]);
  assert.ok((await c.ecs.send(new ListClustersCommand({}))).clusterArns!.includes(arn));
  const described = (await c.ecs.send(new DescribeClustersCommand({ clusters: ['rios-run-1'] }))).clusters![0]!;
  assert.deepEqual([described.status, described.registeredContainerInstancesCount, described.capacityProviders], ['ACTIVE', 0, ['FARGATE']]);
  assert.match((await refusal(c.ecs.send(new CreateClusterCommand({ clusterName: 'bad name' })))).message, /Cluster name may have up to 255 letters/);

  const def = (await c.ecs.send(new RegisterTaskDefinitionCommand(fargate('rios-run-1-worker')))).taskDefinition!;
  const run = await c.ecs.send(
    new RunTaskCommand({
      cluster: 'rios-run-1',
      taskDefinition: def.taskDefinitionArn,
      launchType: 'FARGATE',
      networkConfiguration: { awsvpcConfiguration: { subnets: [subnet], securityGroups: [group] } },
    }),
  );
  const task = run.tasks![0]!.taskArn!;
  const busy = await refusal(c.ecs.send(new DeleteClusterCommand({ cluster: 'rios-run-1' })));
  assert.equal(busy.name, 'ClusterContainsTasksException');
  await c.ecs.send(new StopTaskCommand({ cluster: 'rios-run-1', task, reason: 'test' }));
  await waitFor(
    'the task to stop',
    async () => (await c.ecs.send(new DescribeTasksCommand({ cluster: 'rios-run-1', tasks: [task] }))).tasks![0]!.lastStatus,
    (s) => s === 'STOPPED',
  );
  const deleted = await c.ecs.send(new DeleteClusterCommand({ cluster: arn }));
  assert.equal(deleted.cluster!.status, 'INACTIVE');
  assert.ok(!(await c.ecs.send(new ListClustersCommand({}))).clusterArns!.includes(arn));
  const gone = await c.ecs.send(new DescribeClustersCommand({ clusters: [arn] }));
  assert.deepEqual([gone.clusters, gone.failures![0]!.reason], [[], 'MISSING']);
  assert.equal((await refusal(c.ecs.send(new DeleteClusterCommand({ cluster: arn })))).name, 'ClusterNotFoundException');
});

test('RegisterTaskDefinition / DeregisterTaskDefinition: revisions, tags, Fargate checks; a deregistered revision cannot run', async () => {
  const one = (await c.ecs.send(new RegisterTaskDefinitionCommand(fargate('fam-a')))).taskDefinition!;
  const two = (await c.ecs.send(new RegisterTaskDefinitionCommand(fargate('fam-a')))).taskDefinition!;
  assert.deepEqual([one.revision, two.revision, two.status], [1, 2, 'ACTIVE']);
  assert.deepEqual((await c.ecs.send(new ListTagsForResourceCommand({ resourceArn: two.taskDefinitionArn }))).tags, [{ key: 'riots-run-id', value: 'r1' }]);
  const bridge = await refusal(c.ecs.send(new RegisterTaskDefinitionCommand(fargate('fam-b', { networkMode: 'bridge' }))));
  assert.match(bridge.message, /Fargate only supports network mode 'awsvpc'/);
  assert.match(
    (await refusal(c.ecs.send(new RegisterTaskDefinitionCommand(fargate('fam-b', { cpu: undefined }))))).message,
    /cpu and memory be defined at the task level/,
  );
  assert.match(
    (await refusal(c.ecs.send(new RegisterTaskDefinitionCommand(fargate('fam-b', { containerDefinitions: [] }))))).message,
    /Container list cannot be empty/,
  );

  assert.match((await refusal(c.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: 'fam-a' })))).message, /must include a revision/);
  const dereg = await c.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: one.taskDefinitionArn }));
  assert.equal(dereg.taskDefinition!.status, 'INACTIVE');
  const listed = async (status?: 'ACTIVE' | 'INACTIVE'): Promise<string[]> =>
    (await c.ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: 'fam-a', ...(status ? { status } : {}) }))).taskDefinitionArns!;
  assert.deepEqual(await listed(), [two.taskDefinitionArn]);
  assert.deepEqual(await listed('INACTIVE'), [one.taskDefinitionArn]);

  const cluster = (await c.ecs.send(new CreateClusterCommand({ clusterName: 'fam-cluster' }))).cluster!.clusterArn!;
  const net = { awsvpcConfiguration: { subnets: [subnet], securityGroups: [group] } };
  const inactive = await refusal(c.ecs.send(new RunTaskCommand({ cluster, taskDefinition: 'fam-a:1', launchType: 'FARGATE', networkConfiguration: net })));
  assert.match(inactive.message, /TaskDefinition is inactive/);
  await c.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: 'fam-a:2' }));
  assert.match(
    (await refusal(c.ecs.send(new RunTaskCommand({ cluster, taskDefinition: 'fam-a', launchType: 'FARGATE', networkConfiguration: net })))).message,
    /TaskDefinition is inactive/,
    'a family whose every revision is deregistered cannot run',
  );
  assert.deepEqual(await listed(), []);
  await c.ecs.send(new DeleteClusterCommand({ cluster }));
});

test('a private EC2 cluster: instances join the cluster their user data names, EC2 tasks run on it, and it can be deleted only once they are terminated', async () => {
  const cluster = (await c.ecs.send(new CreateClusterCommand({ clusterName: 'priv-1' }))).cluster!.clusterArn!;
  const ec2def = (
    await c.ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'priv-1-worker',
        requiresCompatibilities: ['EC2'],
        memory: '512',
        containerDefinitions: [{ name: 'worker', image: 'example.invalid/riots-worker:latest', essential: true }],
      }),
    )
  ).taskDefinition!;
  const none = await refusal(c.ecs.send(new RunTaskCommand({ cluster, taskDefinition: ec2def.taskDefinitionArn, launchType: 'EC2' })));
  assert.match(none.message, /No Container Instances were found in your cluster/);

  const userData = Buffer.from('#!/bin/bash\necho ECS_CLUSTER=priv-1 >> /etc/ecs/ecs.config\n').toString('base64');
  const run = await c.ec2.send(
    new RunInstancesCommand({
      ImageId: 'ami-0123456789abcdef0',
      InstanceType: 'm5.large',
      MinCount: 2,
      MaxCount: 2,
      UserData: userData,
      SubnetId: subnet,
      SecurityGroupIds: [group],
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'RIOS-computeworkerinstance', Value: 'priv-1' }] }],
    }),
  );
  const ids = run.Instances!.map((i) => i.InstanceId!);
  assert.equal(ids.length, 2);
  assert.deepEqual(
    run.Instances!.map((i) => i.State!.Name),
    ['pending', 'pending'],
  );
  const count = async (): Promise<number> =>
    (await c.ecs.send(new DescribeClustersCommand({ clusters: [cluster] }))).clusters![0]!.registeredContainerInstancesCount!;
  await waitFor('both instances to join the cluster', count, (n) => n === 2);
  const tagged = await c.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:RIOS-computeworkerinstance', Values: ['priv-1'] }] }));
  assert.deepEqual(tagged.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId)).sort(), [...ids].sort());

  const task = (await c.ecs.send(new RunTaskCommand({ cluster, taskDefinition: ec2def.taskDefinitionArn, launchType: 'EC2' }))).tasks![0]!.taskArn!;
  await c.ecs.send(new StopTaskCommand({ cluster, task, reason: 'test' }));
  await waitFor(
    'the EC2 task to stop',
    async () => (await c.ecs.send(new DescribeTasksCommand({ cluster, tasks: [task] }))).tasks![0]!.lastStatus,
    (s) => s === 'STOPPED',
  );
  assert.equal((await refusal(c.ecs.send(new DeleteClusterCommand({ cluster })))).name, 'ClusterContainsContainerInstancesException');

  const term = await c.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  assert.deepEqual(
    term.TerminatingInstances!.map((i) => [i.PreviousState!.Name, i.CurrentState!.Name]),
    [
      ['running', 'shutting-down'],
      ['running', 'shutting-down'],
    ],
  );
  assert.equal(await count(), 0, 'terminated instances leave the cluster');
  await waitFor(
    'the instances to be terminated',
    async () => (await c.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }))).Reservations!.flatMap((r) => r.Instances!.map((i) => i.State!.Name)),
    (s) => s.every((x) => x === 'terminated'),
  );
  await c.ecs.send(new DeleteClusterCommand({ cluster }));
  assert.equal((await refusal(c.ec2.send(new TerminateInstancesCommand({ InstanceIds: ['i-0000000000000dead'] })))).name, 'InvalidInstanceID.NotFound');
  assert.equal(
    (await refusal(c.ec2.send(new RunInstancesCommand({ ImageId: 'ami-1', MinCount: 1, MaxCount: 1, SecurityGroupIds: ['sg-nope'] })))).name,
    'InvalidGroup.NotFound',
  );
});
