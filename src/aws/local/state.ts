/**
 * What the local endpoint knows: the Batch, ECS, ECR and EC2 objects a stack registered, the jobs
 * and the tasks.
 * Plain records keyed by name; the protocol modules read and change them.
 */

export const ACCOUNT_ID = '000000000000';

export interface JobQueue {
  name: string;
  arn: string;
  state: 'ENABLED' | 'DISABLED';
  status: 'CREATING' | 'VALID' | 'INVALID' | 'DELETING';
  priority: number;
  computeEnvironments: string[];
  stackName: string;
  /** Set by tests: jobs of this queue stay RUNNABLE with this reason. */
  holdReason?: string;
}

export interface ComputeEnvironment {
  name: string;
  arn: string;
  state: 'ENABLED' | 'DISABLED';
  status: 'CREATING' | 'VALID' | 'INVALID' | 'DELETING';
  maxvCpus: number;
  instanceTypes: string[];
  subnets: string[];
  securityGroupIds: string[];
  stackName: string;
}

export interface JobDefinition {
  name: string;
  arn: string;
  revision: number;
  image: string;
  command: string[];
  environment: { name: string; value: string }[];
  vcpus: number;
  memory: number;
  stackName: string;
}

export interface Repository {
  name: string;
  arn: string;
  uri: string;
  createdAt: Date;
  /** Images by digest (of their manifest when pushed to the registry). */
  images: Map<string, ImageRecord>;
  stackName: string;
}

/** An image in a repository; what the registry learnt from its manifest and config when pushed there. */
export interface ImageRecord {
  tags: string[];
  pushedAt: Date;
  /** The manifest's media type (absent for images registered through the JS API). */
  manifestMediaType?: string;
  /** The manifest's size in bytes. */
  size?: number;
  /** From the image config: `amd64`, `arm64`… */
  architecture?: string;
  os?: string;
}

export interface SecurityGroup {
  id: string;
  name: string;
  description: string;
  vpcId: string;
  /** Self-referencing or CIDR ingress rules. */
  ingress: { protocol: string; fromPort: number; toPort: number; sourceGroupId?: string; cidr?: string; description?: string }[];
  stackName: string;
}

export interface EcsCluster {
  name: string;
  arn: string;
  stackName: string;
  /** FARGATE, FARGATE_SPOT: what RunTask's capacityProviderStrategy may name. */
  capacityProviders: string[];
  /** Set by tests: tasks of this cluster stay PROVISIONING with this reason (as when Fargate has no capacity). */
  holdReason?: string;
  /** Tags given to CreateCluster (clusters a run makes for itself). */
  tags?: { key: string; value: string }[];
  /** EC2 container instances registered to the cluster. */
  containerInstances?: number;
}

export interface EcsContainerDefinition {
  name: string;
  image: string;
  command: string[];
  environment: { name: string; value: string }[];
  logConfiguration?: { logDriver: string; options: Record<string, string> };
}

export interface EcsTaskDefinition {
  family: string;
  revision: number;
  arn: string;
  cpu: string;
  memory: string;
  networkMode: string;
  requiresCompatibilities: string[];
  containers: EcsContainerDefinition[];
  stackName: string;
  /** INACTIVE once deregistered (it can no longer be run); ACTIVE when absent. */
  status?: 'ACTIVE' | 'INACTIVE';
  tags?: { key: string; value: string }[];
}

/** An EC2 instance RunInstances started (its ECS agent joins the cluster its user data names). */
export interface Ec2Instance {
  id: string;
  imageId: string;
  instanceType: string;
  state: 'pending' | 'running' | 'shutting-down' | 'terminated';
  subnetId?: string;
  securityGroupIds: string[];
  profileArn?: string;
  tags: { key: string; value: string }[];
  launchTime: Date;
  /** ECS_CLUSTER from the user data's ecs.config. */
  clusterName?: string;
  /** The cluster it registered with once running (counted in its registeredContainerInstancesCount). */
  joined?: string;
}

/** The lifecycle of an ECS task, as DescribeTasks reports it in lastStatus. */
export type EcsTaskStatus = 'PROVISIONING' | 'PENDING' | 'ACTIVATING' | 'RUNNING' | 'DEACTIVATING' | 'STOPPING' | 'DEPROVISIONING' | 'STOPPED';

export interface EcsTask {
  taskId: string;
  taskArn: string;
  clusterArn: string;
  taskDefinitionArn: string;
  lastStatus: EcsTaskStatus;
  desiredStatus: 'RUNNING' | 'STOPPED';
  launchType: string;
  /** With a capacityProviderStrategy: the provider that runs it (FARGATE_SPOT can be interrupted). */
  capacityProviderName?: string;
  cpu: string;
  memory: string;
  startedBy?: string;
  group: string;
  tags: { key: string; value: string }[];
  createdAt: number;
  startedAt?: number;
  stoppingAt?: number;
  stoppedAt?: number;
  stopCode?: 'TaskFailedToStart' | 'EssentialContainerExited' | 'UserInitiated' | 'ServiceSchedulerInitiated' | 'SpotInterruption' | 'TerminationNotice';
  stoppedReason?: string;
  /** The one container riots runs (its definition's first), with the task's overrides applied. */
  container: { name: string; image: string; command: string[]; environment: { name: string; value: string }[]; exitCode?: number; reason?: string };
  pid?: number;
  /** The file stdout and stderr both go to, in the order written (as a CloudWatch log stream). */
  logPath?: string;
}

export type JobStatus = 'SUBMITTED' | 'PENDING' | 'RUNNABLE' | 'STARTING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
export const ACTIVE_STATUSES: readonly JobStatus[] = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING'];

export interface Job {
  jobId: string;
  jobArn: string;
  jobName: string;
  jobQueue: string; // ARN
  jobDefinition: string; // ARN
  status: JobStatus;
  statusReason?: string;
  createdAt: number;
  startedAt?: number;
  stoppedAt?: number;
  tags: Record<string, string>;
  parameters: Record<string, string>;
  image: string;
  command: string[];
  environment: { name: string; value: string }[];
  vcpus: number;
  memory: number;
  exitCode?: number;
  reason?: string;
  pid?: number;
  /** The file stdout and stderr both go to, in the order written (as a CloudWatch log stream). */
  logPath?: string;
  /** The reason TerminateJob gave, once asked. */
  terminateReason?: string;
}

export class LocalAwsState {
  readonly jobQueues = new Map<string, JobQueue>();
  readonly computeEnvironments = new Map<string, ComputeEnvironment>();
  readonly jobDefinitions = new Map<string, JobDefinition>();
  readonly repositories = new Map<string, Repository>();
  readonly securityGroups = new Map<string, SecurityGroup>();
  readonly jobs = new Map<string, Job>();
  readonly ecsClusters = new Map<string, EcsCluster>();
  /** Task definitions by family:revision. */
  readonly taskDefinitions = new Map<string, EcsTaskDefinition>();
  readonly tasks = new Map<string, EcsTask>();
  readonly instances = new Map<string, Ec2Instance>();

  constructor(readonly region: string) {}

  /** A queue by name or ARN. */
  findQueue(nameOrArn: string): JobQueue | undefined {
    return this.jobQueues.get(nameOrArn) ?? [...this.jobQueues.values()].find((q) => q.arn === nameOrArn);
  }

  findComputeEnvironment(nameOrArn: string): ComputeEnvironment | undefined {
    return this.computeEnvironments.get(nameOrArn) ?? [...this.computeEnvironments.values()].find((c) => c.arn === nameOrArn);
  }

  /** A job definition by name, name:revision or ARN. */
  findJobDefinition(ref: string): JobDefinition | undefined {
    for (const d of this.jobDefinitions.values()) {
      if (ref === d.name || ref === d.arn || ref === `${d.name}:${d.revision}`) return d;
    }
    return undefined;
  }

  /** An ECS cluster by name or ARN; `undefined` and '' mean the account's `default` cluster. */
  findCluster(ref: string | undefined): EcsCluster | undefined {
    const r = ref === undefined || ref === '' ? 'default' : ref;
    return this.ecsClusters.get(r) ?? [...this.ecsClusters.values()].find((c) => c.arn === r);
  }

  /**
   * A task definition by family (its latest ACTIVE revision), family:revision or ARN; a
   * deregistered (INACTIVE) revision only with `inactiveToo`.
   */
  findTaskDefinition(ref: string, inactiveToo = false): EcsTaskDefinition | undefined {
    const all = [...this.taskDefinitions.values()].filter((d) => inactiveToo || d.status !== 'INACTIVE');
    const exact = all.find((d) => ref === d.arn || ref === `${d.family}:${d.revision}`);
    if (exact) return exact;
    return all.filter((d) => d.family === ref).sort((a, b) => b.revision - a.revision)[0];
  }

  /** A task by id or ARN. */
  findTask(ref: string): EcsTask | undefined {
    return this.tasks.get(ref) ?? this.tasks.get(ref.slice(ref.lastIndexOf('/') + 1));
  }

  /** A repository by name, or the repository an image URI (with tag or digest) points to. */
  findRepositoryForImage(image: string): Repository | undefined {
    const noTag = image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
    for (const r of this.repositories.values()) if (noTag === r.uri || noTag === r.name) return r;
    return undefined;
  }
}
