/**
 * ECS on the local endpoint (AWS JSON 1.1: POST / with `X-Amz-Target:
 * AmazonEC2ContainerServiceV20141113.<Operation>`): RunTask, DescribeTasks, StopTask, ListTasks,
 * DescribeClusters and DescribeTaskDefinition (clusters and task definitions a run makes itself:
 * ecsadmin.ts), with the checks AWS makes that riots' calls could
 * trip (an unknown cluster or task definition, awsvpc without subnets, a Fargate launch of a
 * definition that is not Fargate-compatible, an override of a container the definition lacks, an
 * unknown security group). Clusters and task definitions come from stacks; the job runner runs
 * each task's container as a local process.
 */
import { randomBytes } from 'node:crypto';
import type { LocalContext } from './context.js';
import type { EcsCluster, EcsTask } from './state.js';
import { AwsApiError, jsonReply, type Reply, asList, asRecord } from './wire.js';
import { ECS_ADMIN_OPERATIONS, EcsAdmin } from './ecsadmin.js';

type Body = Record<string, unknown>;
const JSON11 = 'application/x-amz-json-1.1';
const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);
const invalid = (message: string): AwsApiError => new AwsApiError('InvalidParameterException', message);
const pairs = (v: unknown): { name: string; value: string }[] =>
  asList(v)
    .map(asRecord)
    .map((e) => ({ name: String(e.name), value: String(e.value ?? '') }));

export class EcsService {
  private readonly admin: EcsAdmin;
  constructor(private readonly ctx: LocalContext) {
    this.admin = new EcsAdmin(ctx);
  }

  handle(operation: string, body: Body): Reply {
    const admin = ECS_ADMIN_OPERATIONS.find((o) => o === operation);
    if (admin) return jsonReply(this.admin.handle(admin, body), JSON11);
    switch (operation) {
      case 'RunTask':
        return jsonReply(this.runTask(body), JSON11);
      case 'DescribeTasks': {
        const cluster = this.cluster(body.cluster);
        const refs = asList(body.tasks).map(String);
        if (refs.length === 0) throw invalid('Tasks cannot be empty.');
        if (refs.length > 100) throw invalid('Tasks cannot have more than 100 elements.');
        const tasks: Body[] = [];
        const failures: Body[] = [];
        for (const ref of refs) {
          const t = this.ctx.state.findTask(ref);
          if (t && t.clusterArn === cluster.arn) tasks.push(this.describe(t));
          else
            failures.push({
              arn: ref.startsWith('arn:') ? ref : `arn:aws:ecs:${this.ctx.region}:${this.ctx.accountId}:task/${cluster.name}/${ref}`,
              reason: 'MISSING',
            });
        }
        return jsonReply({ tasks, failures }, JSON11);
      }
      case 'StopTask': {
        const cluster = this.cluster(body.cluster);
        const ref = String(body.task ?? '');
        const t = this.ctx.state.findTask(ref);
        if (!t || t.clusterArn !== cluster.arn) throw invalid('The referenced task was not found.');
        const reason = body.reason === undefined ? 'Task stopped by user' : String(body.reason);
        if (reason.length > 1024) throw invalid('Reason must be at most 1024 characters.');
        this.ctx.jobs.stopTask(t.taskId, 'UserInitiated', reason);
        return jsonReply({ task: this.describe(t) }, JSON11);
      }
      case 'ListTasks':
        return jsonReply(this.listTasks(body), JSON11);
      case 'DescribeClusters': {
        const refs = asList(body.clusters).map(String);
        const clusters: Body[] = [];
        const failures: Body[] = [];
        for (const ref of refs.length === 0 ? ['default'] : refs) {
          const c = this.ctx.state.findCluster(ref);
          if (!c) {
            failures.push({ arn: ref.startsWith('arn:') ? ref : `arn:aws:ecs:${this.ctx.region}:${this.ctx.accountId}:cluster/${ref}`, reason: 'MISSING' });
            continue;
          }
          const tasks = [...this.ctx.state.tasks.values()].filter((t) => t.clusterArn === c.arn);
          clusters.push({
            clusterArn: c.arn,
            clusterName: c.name,
            status: 'ACTIVE',
            runningTasksCount: tasks.filter((t) => t.lastStatus === 'RUNNING').length,
            pendingTasksCount: tasks.filter((t) => ['PROVISIONING', 'PENDING', 'ACTIVATING'].includes(t.lastStatus)).length,
            activeServicesCount: 0,
            registeredContainerInstancesCount: c.containerInstances ?? 0,
            capacityProviders: c.capacityProviders,
          });
        }
        return jsonReply({ clusters, failures }, JSON11);
      }
      case 'DescribeTaskDefinition': {
        const d = this.ctx.state.findTaskDefinition(String(body.taskDefinition ?? ''), true);
        if (!d) throw new AwsApiError('ClientException', 'Unable to describe task definition.');
        return jsonReply({ taskDefinition: this.admin.describeDefinition(d) }, JSON11);
      }
      default:
        throw new AwsApiError('UnknownOperationException', `The local endpoint does not implement ECS ${operation}`, 400);
    }
  }

  private cluster(ref: unknown): EcsCluster {
    const c = this.ctx.state.findCluster(ref === undefined ? undefined : String(ref));
    if (!c) throw new AwsApiError('ClusterNotFoundException', 'Cluster not found.');
    return c;
  }

  private runTask(body: Body): Body {
    const { state } = this.ctx;
    const cluster = this.cluster(body.cluster);
    const ref = String(body.taskDefinition ?? '');
    const def = state.findTaskDefinition(ref);
    if (!def) throw invalid(state.findTaskDefinition(ref, true) ? 'TaskDefinition is inactive' : 'TaskDefinition not found.');
    const count = body.count === undefined ? 1 : Number(body.count);
    if (!Number.isInteger(count) || count < 1 || count > 10) throw invalid('Count must be between 1 and 10.');
    const strategy = asList(body.capacityProviderStrategy).map(asRecord);
    if (strategy.length > 0 && body.launchType !== undefined) {
      throw invalid('Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.');
    }
    let capacityProviderName: string | undefined;
    if (strategy.length > 0) {
      for (const s of strategy) {
        if (!cluster.capacityProviders.includes(String(s.capacityProvider))) {
          throw invalid(
            'The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.',
          );
        }
      }
      // the provider with the largest weight (a mixed strategy spreads tasks; riots asks for one provider)
      capacityProviderName = String(strategy.reduce((a, b) => (Number(b.weight ?? 0) > Number(a.weight ?? 0) ? b : a)).capacityProvider);
    }
    const launchType = capacityProviderName !== undefined ? 'FARGATE' : body.launchType === undefined ? 'EC2' : String(body.launchType);
    if (launchType === 'FARGATE' && !def.requiresCompatibilities.includes('FARGATE')) {
      throw invalid('Task definition does not support launch_type FARGATE.');
    }
    if (launchType === 'EC2' && (cluster.containerInstances ?? 0) === 0) throw invalid(`No Container Instances were found in your cluster.`);
    const vpc = asRecord(asRecord(body.networkConfiguration).awsvpcConfiguration);
    if (def.networkMode === 'awsvpc') {
      if (asList(vpc.subnets).length === 0) throw invalid("Network Configuration must be provided when networkMode 'awsvpc' is specified.");
      for (const sg of asList(vpc.securityGroups).map(String)) {
        if (!state.securityGroups.has(sg)) throw invalid(`Error retrieving security group information for [${sg}]: The security group '${sg}' does not exist`);
      }
    }
    const startedBy = body.startedBy === undefined ? undefined : String(body.startedBy);
    if (startedBy !== undefined && !/^[A-Za-z0-9_/-]{1,128}$/.test(startedBy)) {
      throw invalid('startedBy may have up to 128 letters, numbers, hyphens, forward slashes and underscores.');
    }
    const tags = asList(body.tags)
      .map(asRecord)
      .map((t) => ({ key: String(t.key), value: String(t.value ?? '') }));
    const overrides = asList(asRecord(body.overrides).containerOverrides).map(asRecord);
    const first = def.containers[0];
    if (!first) throw invalid('Task definition has no containers.');
    for (const o of overrides) {
      if (!def.containers.some((c) => c.name === o.name))
        throw invalid(`Override for container named ${String(o.name)} is not a container in the TaskDefinition.`);
    }
    const mine = overrides.find((o) => o.name === first.name) ?? {};
    const env = new Map(first.environment.map((e) => [e.name, e.value]));
    for (const e of pairs(mine.environment)) env.set(e.name, e.value);
    const tasks: Body[] = [];
    for (let i = 0; i < count; i++) {
      const taskId = randomBytes(16).toString('hex');
      const task: EcsTask = {
        taskId,
        taskArn: `arn:aws:ecs:${this.ctx.region}:${this.ctx.accountId}:task/${cluster.name}/${taskId}`,
        clusterArn: cluster.arn,
        taskDefinitionArn: def.arn,
        lastStatus: 'PROVISIONING',
        desiredStatus: 'RUNNING',
        launchType,
        ...(capacityProviderName !== undefined ? { capacityProviderName } : {}),
        cpu: def.cpu,
        memory: def.memory,
        ...(startedBy !== undefined ? { startedBy } : {}),
        group: body.group === undefined ? `family:${def.family}` : String(body.group),
        tags,
        createdAt: Date.now(),
        container: {
          name: first.name,
          image: first.image,
          command: Array.isArray(mine.command) ? mine.command.map(String) : first.command,
          environment: [...env].map(([name, value]) => ({ name, value })),
        },
      };
      state.tasks.set(taskId, task);
      this.ctx.jobs.taskCreated(taskId);
      tasks.push(this.describe(task));
    }
    return { tasks, failures: [] };
  }

  private listTasks(body: Body): Body {
    const cluster = this.cluster(body.cluster);
    const desired = body.desiredStatus === undefined ? 'RUNNING' : String(body.desiredStatus);
    if (!['RUNNING', 'PENDING', 'STOPPED'].includes(desired)) throw invalid(`Invalid desiredStatus ${desired}`);
    let tasks = [...this.ctx.state.tasks.values()].filter((t) => t.clusterArn === cluster.arn);
    tasks = tasks.filter((t) =>
      desired === 'STOPPED'
        ? t.desiredStatus === 'STOPPED'
        : desired === 'PENDING'
          ? t.desiredStatus === 'RUNNING' && t.lastStatus !== 'RUNNING'
          : t.desiredStatus === 'RUNNING',
    );
    if (body.startedBy !== undefined) tasks = tasks.filter((t) => t.startedBy === String(body.startedBy));
    if (body.family !== undefined) tasks = tasks.filter((t) => this.ctx.state.findTaskDefinition(t.taskDefinitionArn)?.family === String(body.family));
    tasks.sort((a, b) => a.createdAt - b.createdAt);
    const start = body.nextToken === undefined ? 0 : Number(body.nextToken);
    const max = typeof body.maxResults === 'number' && body.maxResults > 0 ? Math.min(body.maxResults, 100) : 100;
    const out: Body = { taskArns: tasks.slice(start, start + max).map((t) => t.taskArn) };
    if (start + max < tasks.length) out.nextToken = String(start + max);
    return out;
  }

  private describe(t: EcsTask): Body {
    const c = t.container;
    return {
      taskArn: t.taskArn,
      clusterArn: t.clusterArn,
      taskDefinitionArn: t.taskDefinitionArn,
      lastStatus: t.lastStatus,
      desiredStatus: t.desiredStatus,
      launchType: t.launchType,
      capacityProviderName: t.capacityProviderName,
      cpu: t.cpu,
      memory: t.memory,
      startedBy: t.startedBy,
      group: t.group,
      tags: t.tags,
      createdAt: seconds(t.createdAt),
      startedAt: seconds(t.startedAt),
      stoppingAt: seconds(t.stoppingAt),
      stoppedAt: seconds(t.stoppedAt),
      stopCode: t.stopCode,
      stoppedReason: t.stoppedReason,
      containers: [
        {
          containerArn: `arn:aws:ecs:${this.ctx.region}:${this.ctx.accountId}:container/${t.taskId}/${c.name}`,
          taskArn: t.taskArn,
          name: c.name,
          image: c.image,
          lastStatus: t.lastStatus === 'STOPPED' ? 'STOPPED' : t.lastStatus === 'RUNNING' ? 'RUNNING' : 'PENDING',
          exitCode: c.exitCode,
          reason: c.reason,
        },
      ],
      overrides: { containerOverrides: [{ name: c.name, command: c.command, environment: c.environment }] },
    };
  }
}
