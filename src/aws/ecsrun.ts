/**
 * What a CW_ECS run makes for itself and must leave nothing of (RIOS's CW_ECS `create_cluster`,
 * `run_instances`, `register_task_definition`): an ECS cluster, EC2 instances joined to it (a
 * private cluster), and the workers' task definition. `create()` makes them in that order and
 * waits for the instances to register; `destroy()` undoes whatever was made, in reverse, each
 * step bounded and every failure reported, never stopping half-way. Everything is tagged with the
 * run id (RUN_ID_TAG), which is how `riots batch cleanup --run-id` finds what a run that died left.
 */
import type * as EcsSdk from '@aws-sdk/client-ecs';
import type * as Ec2Sdk from '@aws-sdk/client-ec2';
import { AwsError } from '../errors.js';
import { awsCall, type Loaded } from './clients.js';
import { RUN_ID_TAG } from './stack.js';

export type Ec2Loaded = Loaded<typeof Ec2Sdk, Ec2Sdk.EC2Client>;
type EcsLoaded = Loaded<typeof EcsSdk, EcsSdk.ECSClient>;

/** The AWS API arguments a run gives for what it makes (RIOS's keys, in the SDK's shapes). */
export interface EcsRunParams {
  createCluster?: EcsSdk.CreateClusterCommandInput;
  runInstances?: Ec2Sdk.RunInstancesCommandInput;
  registerTaskDefinition?: EcsSdk.RegisterTaskDefinitionCommandInput;
}

export interface EcsRunWaits {
  /** How long instances may take to register with the cluster, and to leave it (RIOS's waitClusterInstanceCountTimeout). */
  instanceWaitSeconds: number;
  pollSeconds: number;
}

/** What create() made: the cluster and task definition to run the tasks with. */
export interface EcsRunMade {
  cluster?: string;
  taskDefinitionArn?: string;
  instanceIds: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class EcsRunResources {
  readonly made: EcsRunMade = { instanceIds: [] };

  constructor(
    private readonly ecs: EcsLoaded,
    private readonly ec2: Ec2Loaded | undefined,
    private readonly runId: string,
    private readonly params: EcsRunParams,
    private readonly waits: EcsRunWaits,
  ) {
    if (params.runInstances && !params.createCluster) {
      throw new AwsError('CW_ECS: run_instances starts instances for a cluster made for the run: give create_cluster too');
    }
    if (params.runInstances && !ec2) throw new AwsError('CW_ECS: run_instances needs an EC2 client');
  }

  private tag<T extends { key?: string; value?: string }>(tags: T[] | undefined): T[] {
    return [...(tags ?? []).filter((t) => t.key !== RUN_ID_TAG), { key: RUN_ID_TAG, value: this.runId } as T];
  }

  /**
   * Make the cluster, start and wait for its instances, register the task definition.
   * @throws {AwsError} after undoing whatever was made, with why it failed.
   */
  async create(): Promise<EcsRunMade> {
    const { ecs, params } = this;
    try {
      if (params.createCluster) {
        const name = params.createCluster.clusterName;
        if (!name) throw new AwsError('CW_ECS: create_cluster needs a clusterName (the tasks and the instances are placed by it)');
        await awsCall(`CreateCluster ${name}`, () =>
          ecs.client.send(new ecs.sdk.CreateClusterCommand({ ...params.createCluster, tags: this.tag(params.createCluster!.tags) })),
        );
        this.made.cluster = name;
      }
      if (params.runInstances) await this.startInstances(params.runInstances);
      if (params.registerTaskDefinition) {
        const r = await awsCall(`RegisterTaskDefinition ${params.registerTaskDefinition.family ?? ''}`, () =>
          ecs.client.send(
            new ecs.sdk.RegisterTaskDefinitionCommand({ ...params.registerTaskDefinition!, tags: this.tag(params.registerTaskDefinition!.tags) }),
          ),
        );
        this.made.taskDefinitionArn = r.taskDefinition?.taskDefinitionArn;
      }
      return this.made;
    } catch (err) {
      const left = await this.destroy();
      const why = err instanceof Error ? err.message : String(err);
      throw new AwsError(left.length === 0 ? why : `${why}; and undoing what was made: ${left.join('; ')}`, { cause: err });
    }
  }

  private async startInstances(input: Ec2Sdk.RunInstancesCommandInput): Promise<void> {
    const ec2 = this.ec2!;
    const userData = input.UserData === undefined || isBase64(input.UserData) ? input.UserData : Buffer.from(input.UserData).toString('base64');
    const specs = input.TagSpecifications ?? [];
    const inst = specs.find((s) => s.ResourceType === 'instance');
    const tagSpecs = [
      ...specs.filter((s) => s !== inst),
      { ...inst, ResourceType: 'instance' as const, Tags: [...(inst?.Tags ?? []).filter((t) => t.Key !== RUN_ID_TAG), { Key: RUN_ID_TAG, Value: this.runId }] },
    ];
    const r = await awsCall('RunInstances', () =>
      ec2.client.send(new ec2.sdk.RunInstancesCommand({ ...input, UserData: userData, TagSpecifications: tagSpecs })),
    );
    this.made.instanceIds = (r.Instances ?? []).map((i) => i.InstanceId!).filter(Boolean);
    await this.waitInstanceCount(this.made.instanceIds.length, 'to register with it');
  }

  /** Poll DescribeClusters until the cluster has `n` container instances. @throws {AwsError} after instanceWaitSeconds, naming what it waited for. */
  private async waitInstanceCount(n: number, what: string): Promise<void> {
    const { ecs } = this;
    const cluster = this.made.cluster!;
    const deadline = Date.now() + this.waits.instanceWaitSeconds * 1000;
    let seen: number | undefined;
    for (;;) {
      const r = await awsCall(`DescribeClusters ${cluster}`, () => ecs.client.send(new ecs.sdk.DescribeClustersCommand({ clusters: [cluster] })));
      seen = r.clusters?.[0]?.registeredContainerInstancesCount;
      if (seen === n) return;
      if (Date.now() > deadline) {
        throw new AwsError(
          `CW_ECS: waited ${this.waits.instanceWaitSeconds} s for the instances of cluster ${cluster} ${what} (${n} expected, ${seen ?? 'none'} registered); ` +
            'check their user data (ECS_CLUSTER), instance profile and network (computeWorkerExtraParams.waitClusterInstanceCountTimeout sets the wait)',
        );
      }
      await sleep(this.waits.pollSeconds * 1000);
    }
  }

  /** Undo what was made, in reverse; returns what could not be undone (empty when all went). */
  async destroy(): Promise<string[]> {
    const { ecs } = this;
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    const def = this.made.taskDefinitionArn;
    if (def) {
      await step(`DeregisterTaskDefinition ${def}`, () =>
        awsCall('DeregisterTaskDefinition', () => ecs.client.send(new ecs.sdk.DeregisterTaskDefinitionCommand({ taskDefinition: def }))),
      );
      if (problems.length === 0) delete this.made.taskDefinitionArn;
    }
    const ids = this.made.instanceIds;
    if (ids.length > 0) {
      const ec2 = this.ec2!;
      await step(`TerminateInstances ${ids.join(', ')}`, async () => {
        await awsCall('TerminateInstances', () => ec2.client.send(new ec2.sdk.TerminateInstancesCommand({ InstanceIds: ids })));
        await this.waitInstanceCount(0, 'to leave it');
        this.made.instanceIds = [];
      });
    }
    const cluster = this.made.cluster;
    if (cluster && this.made.instanceIds.length === 0) {
      await step(`DeleteCluster ${cluster}`, () => this.deleteCluster(cluster));
    } else if (cluster) {
      problems.push(`cluster ${cluster} not deleted: its instances did not all leave it`);
    }
    return problems;
  }

  /** DeleteCluster, retried while its stopped tasks are still being counted as active. */
  private async deleteCluster(cluster: string): Promise<void> {
    const { ecs } = this;
    const deadline = Date.now() + this.waits.instanceWaitSeconds * 1000;
    for (;;) {
      try {
        await ecs.client.send(new ecs.sdk.DeleteClusterCommand({ cluster }));
        delete this.made.cluster;
        return;
      } catch (err) {
        const name = (err as { name?: string }).name;
        if ((name !== 'ClusterContainsTasksException' && name !== 'ClusterContainsContainerInstancesException') || Date.now() > deadline) {
          throw new AwsError(`DeleteCluster ${cluster} failed: ${(err as Error).message}`, { cause: err });
        }
        await sleep(this.waits.pollSeconds * 1000);
      }
    }
  }
}

function isBase64(s: string): boolean {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(s.replace(/\s/g, '')) && s.replace(/\s/g, '').length % 4 === 0;
}
