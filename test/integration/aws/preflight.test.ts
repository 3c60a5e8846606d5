/**
 * `riots batch preflight` against the local endpoint: one passing case, then one failing case
 * per check, each made by changing the endpoint's state the way AWS could be wrong.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloudFormationClient, CreateStackCommand, DeleteStackCommand } from '@aws-sdk/client-cloudformation';
import { startLocalAws, type LocalAws } from '../../../src/aws/local/server.js';
import { ARCH_CHECK, CHANNEL_PORTS, hasSelfChannelRule } from '../../../src/aws/preflight.js';
import { runRiots } from '../../helpers/batchtools.js';

/** preflight's lines as {check text -> state}. */
function states(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const x = /^(PASS|FAIL|SKIP)\s+([^:]+):/.exec(line);
    if (x) m.set(x[2]!, x[1]!);
  }
  return m;
}

const CHECKS = {
  outputs: 'stack outputs exist',
  sg: 'security group allows TCP 30000-50000 from itself',
  queues: 'job queues are VALID and ENABLED',
  envs: 'compute environments are VALID and ENABLED',
  ecs: 'ECS cluster and worker task definition are ACTIVE (CW_ECS)',
  worker: 'worker image is pushed to BatchECR as latest',
};
const MAIN_IMAGE = 'main image is pushed to BatchECRMain as latest';

test('hasSelfChannelRule: only a self rule covering the whole range counts', () => {
  const sg = 'sg-1';
  const self = [{ GroupId: sg }];
  assert.equal(hasSelfChannelRule([{ IpProtocol: 'tcp', FromPort: 30000, ToPort: 50000, UserIdGroupPairs: self }], sg), true);
  assert.equal(hasSelfChannelRule([{ IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, UserIdGroupPairs: self }], sg), true);
  assert.equal(hasSelfChannelRule([{ IpProtocol: '-1', UserIdGroupPairs: self }], sg), true);
  assert.equal(hasSelfChannelRule([{ IpProtocol: 'tcp', FromPort: 30000, ToPort: 40000, UserIdGroupPairs: self }], sg), false);
  assert.equal(hasSelfChannelRule([{ IpProtocol: 'udp', FromPort: 30000, ToPort: 50000, UserIdGroupPairs: self }], sg), false);
  assert.equal(hasSelfChannelRule([{ IpProtocol: 'tcp', FromPort: 30000, ToPort: 50000, UserIdGroupPairs: [{ GroupId: 'sg-2' }] }], sg), false);
  assert.equal(hasSelfChannelRule([], sg), false);
});

describe('riots batch preflight', () => {
  let aws: LocalAws;
  let cfn: CloudFormationClient;
  const preflight = (args: string[] = []) => runRiots(['batch', 'preflight', ...args], aws.env);

  before(async () => {
    aws = await startLocalAws({ stackDelaySeconds: 0.2 });
    const r = await runRiots(['batch', 'create', '--wait', '--poll', '0.1', '--timeout', '60', '--maxvcpus', '8', '--vcpus', '2'], aws.env);
    assert.equal(r.code, 0, r.stderr);
    cfn = new CloudFormationClient({ endpoint: aws.url, region: aws.region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  });

  after(async () => {
    cfn?.destroy();
    await aws?.close();
  });

  test('passes on a fresh stack', async () => {
    const r = await preflight(['--workers', '4']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const s = states(r.stdout);
    for (const name of Object.values(CHECKS)) assert.equal(s.get(name), 'PASS', name);
    assert.equal(s.get('worker limit allows 4 compute workers'), 'PASS');
    assert.match(r.stdout, /BatchMaxVCPUS 8 \/ BatchVCPUS 2 = 4/);
    assert.match(r.stdout, /ACTIVE \(CW_ECS\): riosEcsCluster, riosEcsWorker:1, 1024 CPU units, 4096 MiB/);
    // the local endpoint runs the worker image from aws/Dockerfile, as if it had been pushed;
    // no main Dockerfile was given, so there is no main image: only submit-main needs one
    assert.equal(s.get(MAIN_IMAGE), 'SKIP');
    assert.match(r.stdout, /no image tagged latest in \S+riosecrmain: needed only for 'riots batch submit-main'/);
    // images registered without a registry (process mode) have no manifest: their architecture cannot be read
    assert.equal(s.get(ARCH_CHECK), 'SKIP');
    assert.match(r.stdout, /SKIP {2}images are built for the stack's architecture: no pushed image with a manifest to read/);
    assert.match(r.stdout, /no check failed; 2 skipped/);
  });

  test('fails when the worker repository has no image tagged latest; passes once it is pushed', async () => {
    const repo = aws.state.repositories.get('riosecr')!;
    try {
      aws.putImage('riosecr', 'v1');
      let r = await preflight();
      assert.equal(r.code, 1);
      assert.equal(states(r.stdout).get(CHECKS.worker), 'FAIL');
      assert.match(r.stdout, /no image tagged latest in \S+riosecr: every job would fail to pull it; build and push it with 'riots batch build-image --push'/);
      aws.putImage('riosecr', 'latest');
      aws.putImage('riosecrmain', 'latest');
      r = await preflight();
      assert.equal(r.code, 0, r.stdout);
      assert.equal(states(r.stdout).get(CHECKS.worker), 'PASS');
      assert.equal(states(r.stdout).get(MAIN_IMAGE), 'PASS');
      assert.match(r.stdout, /riosecrmain:latest, pushed \d{4}-/);
      assert.match(r.stdout, /no check failed; 1 skipped/, 'only the architecture check, which needs manifests');
    } finally {
      repo.images.clear();
      aws.state.repositories.get('riosecrmain')!.images.clear();
    }
  });

  test('fails the worker limit when more workers are asked for than MaxVCPUS/VCPUS', async () => {
    const r = await preflight(['--workers', '5']);
    assert.equal(r.code, 1);
    const s = states(r.stdout);
    assert.equal(s.get('worker limit allows 5 compute workers'), 'FAIL');
    assert.equal(s.get(CHECKS.sg), 'PASS', 'the other checks still pass');
    assert.match(r.stdout, /= 4 < 5/);
  });

  test('fails without the security group self rule for the channel ports, or with a narrower one', async () => {
    const group = [...aws.state.securityGroups.values()].find((g) => g.stackName === 'RIOS')!;
    const saved = group.ingress.map((r) => ({ ...r }));
    assert.ok(
      saved.some((r) => r.sourceGroupId === group.id && r.fromPort === CHANNEL_PORTS.from),
      'the template made the rule',
    );
    try {
      group.ingress = [];
      let r = await preflight();
      assert.equal(r.code, 1);
      assert.equal(states(r.stdout).get(CHECKS.sg), 'FAIL');
      assert.match(r.stdout, new RegExp(`${group.id} has no inbound rule for TCP 30000-50000 from ${group.id}`));
      group.ingress = saved.map((x) => ({ ...x, toPort: 40000 }));
      r = await preflight();
      assert.equal(states(r.stdout).get(CHECKS.sg), 'FAIL');
    } finally {
      group.ingress = saved;
    }
    assert.equal((await preflight()).code, 0);
  });

  test('fails when a queue is DISABLED', async () => {
    aws.setQueueState('riosJobQueueMain', 'DISABLED');
    try {
      const r = await preflight();
      assert.equal(r.code, 1);
      assert.equal(states(r.stdout).get(CHECKS.queues), 'FAIL');
      assert.match(r.stdout, /riosJobQueueMain is VALID\/DISABLED/);
      assert.equal(states(r.stdout).get(CHECKS.envs), 'PASS');
    } finally {
      aws.setQueueState('riosJobQueueMain', 'ENABLED');
    }
  });

  test('fails when a compute environment is INVALID', async () => {
    const ce = [...aws.state.computeEnvironments.values()].find((c) => c.stackName === 'RIOS' && c.name.includes('Worker'))!;
    ce.status = 'INVALID';
    try {
      const r = await preflight();
      assert.equal(r.code, 1);
      assert.equal(states(r.stdout).get(CHECKS.envs), 'FAIL');
      assert.match(r.stdout, new RegExp(`${ce.name} is INVALID/ENABLED`));
      assert.equal(states(r.stdout).get(CHECKS.queues), 'PASS');
    } finally {
      ce.status = 'VALID';
    }
  });

  test('fails when the stack does not exist, and skips what needs it', async () => {
    const r = await preflight(['--stackname', 'Missing']);
    assert.equal(r.code, 1);
    const s = states(r.stdout);
    assert.equal(s.get(CHECKS.outputs), 'FAIL');
    assert.match(r.stdout, /stack 'Missing' in region .* does not exist/);
    assert.deepEqual([...s.values()].filter((x) => x === 'SKIP').length, 8, 'every other check');
  });

  test('fails when the ECS cluster is gone, or the task definition has lost its container', async () => {
    const cluster = aws.state.ecsClusters.get('riosEcsCluster')!;
    aws.state.ecsClusters.delete('riosEcsCluster');
    try {
      const r = await preflight();
      assert.equal(r.code, 1);
      assert.equal(states(r.stdout).get(CHECKS.ecs), 'FAIL');
      assert.match(r.stdout, /cluster riosEcsCluster is MISSING/);
      assert.equal(states(r.stdout).get(CHECKS.queues), 'PASS', 'the Batch checks still pass');
    } finally {
      aws.state.ecsClusters.set('riosEcsCluster', cluster);
    }
    const def = aws.state.findTaskDefinition('riosEcsWorker')!;
    const containers = def.containers;
    def.containers = containers.map((c) => ({ ...c, name: 'other' }));
    try {
      const r = await preflight();
      assert.equal(states(r.stdout).get(CHECKS.ecs), 'FAIL');
      assert.match(r.stdout, /has no container 'worker'/);
    } finally {
      def.containers = containers;
    }
    assert.equal((await preflight()).code, 0);
  });

  test('fails when the stack lacks a worker output (a stack of your own)', async () => {
    const template = [
      'Resources:',
      '  Repo:',
      '    Type: AWS::ECR::Repository',
      '    Properties: { RepositoryName: partialecr }',
      'Outputs:',
      '  BatchProcessingJobQueueName: { Value: someQueue }',
      '  BatchVCPUS: { Value: "1" }',
      '  BatchMaxVCPUS: { Value: "4" }',
    ].join('\n');
    await cfn.send(new CreateStackCommand({ StackName: 'Partial', TemplateBody: template }));
    try {
      let r = await preflight(['--stackname', 'Partial']);
      for (let i = 0; i < 100 && /CREATE_IN_PROGRESS/.test(r.stdout); i++) r = await preflight(['--stackname', 'Partial']);
      assert.equal(r.code, 1);
      assert.equal(states(r.stdout).get(CHECKS.outputs), 'FAIL');
      assert.match(r.stdout, /has no output 'BatchProcessingJobDefinitionName'/);
    } finally {
      await cfn.send(new DeleteStackCommand({ StackName: 'Partial' }));
    }
  });
});
