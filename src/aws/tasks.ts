/**
 * The ECS tasks of one riots run: RunTask (tagged with the run id, in a cluster, task definition
 * and network), and their following and stopping by the shared tracker (src/jobtracker.ts). Also
 * what `riots batch delete` uses to stop the tasks left in a cluster.
 */
import type * as EcsSdk from '@aws-sdk/client-ecs';
import { AwsError } from '../errors.js';
import { RunTracker, newTracked, type Tracked } from '../jobtracker.js';
import { awsCall, type Loaded } from './clients.js';
import { RUN_ID_TAG } from './stack.js';

export type EcsLoaded = Loaded<typeof EcsSdk, EcsSdk.ECSClient>;

/** Where tasks run: cluster, task definition, container and network. */
export interface EcsPlacement {
  cluster: string;
  taskDefinition: string;
  containerName: string;
  subnets: string[];
  securityGroups: string[];
}

/** What a run's settings choose of each task. */
export interface TaskOptions {
  capacityProvider: 'FARGATE' | 'FARGATE_SPOT';
  assignPublicIp: boolean;
  cpu: string | undefined;
  memory: string | undefined;
}

/**
 * The RunTask of every task of a run, but the worker's command and environment: its cluster, the
 * container that runs riots, and the call's arguments (task definition, launch, network,
 * overrides, tags).
 */
export interface TaskTemplate {
  cluster: string;
  containerName: string;
  input: EcsSdk.RunTaskCommandInput;
}

/** The template of riots' own placement (the stack's, or settings naming each part): Fargate tasks in awsvpc. */
export function placementTemplate(p: EcsPlacement, s: TaskOptions): TaskTemplate {
  return {
    cluster: p.cluster,
    containerName: p.containerName,
    input: {
      cluster: p.cluster,
      taskDefinition: p.taskDefinition,
      // on demand: the FARGATE launch type; Spot: a strategy of the cluster's FARGATE_SPOT provider
      ...(s.capacityProvider === 'FARGATE_SPOT' ? { capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] } : { launchType: 'FARGATE' }),
      networkConfiguration: {
        awsvpcConfiguration: { subnets: p.subnets, securityGroups: p.securityGroups, assignPublicIp: s.assignPublicIp ? 'ENABLED' : 'DISABLED' },
      },
      overrides: { ...(s.cpu ? { cpu: s.cpu } : {}), ...(s.memory ? { memory: s.memory } : {}) },
    },
  };
}

/** Where a task's container sends its output (the awslogs driver of its task definition). */
export interface TaskLogs {
  group: string;
  /** awslogs-stream-prefix: the stream of a task is `<prefix>/<container>/<task id>`. */
  prefix: string;
  container: string;
}

/** The awslogs settings of `container` in a task definition, if it has them. */
export function taskLogsOf(def: EcsSdk.TaskDefinition | undefined, container: string): TaskLogs | undefined {
  const c = def?.containerDefinitions?.find((d) => d.name === container);
  const o = c?.logConfiguration?.logDriver === 'awslogs' ? c.logConfiguration.options : undefined;
  const group = o?.['awslogs-group'];
  const prefix = o?.['awslogs-stream-prefix'];
  return group && prefix ? { group, prefix, container } : undefined;
}

/**
 * One line on a task: lastStatus, stop code and reason, exit code and reason (137 explained), and
 * with `logs`, the CloudWatch log stream of its output.
 */
export function taskStatusText(t: EcsSdk.Task | undefined, logs?: TaskLogs): string {
  if (!t) return 'status unknown (not yet described)';
  const parts = [String(t.lastStatus ?? 'UNKNOWN')];
  if (t.desiredStatus === 'STOPPED' && t.lastStatus !== 'STOPPED') parts.push('stopping');
  if (t.stopCode) parts.push(`stopCode: ${t.stopCode}`);
  if (t.stoppedReason) parts.push(`stoppedReason: ${t.stoppedReason}`);
  const c = t.containers?.[0];
  if (c?.exitCode !== undefined && c.exitCode !== null) {
    parts.push(
      c.exitCode === 137
        ? 'exit code 137 (killed: on Fargate usually out of memory, with nothing in the log; give the task more memory)'
        : `exit code ${c.exitCode}`,
    );
  }
  if (c?.reason) parts.push(`reason: ${c.reason}`);
  const id = t.taskArn?.slice(t.taskArn.lastIndexOf('/') + 1);
  if (logs && id) parts.push(`log: CloudWatch group ${logs.group}, stream ${logs.prefix}/${logs.container}/${id}`);
  return parts.join('; ');
}

/** The parts of a task's description {@link taskStatusText} reads (never its overrides: they hold the key). */
function taskStatusOnly(t: EcsSdk.Task): EcsSdk.Task {
  const c = t.containers?.[0];
  return {
    taskArn: t.taskArn,
    lastStatus: t.lastStatus,
    desiredStatus: t.desiredStatus,
    stopCode: t.stopCode,
    stoppedReason: t.stoppedReason,
    ...(c ? { containers: [{ name: c.name, exitCode: c.exitCode, reason: c.reason }] } : {}),
  };
}

export type TaskHandle = Tracked<EcsSdk.Task> & { workerId: number };

/** The ECS tasks of one run: RunTask, and the shared following and stopping (tracker.ts). */
export class RunTasks extends RunTracker<EcsSdk.Task, TaskHandle> {
  constructor(
    private readonly e: EcsLoaded,
    private readonly runId: string,
    private readonly template: TaskTemplate,
    minRefreshMs: number,
  ) {
    const placement = template;
    super(minRefreshMs, {
      noun: 'task',
      describe: async (ids) => {
        const res = await awsCall('DescribeTasks', () => e.client.send(new e.sdk.DescribeTasksCommand({ cluster: placement.cluster, tasks: ids })));
        return res.tasks ?? [];
      },
      idOf: (t) => t.taskArn,
      isDone: (t) => t.lastStatus === 'STOPPED',
      isRunning: (t) => t?.lastStatus === 'RUNNING',
      text: (t) => taskStatusText(t, this.logs),
      keep: taskStatusOnly,
      stop: async (id, reason) => {
        await awsCall(`StopTask of ${id}`, () => e.client.send(new e.sdk.StopTaskCommand({ cluster: placement.cluster, task: id, reason })));
      },
    });
  }

  get cluster(): string {
    return this.template.cluster;
  }

  /** Where the tasks' output goes, once known (for the lines on each task). */
  logs: TaskLogs | undefined;

  /**
   * Read where the task definition sends the worker container's output, for the lines on each
   * task. Only for messages: when DescribeTaskDefinition fails (no permission), the lines go without.
   */
  async learnLogs(): Promise<void> {
    const { e, template: t } = this;
    try {
      const r = await e.client.send(new e.sdk.DescribeTaskDefinitionCommand({ taskDefinition: t.input.taskDefinition }));
      this.logs = taskLogsOf(r.taskDefinition, t.containerName);
    } catch {
      this.logs = undefined;
    }
  }

  /** The task definition the tasks run, once the run has registered it. */
  useTaskDefinition(arn: string): void {
    this.template.input.taskDefinition = arn;
  }

  /** RunTask of one worker. @throws AwsError with ECS's reason when it refuses or places nothing. */
  async run(workerId: number, command: string[], environment: Record<string, string>): Promise<TaskHandle> {
    const { e, template: t, runId } = this;
    const what = `RunTask of worker ${workerId} in cluster ${t.cluster}`;
    const overrides = t.input.overrides ?? {};
    const given = overrides.containerOverrides ?? [];
    const mine = given.find((o) => o.name === t.containerName);
    // the template's environment for the container wins over riots' (it may raise UV_THREADPOOL_SIZE; it cannot name the key)
    const env = { ...environment, ...Object.fromEntries((mine?.environment ?? []).map((x) => [x.name ?? '', x.value ?? ''])) };
    const res = await awsCall(what, () =>
      e.client.send(
        new e.sdk.RunTaskCommand({
          ...t.input,
          count: 1,
          startedBy: runId,
          group: t.input.group ?? `riots:${runId}`,
          tags: [...(t.input.tags ?? []).filter((x) => x.key !== RUN_ID_TAG), { key: RUN_ID_TAG, value: runId }],
          overrides: {
            ...overrides,
            containerOverrides: [
              ...given.filter((o) => o !== mine),
              { ...mine, name: t.containerName, command, environment: Object.entries(env).map(([name, value]) => ({ name, value })) },
            ],
          },
        }),
      ),
    );
    const arn = res.tasks?.[0]?.taskArn;
    if (!arn) {
      const f = res.failures?.[0];
      throw new AwsError(`${what} started no task${f ? `: ${f.reason ?? 'failure'}${f.detail ? ` (${f.detail})` : ''}${f.arn ? ` [${f.arn}]` : ''}` : ''}`);
    }
    return this.track({ ...newTracked<EcsSdk.Task>(arn), workerId });
  }
}
