/**
 * The physical ids and attributes the local endpoint gives resources: what `Ref` and
 * `Fn::GetAtt` return, in the form AWS uses (vpc-…, sg-…, ARNs, ECR URIs). Ids derive from the
 * stack id and logical id, so they stay the same when a stack is updated.
 */
import { createHash } from 'node:crypto';

/** Who the template is evaluated for: what pseudo parameters and synthesised names use. */
export interface EvalContext {
  stackName: string;
  stackId: string;
  region: string;
  accountId: string;
  /** `host:port` of the endpoint's image registry (container mode): ECR URIs point there. */
  registryHost?: string | undefined;
}

export interface EvaluatedResource {
  logicalId: string;
  type: string;
  /** What `Ref` returns. */
  physicalId: string;
  attributes: Record<string, string>;
  properties: Record<string, unknown>;
}

/** Stable pseudo-random hex for an id: the same stack and logical id give the same id on update. */
function hex(seed: string, n: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, n);
}

/** What Ref returns and the attributes, for the resource types our template uses (others: a generic name). */
export function synthesise(logicalId: string, type: string, props: Record<string, unknown>, ctx: EvalContext): EvaluatedResource {
  const seed = `${ctx.stackId}/${logicalId}`;
  const generatedName = `${ctx.stackName}-${logicalId}-${hex(seed, 12).toUpperCase()}`.slice(0, 64);
  const name = (key: string): string => (typeof props[key] === 'string' ? props[key] : generatedName);
  const { region, accountId: acct } = ctx;
  const r = (physicalId: string, attributes: Record<string, string> = {}): EvaluatedResource => ({
    logicalId,
    type,
    physicalId,
    attributes,
    properties: props,
  });
  switch (type) {
    case 'AWS::EC2::VPC': {
      const id = `vpc-${hex(seed, 17)}`;
      return r(id, {
        VpcId: id,
        CidrBlock: String(props.CidrBlock ?? '10.0.0.0/16'),
        DefaultSecurityGroup: `sg-${hex(seed + 'sg', 17)}`,
        DefaultNetworkAcl: `acl-${hex(seed + 'acl', 17)}`,
      });
    }
    case 'AWS::EC2::Subnet': {
      const id = `subnet-${hex(seed, 17)}`;
      return r(id, { SubnetId: id, VpcId: String(props.VpcId ?? ''), AvailabilityZone: String(props.AvailabilityZone ?? `${region}a`) });
    }
    case 'AWS::EC2::SecurityGroup': {
      const id = `sg-${hex(seed, 17)}`;
      return r(id, { GroupId: id, VpcId: String(props.VpcId ?? '') });
    }
    case 'AWS::EC2::SecurityGroupIngress':
      return r(`sgr-${hex(seed, 17)}`, { Id: `sgr-${hex(seed, 17)}` });
    case 'AWS::EC2::InternetGateway':
      return r(`igw-${hex(seed, 17)}`, { InternetGatewayId: `igw-${hex(seed, 17)}` });
    case 'AWS::EC2::EIP': {
      const n = parseInt(hex(seed, 2), 16);
      return r(`203.0.113.${(n % 254) + 1}`, { AllocationId: `eipalloc-${hex(seed, 17)}`, PublicIp: `203.0.113.${(n % 254) + 1}` });
    }
    case 'AWS::EC2::NatGateway':
      return r(`nat-${hex(seed, 17)}`, { NatGatewayId: `nat-${hex(seed, 17)}` });
    case 'AWS::EC2::RouteTable':
      return r(`rtb-${hex(seed, 17)}`, { RouteTableId: `rtb-${hex(seed, 17)}` });
    case 'AWS::EC2::SubnetRouteTableAssociation':
      return r(`rtbassoc-${hex(seed, 17)}`, { Id: `rtbassoc-${hex(seed, 17)}` });
    case 'AWS::EC2::VPCEndpoint':
      return r(`vpce-${hex(seed, 17)}`, { Id: `vpce-${hex(seed, 17)}`, CreationTimestamp: new Date().toISOString() });
    case 'AWS::EC2::LaunchTemplate':
      return r(`lt-${hex(seed, 17)}`, { LaunchTemplateId: `lt-${hex(seed, 17)}`, LatestVersionNumber: '1', DefaultVersionNumber: '1' });
    case 'AWS::ECR::Repository': {
      const n = name('RepositoryName').toLowerCase();
      return r(n, {
        Arn: `arn:aws:ecr:${region}:${acct}:repository/${n}`,
        RepositoryUri: `${ctx.registryHost ?? `${acct}.dkr.ecr.${region}.amazonaws.com`}/${n}`,
      });
    }
    case 'AWS::IAM::Role': {
      const n = name('RoleName');
      return r(n, { Arn: `arn:aws:iam::${acct}:role/${n}`, RoleId: `AROA${hex(seed, 17).toUpperCase()}` });
    }
    case 'AWS::IAM::InstanceProfile': {
      const n = name('InstanceProfileName');
      return r(n, { Arn: `arn:aws:iam::${acct}:instance-profile/${n}` });
    }
    case 'AWS::IAM::ManagedPolicy': {
      const arn = `arn:aws:iam::${acct}:policy/${name('ManagedPolicyName')}`;
      return r(arn, { PolicyArn: arn });
    }
    case 'AWS::Batch::ComputeEnvironment': {
      const arn = `arn:aws:batch:${region}:${acct}:compute-environment/${name('ComputeEnvironmentName')}`;
      return r(arn, { ComputeEnvironmentArn: arn });
    }
    case 'AWS::Batch::JobQueue': {
      const arn = `arn:aws:batch:${region}:${acct}:job-queue/${name('JobQueueName')}`;
      return r(arn, { JobQueueArn: arn });
    }
    case 'AWS::Batch::JobDefinition': {
      const arn = `arn:aws:batch:${region}:${acct}:job-definition/${name('JobDefinitionName')}:1`;
      return r(arn, { JobDefinitionArn: arn });
    }
    case 'AWS::ECS::Cluster': {
      const n = name('ClusterName');
      return r(n, { Arn: `arn:aws:ecs:${region}:${acct}:cluster/${n}` });
    }
    case 'AWS::ECS::TaskDefinition': {
      // Ref gives the ARN of the revision; a stack update registers the next revision on AWS, here revision 1 again
      const arn = `arn:aws:ecs:${region}:${acct}:task-definition/${name('Family')}:1`;
      return r(arn, { TaskDefinitionArn: arn });
    }
    case 'AWS::Logs::LogGroup': {
      const n = name('LogGroupName');
      return r(n, { Arn: `arn:aws:logs:${region}:${acct}:log-group:${n}:*` });
    }
    default:
      return r(generatedName, {});
  }
}
