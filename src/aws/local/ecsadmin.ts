/**
 * ECS clusters and task definitions a run makes for itself on the local endpoint (what RIOS's
 * CW_ECS asks for with `create_cluster` and `register_task_definition`): CreateCluster,
 * DeleteCluster, ListClusters, RegisterTaskDefinition, DeregisterTaskDefinition,
 * ListTaskDefinitions and ListTagsForResource, with the refusals AWS makes that a run's clean-up
 * could trip: a cluster with active tasks cannot be deleted, a deregistered revision cannot be
 * run, a Fargate definition needs awsvpc and task-level cpu and memory.
 */
import type { LocalContext } from './context.js';
import type { EcsContainerDefinition, EcsTaskDefinition } from './state.js';
import { AwsApiError, asList, asRecord } from './wire.js';

type Body = Record<string, unknown>;
const invalid = (message: string): AwsApiError => new AwsApiError('InvalidParameterException', message);
const client = (message: string): AwsApiError => new AwsApiError('ClientException', message);
const tagsOf = (v: unknown): { key: string; value: string }[] =>
  asList(v)
    .map(asRecord)
    .map((t) => ({ key: String(t.key), value: String(t.value ?? '') }));

export const ECS_ADMIN_OPERATIONS = [
  'CreateCluster',
  'DeleteCluster',
  'ListClusters',
  'RegisterTaskDefinition',
  'DeregisterTaskDefinition',
  'ListTaskDefinitions',
  'ListTagsForResource',
] as const;

export class EcsAdmin {
  constructor(private readonly ctx: LocalContext) {}

  handle(operation: (typeof ECS_ADMIN_OPERATIONS)[number], body: Body): Body {
    switch (operation) {
      case 'CreateCluster':
        return this.createCluster(body);
      case 'DeleteCluster':
        return this.deleteCluster(body);
      case 'ListClusters':
        return { clusterArns: [...this.ctx.state.ecsClusters.values()].map((c) => c.arn) };
      case 'RegisterTaskDefinition':
        return this.register(body);
      case 'DeregisterTaskDefinition': {
        const ref = String(body.taskDefinition ?? '');
        if (!/:\d+$/.test(ref)) throw invalid('TaskDefinition must include a revision (family:revision or its ARN).');
        const d = this.ctx.state.findTaskDefinition(ref, true);
        if (!d) throw client('The specified task definition does not exist.');
        d.status = 'INACTIVE';
        return { taskDefinition: this.describeDefinition(d) };
      }
      case 'ListTaskDefinitions': {
        const status = body.status === undefined ? 'ACTIVE' : String(body.status);
        const prefix = body.familyPrefix === undefined ? undefined : String(body.familyPrefix);
        const arns = [...this.ctx.state.taskDefinitions.values()]
          .filter((d) => (d.status ?? 'ACTIVE') === status && (prefix === undefined || d.family.startsWith(prefix)))
          .map((d) => d.arn);
        return { taskDefinitionArns: arns };
      }
      case 'ListTagsForResource': {
        const arn = String(body.resourceArn ?? '');
        const cluster = [...this.ctx.state.ecsClusters.values()].find((c) => c.arn === arn);
        const def = [...this.ctx.state.taskDefinitions.values()].find((d) => d.arn === arn);
        const task = this.ctx.state.findTask(arn);
        if (!cluster && !def && !(task && task.taskArn === arn)) throw invalid('The specified resource could not be found.');
        return { tags: cluster ? (cluster.tags ?? []) : def ? (def.tags ?? []) : task!.tags };
      }
    }
  }

  /** The same as AWS: creating a cluster whose name is taken returns the existing one. */
  private createCluster(body: Body): Body {
    const name = body.clusterName === undefined ? 'default' : String(body.clusterName);
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(name))
      throw invalid('Cluster name may have up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.');
    const providers = asList(body.capacityProviders).map(String);
    for (const p of providers) if (!['FARGATE', 'FARGATE_SPOT'].includes(p)) throw invalid(`The specified capacity provider '${p}' does not exist.`);
    let c = this.ctx.state.ecsClusters.get(name);
    if (!c) {
      c = {
        name,
        arn: `arn:aws:ecs:${this.ctx.region}:${this.ctx.accountId}:cluster/${name}`,
        stackName: '',
        capacityProviders: providers,
        tags: tagsOf(body.tags),
      };
      this.ctx.state.ecsClusters.set(name, c);
    }
    return { cluster: this.describeCluster(c.name) };
  }

  private deleteCluster(body: Body): Body {
    const c = this.ctx.state.findCluster(String(body.cluster ?? ''));
    if (!c) throw new AwsApiError('ClusterNotFoundException', 'Cluster not found.');
    const active = [...this.ctx.state.tasks.values()].filter((t) => t.clusterArn === c.arn && t.lastStatus !== 'STOPPED');
    if (active.length > 0) throw new AwsApiError('ClusterContainsTasksException', 'The Cluster cannot be deleted while Tasks are active.');
    if ((c.containerInstances ?? 0) > 0) {
      throw new AwsApiError('ClusterContainsContainerInstancesException', 'The Cluster cannot be deleted while Container Instances are active or draining.');
    }
    const out = { cluster: { ...this.describeCluster(c.name), status: 'INACTIVE' } };
    this.ctx.state.ecsClusters.delete(c.name);
    return out;
  }

  private describeCluster(name: string): Body {
    const c = this.ctx.state.ecsClusters.get(name)!;
    return { clusterArn: c.arn, clusterName: c.name, status: 'ACTIVE', capacityProviders: c.capacityProviders, tags: c.tags ?? [] };
  }

  private register(body: Body): Body {
    const family = String(body.family ?? '');
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(family)) throw client('Family must be up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.');
    const defs = asList(body.containerDefinitions).map(asRecord);
    if (defs.length === 0) throw client('Container list cannot be empty.');
    const containers: EcsContainerDefinition[] = defs.map((d) => {
      if (typeof d.name !== 'string' || d.name === '') throw client('Container.name should not be null or empty.');
      if (typeof d.image !== 'string' || d.image === '') throw client('Container.image should not be null or empty.');
      return {
        name: d.name,
        image: d.image,
        command: asList(d.command).map(String),
        environment: asList(d.environment)
          .map(asRecord)
          .map((e) => ({ name: String(e.name), value: String(e.value ?? '') })),
        ...(d.logConfiguration !== undefined
          ? {
              logConfiguration: {
                logDriver: String(asRecord(d.logConfiguration).logDriver),
                options: Object.fromEntries(Object.entries(asRecord(asRecord(d.logConfiguration).options)).map(([k, v]) => [k, String(v)])),
              },
            }
          : {}),
      };
    });
    const compat = asList(body.requiresCompatibilities).map(String);
    const networkMode = body.networkMode === undefined ? 'bridge' : String(body.networkMode);
    const cpu = body.cpu === undefined ? undefined : String(body.cpu);
    const memory = body.memory === undefined ? undefined : String(body.memory);
    if (compat.includes('FARGATE')) {
      if (networkMode !== 'awsvpc') throw client("Fargate only supports network mode 'awsvpc'.");
      if (cpu === undefined || memory === undefined) throw client('Fargate requires that cpu and memory be defined at the task level.');
    }
    const revision = Math.max(0, ...[...this.ctx.state.taskDefinitions.values()].filter((d) => d.family === family).map((d) => d.revision)) + 1;
    const d: EcsTaskDefinition = {
      family,
      revision,
      arn: `arn:aws:ecs:${this.ctx.region}:${this.ctx.accountId}:task-definition/${family}:${revision}`,
      cpu: cpu ?? '',
      memory: memory ?? '',
      networkMode,
      requiresCompatibilities: compat,
      containers,
      stackName: '',
      status: 'ACTIVE',
      tags: tagsOf(body.tags),
    };
    this.ctx.state.taskDefinitions.set(`${family}:${revision}`, d);
    return { taskDefinition: this.describeDefinition(d), tags: d.tags };
  }

  describeDefinition(d: EcsTaskDefinition): Body {
    return {
      taskDefinitionArn: d.arn,
      family: d.family,
      revision: d.revision,
      status: d.status ?? 'ACTIVE',
      cpu: d.cpu,
      memory: d.memory,
      networkMode: d.networkMode,
      requiresCompatibilities: d.requiresCompatibilities,
      compatibilities: d.requiresCompatibilities,
      containerDefinitions: d.containers.map((c) => ({
        name: c.name,
        image: c.image,
        command: c.command,
        environment: c.environment,
        essential: true,
        ...(c.logConfiguration ? { logConfiguration: c.logConfiguration } : {}),
      })),
    };
  }
}
