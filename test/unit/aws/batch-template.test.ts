/**
 * aws/batch.yaml against the CloudFormation resource specification (@aws-cdk/cfnspec), and the
 * parameters, resources and outputs riots relies on. Mutated copies show the checks can fail.
 */
import { REPO_ROOT } from '../../helpers/root.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseTemplate } from '../../../src/aws/local/cfnyaml.js';
import { TemplateEvaluator, resolveParameters } from '../../../src/aws/local/template.js';
import { checkTemplate, loadSpec } from '../../helpers/cfnspec-check.js';
import path from 'node:path';

const TEMPLATE_PATH = path.join(REPO_ROOT, 'aws', 'batch.yaml');
const text = readFileSync(TEMPLATE_PATH, 'utf8');
const spec = loadSpec();
// the template's YAML, walked freely by the mutations below
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;
const fresh = (): Obj => parseTemplate(text);
const resourcesOfType = (t: Obj, type: string): Obj[] => Object.values(t.Resources as Obj).filter((r: Obj) => r.Type === type);

const REQUIRED_OUTPUTS = [
  'BatchProcessingJobQueueName',
  'BatchProcessingJobDefinitionName',
  'BatchVCPUS',
  'BatchMaxVCPUS',
  'BatchProcessingJobQueueNameMain',
  'BatchProcessingJobDefinitionMainName',
  'BatchProcessingJobQueueArn',
  'BatchProcessingJobQueueMainArn',
  'BatchProcessingJobDefinitionArn',
  'BatchProcessingJobDefinitionMainArn',
  'BatchECR',
  'BatchECRMain',
  'BatchVPC',
  'BatchComputeEnvironment',
  'BatchComputeEnvironmentMain',
  'BatchSecurityGroup',
  'EcsClusterName',
  'EcsWorkerTaskDefinitionArn',
  'EcsWorkerContainerName',
];

describe('aws/batch.yaml', () => {
  it('passes the resource specification: types, properties, required properties, references', () => {
    assert.deepEqual(checkTemplate(fresh(), spec), []);
  });

  it('declares the parameters with the RIOS defaults', () => {
    const p = fresh().Parameters as Obj;
    assert.deepEqual(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String((v as Obj).Default)])), {
      ServiceName: 'rios',
      VCPUS: '1',
      MaxMemory: '4000',
      MaxVCPUS: '128',
      InstanceType: 'optimal',
      MainVolumeSize: '32',
      EcsCpu: '1024',
      EcsMemory: '4096',
      EcsCpuArchitecture: 'X86_64',
    });
    // A Graviton family is accepted as InstanceType.
    assert.equal(resolveParameters(fresh(), { InstanceType: 'm7g' }).InstanceType, 'm7g');
  });

  it('has the network: VPC with DNS, 3+3 subnets over 3 AZs, IGW, NAT, routes, S3 endpoint', () => {
    const t = fresh();
    const [vpc] = resourcesOfType(t, 'AWS::EC2::VPC');
    assert.equal(vpc!.Properties.EnableDnsSupport, true);
    assert.equal(vpc!.Properties.EnableDnsHostnames, true);
    const subnets = resourcesOfType(t, 'AWS::EC2::Subnet');
    assert.equal(subnets.length, 6);
    const azIndex = (s: Obj): number => s.Properties.AvailabilityZone['Fn::Select'][0];
    const pub = subnets.filter((s) => s.Properties.MapPublicIpOnLaunch === true);
    assert.deepEqual(pub.map(azIndex).sort(), [0, 1, 2]);
    assert.deepEqual(
      subnets
        .filter((s) => !pub.includes(s))
        .map(azIndex)
        .sort(),
      [0, 1, 2],
    );
    for (const s of subnets) assert.deepEqual(s.Properties.AvailabilityZone['Fn::Select'][1], { 'Fn::GetAZs': '' });
    assert.equal(resourcesOfType(t, 'AWS::EC2::InternetGateway').length, 1);
    assert.equal(resourcesOfType(t, 'AWS::EC2::VPCGatewayAttachment').length, 1);
    const [nat] = resourcesOfType(t, 'AWS::EC2::NatGateway');
    const natSubnet = (t.Resources as Obj)[nat!.Properties.SubnetId.Ref];
    assert.equal(natSubnet.Properties.MapPublicIpOnLaunch, true);
    assert.equal(azIndex(natSubnet), 0);
    assert.equal(resourcesOfType(t, 'AWS::EC2::SubnetRouteTableAssociation').length, 6);
    const [s3] = resourcesOfType(t, 'AWS::EC2::VPCEndpoint');
    assert.equal(s3!.Properties.VpcEndpointType, 'Gateway');
    assert.match(s3!.Properties.ServiceName['Fn::Sub'], /\.s3$/);
    const routes = resourcesOfType(t, 'AWS::EC2::Route');
    const privateTable = routes.find((r) => r.Properties.NatGatewayId)!.Properties.RouteTableId.Ref;
    assert.deepEqual(s3!.Properties.RouteTableIds, [{ Ref: privateTable }]);
  });

  it('has the security group rule TCP 30000-50000 from itself', () => {
    const t = fresh();
    const [rule] = resourcesOfType(t, 'AWS::EC2::SecurityGroupIngress');
    assert.equal(rule!.Properties.IpProtocol, 'tcp');
    assert.equal(rule!.Properties.FromPort, 30000);
    assert.equal(rule!.Properties.ToPort, 50000);
    assert.deepEqual(rule!.Properties.SourceSecurityGroupId, rule!.Properties.GroupId);
    assert.equal(typeOfTarget(t, rule!.Properties.GroupId), 'AWS::EC2::SecurityGroup');
  });

  it('has the ECR repositories with a 1-day expiry of untagged images', () => {
    const repos = resourcesOfType(fresh(), 'AWS::ECR::Repository');
    assert.deepEqual(repos.map((r) => r.Properties.RepositoryName['Fn::Sub']).sort(), ['${ServiceName}ecr', '${ServiceName}ecrmain']);
    for (const r of repos) {
      const policy = JSON.parse(r.Properties.LifecyclePolicy.LifecyclePolicyText);
      assert.deepEqual(policy.rules[0].selection, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 });
      assert.equal(policy.rules[0].action.type, 'expire');
    }
  });

  it('gives the instances ECS, CloudWatch, CloudFormation read-only, S3 and the batch job policy', () => {
    const t = fresh();
    const role = resourcesOfType(t, 'AWS::IAM::Role').find((r) => r.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service === 'ec2.amazonaws.com');
    const arns = role!.Properties.ManagedPolicyArns.map((a: Obj) => a['Fn::Sub'] ?? a.Ref);
    for (const m of ['AmazonEC2ContainerServiceforEC2Role', 'CloudWatch', 'AWSCloudFormationReadOnlyAccess', 'AmazonS3']) {
      assert.ok(
        arns.some((a: string) => a.includes(m)),
        `managed policy ${m}`,
      );
    }
    const [policy] = resourcesOfType(t, 'AWS::IAM::ManagedPolicy');
    assert.ok(arns.includes(Object.keys(t.Resources).find((k) => t.Resources[k] === policy)));
    assert.deepEqual(policy!.Properties.PolicyDocument.Statement[0].Action.sort(), [
      'batch:DescribeJobs',
      'batch:ListJobs',
      'batch:SubmitJob',
      'batch:TagResource',
      'batch:TerminateJob',
      'ecs:DescribeTasks',
      'ecs:ListTasks',
      'ecs:RunTask',
      'ecs:StopTask',
      'ecs:TagResource',
    ]);
    // a main job may hand the ECS task roles to the tasks it runs, and no other role
    const pass = policy!.Properties.PolicyDocument.Statement[1];
    assert.equal(pass.Action, 'iam:PassRole');
    assert.deepEqual(pass.Resource.map((r: Obj) => r['Fn::GetAtt'][0]).sort(), ['EcsExecutionRole', 'EcsTaskRole']);
    const [profile] = resourcesOfType(t, 'AWS::IAM::InstanceProfile');
    assert.equal(typeOfTarget(t, profile!.Properties.Roles[0]), 'AWS::IAM::Role');
  });

  it('has the ECS cluster and a Fargate task definition of the worker image for CW_ECS', () => {
    const t = fresh();
    const [cluster] = resourcesOfType(t, 'AWS::ECS::Cluster');
    assert.deepEqual(cluster!.Properties.CapacityProviders, ['FARGATE', 'FARGATE_SPOT']);
    const [td] = resourcesOfType(t, 'AWS::ECS::TaskDefinition');
    const p = td!.Properties;
    assert.deepEqual(p.RequiresCompatibilities, ['FARGATE']);
    assert.equal(p.NetworkMode, 'awsvpc');
    assert.deepEqual([p.Cpu, p.Memory, p.RuntimePlatform.CpuArchitecture], [{ Ref: 'EcsCpu' }, { Ref: 'EcsMemory' }, { Ref: 'EcsCpuArchitecture' }]);
    const [c] = p.ContainerDefinitions;
    assert.equal(c.Name, 'worker');
    assert.equal(c.Image['Fn::Sub'], '${WorkerRepository.RepositoryUri}:latest');
    assert.equal(c.LogConfiguration.LogDriver, 'awslogs');
    assert.equal(typeOfTarget(t, c.LogConfiguration.Options['awslogs-group']), 'AWS::Logs::LogGroup');
    const principal = (id: string): string => t.Resources[id].Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service;
    assert.equal(principal(p.ExecutionRoleArn['Fn::GetAtt'][0]), 'ecs-tasks.amazonaws.com');
    assert.equal(principal(p.TaskRoleArn['Fn::GetAtt'][0]), 'ecs-tasks.amazonaws.com');
    assert.deepEqual(t.Outputs.EcsClusterName.Value, { Ref: 'EcsCluster' });
    assert.deepEqual(t.Outputs.EcsWorkerTaskDefinitionArn.Value, { Ref: 'EcsWorkerTaskDefinition' });
    assert.equal(t.Outputs.EcsWorkerContainerName.Value, c.Name);
  });

  it('has job definitions, queues and compute environments wired together', () => {
    const t = fresh();
    const defs = resourcesOfType(t, 'AWS::Batch::JobDefinition');
    const main = defs.find((d) => d.Properties.JobDefinitionName['Fn::Sub'] === '${ServiceName}JobDefinitionMain')!;
    const worker = defs.find((d) => d.Properties.JobDefinitionName['Fn::Sub'] === '${ServiceName}JobDefinition')!;
    assert.ok(main && worker);
    assert.match(worker.Properties.ContainerProperties.Image['Fn::Sub'], /^\$\{\w+\.RepositoryUri\}:latest$/);
    assert.deepEqual(
      main.Properties.ContainerProperties.Environment.map((e: Obj) => [e.Name, e.Value.Ref]),
      [
        ['RIOS_AWSBATCH_STACK', 'AWS::StackName'],
        ['RIOS_AWSBATCH_REGION', 'AWS::Region'],
      ],
    );
    for (const d of defs) {
      assert.deepEqual(
        d.Properties.ContainerProperties.ResourceRequirements.map((r: Obj) => [r.Type, r.Value.Ref]),
        [
          ['VCPU', 'VCPUS'],
          ['MEMORY', 'MaxMemory'],
        ],
      );
    }
    const queues = resourcesOfType(t, 'AWS::Batch::JobQueue');
    assert.deepEqual(queues.map((q) => q.Properties.JobQueueName['Fn::Sub']).sort(), ['${ServiceName}JobQueueMain', '${ServiceName}JobQueueWorker']);
    const ces = resourcesOfType(t, 'AWS::Batch::ComputeEnvironment');
    assert.equal(ces.length, 2);
    for (const ce of ces) {
      const cr = ce.Properties.ComputeResources;
      assert.equal(ce.Properties.Type, 'MANAGED');
      assert.equal(cr.Type, 'EC2');
      assert.deepEqual(cr.InstanceTypes, [{ Ref: 'InstanceType' }]);
      assert.deepEqual(cr.MaxvCpus, { Ref: 'MaxVCPUS' });
      for (const s of cr.Subnets) assert.notEqual(t.Resources[s.Ref].Properties.MapPublicIpOnLaunch, true, 'compute in private subnets');
    }
    const withLt = ces.filter((c) => c.Properties.ComputeResources.LaunchTemplate);
    assert.equal(withLt.length, 1);
    const lt = t.Resources[withLt[0]!.Properties.ComputeResources.LaunchTemplate.LaunchTemplateId.Ref];
    assert.deepEqual(lt.Properties.LaunchTemplateData.BlockDeviceMappings[0].Ebs.VolumeSize, { Ref: 'MainVolumeSize' });
  });

  it('evaluates to every required output', () => {
    const t = fresh();
    const stack = new TemplateEvaluator(t, resolveParameters(t, { ServiceName: 'abc', MaxVCPUS: '64' }), {
      stackName: 'RIOS',
      stackId: 'arn:aws:cloudformation:eu-west-1:000000000000:stack/RIOS/x',
      region: 'eu-west-1',
      accountId: '000000000000',
    }).evaluate();
    const out = Object.fromEntries(stack.outputs.map((o) => [o.key, o.value]));
    for (const k of REQUIRED_OUTPUTS) assert.ok(out[k], `output ${k}`);
    assert.equal(out.BatchProcessingJobQueueName, 'abcJobQueueWorker');
    assert.equal(out.BatchProcessingJobDefinitionMainName, 'abcJobDefinitionMain');
    assert.equal(out.BatchMaxVCPUS, '64');
    assert.equal(out.BatchECRMain, '000000000000.dkr.ecr.eu-west-1.amazonaws.com/abcecrmain');
    assert.match(out.BatchSecurityGroup!, /^sg-[0-9a-f]+$/);
  });
});

describe('the template checks can fail', () => {
  const mutated = (mutate: (t: Obj) => void): string[] => {
    const t = fresh();
    mutate(t);
    return checkTemplate(t, spec);
  };
  it('finds a bogus property', () => {
    const p = mutated((t) => (t.Resources.Vpc.Properties.EnableDnsSupprt = true));
    assert.ok(
      p.some((x) => x.includes('unknown property EnableDnsSupprt')),
      p.join('\n'),
    );
  });
  it('finds a bogus nested property', () => {
    const p = mutated((t) => (t.Resources.WorkerComputeEnvironment.Properties.ComputeResources.MaxVCpus = 4));
    assert.ok(
      p.some((x) => x.includes('unknown property MaxVCpus')),
      p.join('\n'),
    );
  });
  it('finds a missing required property', () => {
    const p = mutated((t) => delete t.Resources.SecurityGroup.Properties.GroupDescription);
    assert.ok(
      p.some((x) => x.includes('required property GroupDescription missing')),
      p.join('\n'),
    );
  });
  it('finds a dangling Ref', () => {
    const p = mutated((t) => (t.Resources.PublicSubnet1.Properties.VpcId = { Ref: 'NoSuchVpc' }));
    assert.ok(
      p.some((x) => x.includes('Ref to unknown name NoSuchVpc')),
      p.join('\n'),
    );
  });
  it('finds a GetAtt of an attribute the type does not have', () => {
    const p = mutated((t) => (t.Outputs.BatchECR.Value = { 'Fn::GetAtt': ['WorkerRepository', 'Uri'] }));
    assert.ok(
      p.some((x) => x.includes('has no attribute Uri')),
      p.join('\n'),
    );
  });
  it('finds an unresolvable Sub variable', () => {
    const p = mutated((t) => (t.Resources.MainRepository.Properties.RepositoryName = { 'Fn::Sub': '${ServiceNme}ecrmain' }));
    assert.ok(
      p.some((x) => x.includes('Ref to unknown name ServiceNme')),
      p.join('\n'),
    );
  });
  it('finds an unknown resource type and a value of the wrong kind', () => {
    const p = mutated((t) => {
      t.Resources.Vpc.Type = 'AWS::EC2::Vpcs';
      t.Resources.SecurityGroupSelfIngress.Properties.FromPort = 'thirty';
    });
    assert.ok(
      p.some((x) => x.includes('AWS::EC2::Vpcs not in the specification')),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.includes('"thirty" is not a Integer')),
      p.join('\n'),
    );
  });
});

function typeOfTarget(t: Obj, ref: Obj): string {
  const id = ref.Ref ?? ref['Fn::GetAtt']?.[0];
  return t.Resources[id]?.Type;
}
