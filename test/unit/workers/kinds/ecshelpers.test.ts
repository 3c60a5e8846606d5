/**
 * makeExtraParamsFargate / makeExtraParamsPrivateCluster: the settings RIOS's helpers make, in
 * riots' names; what each needs is refused when missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeExtraParamsFargate, makeExtraParamsPrivateCluster } from '../../../../src/workers/kinds/ecshelpers.js';
import { ecsSettings } from '../../../../src/workers/kinds/ecs.js';

// the settings' JSON, walked freely below
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const common = { containerImage: 'acct.dkr.ecr.r.amazonaws.com/w:latest', securityGroups: ['sg-1'], executionRoleArn: 'arn:exec', taskRoleArn: 'arn:task' };

test('Fargate: a cluster, an awsvpc Fargate task definition and RunTask in the subnet, names sharing the job id; ecsSettings takes them', () => {
  const p = makeExtraParamsFargate({
    ...common,
    jobName: 'ndvi',
    subnet: 'subnet-1',
    cpu: '1024',
    memory: '2048',
    cpuArchitecture: 'ARM64',
    tags: { team: 'rs' },
  }) as Obj;
  const cluster = p.create_cluster.clusterName as string;
  assert.match(cluster, /^riots-ndvi-[0-9a-f]{8}-cluster$/);
  assert.deepEqual(p.create_cluster.tags, [
    { key: 'RIOS-cluster', value: '' },
    { key: 'team', value: 'rs' },
  ]);
  assert.equal(p.run_task.cluster, cluster);
  assert.equal(p.run_task.launchType, 'FARGATE');
  assert.deepEqual(p.run_task.networkConfiguration.awsvpcConfiguration, { assignPublicIp: 'DISABLED', subnets: ['subnet-1'], securityGroups: ['sg-1'] });
  const def = p.register_task_definition;
  assert.deepEqual(
    [def.networkMode, def.requiresCompatibilities, def.cpu, def.memory, def.runtimePlatform],
    ['awsvpc', ['FARGATE'], '1024', '2048', { cpuArchitecture: 'ARM64' }],
  );
  assert.equal(def.containerDefinitions[0].name, p.run_task.overrides.containerOverrides[0].name);
  assert.deepEqual([def.executionRoleArn, def.taskRoleArn], ['arn:exec', 'arn:task']);
  assert.ok(ecsSettings(p).rios.run_task, 'the settings parser takes what the helper makes');
  assert.notEqual(makeExtraParamsFargate({ ...common, subnet: 's' }).create_cluster, makeExtraParamsFargate({ ...common, subnet: 's' }).create_cluster);
});

test('a private cluster: instances joining the cluster by their user data, with RIOS tags; an EC2 task definition', () => {
  const p = makeExtraParamsPrivateCluster({
    ...common,
    numInstances: 3,
    ami: 'ami-1',
    instanceType: 'c6i.large',
    subnet: 'subnet-2',
    instanceProfileArn: 'arn:profile',
  }) as Obj;
  const cluster = p.create_cluster.clusterName as string;
  assert.equal(p.run_instances.MaxCount, 3);
  assert.match(p.run_instances.UserData, new RegExp(`echo ECS_CLUSTER=${cluster} >> /etc/ecs/ecs.config`));
  assert.deepEqual(p.run_instances.TagSpecifications[0].Tags, [
    { Key: 'RIOS-computeworkerinstance', Value: '' },
    { Key: 'RIOS-clustername', Value: cluster },
  ]);
  assert.deepEqual(p.run_instances.IamInstanceProfile, { Arn: 'arn:profile' });
  assert.equal(p.run_task.launchType, 'EC2');
  assert.equal(p.register_task_definition.containerDefinitions[0].memoryReservation, 1024);
  assert.equal(p.waitClusterInstanceCountTimeout, 300);
  assert.ok(ecsSettings(p).rios.run_instances);
});

test('what each needs is refused when missing', () => {
  assert.throws(() => makeExtraParamsFargate({ ...common }), /makeExtraParamsFargate: give subnet \(or the older subnets\), not both/);
  assert.throws(() => makeExtraParamsFargate({ ...common, subnet: 'a', subnets: ['b'] }), /not both/);
  assert.throws(() => makeExtraParamsFargate({ securityGroups: ['x'], subnet: 'a' } as never), /give containerImage/);
  assert.throws(() => makeExtraParamsPrivateCluster({ ...common, ami: 'a', instanceType: 't', subnet: 's' } as never), /give numInstances, instanceProfileArn/);
  assert.throws(() => makeExtraParamsFargate({ ...common, subnet: 's', jobName: 'bad name' }), /jobName must be letters/);
  const saved = process.env.AWS_REGION;
  delete process.env.AWS_REGION;
  delete process.env.AWS_DEFAULT_REGION;
  try {
    assert.throws(() => makeExtraParamsFargate({ ...common, subnet: 's', cloudwatchLogGroup: '/riots' }), /cloudwatchLogGroup needs the region/);
    const withLogs = makeExtraParamsFargate({ ...common, subnet: 's', cloudwatchLogGroup: '/riots', region: 'eu-west-1' }) as Obj;
    assert.deepEqual(withLogs.register_task_definition.containerDefinitions[0].logConfiguration.options['awslogs-region'], 'eu-west-1');
  } finally {
    if (saved !== undefined) process.env.AWS_REGION = saved;
  }
});
