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

/** One line on a task: lastStatus, stop code and reason, exit code. */
export function taskStatusText(t: EcsSdk.Task | undefined): string {
  if (!t) return 'status unknown (not yet described)';
  const parts = [String(t.lastStatus ?? 'UNKNOWN')];
  if (t.desiredStatus === 'STOPPED' && t.lastStatus !== 'STOPPED') parts.push('stopping');
  if (t.stopCode) parts.push(`stopCode: ${t.stopCode}`);
  if (t.stoppedReason) parts.push(`stoppedReason: ${t.stoppedReason}`);
  const c = t.containers?.[0];
  if (c?.exitCode !== undefined && c.exitCode !== null) parts.push(`exit code ${c.exitCode}`);
  if (c?.reason) parts.push(`reason: ${c.reason}`);
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
    private readonly placement: EcsPlacement,
    minRefreshMs: number,
  ) {
    super(minRefreshMs, {
      noun: 'task',
      describe: async (ids) => {
        const res = await awsCall('DescribeTasks', () => e.client.send(new e.sdk.DescribeTasksCommand({ cluster: placement.cluster, tasks: ids })));
        return res.tasks ?? [];
      },
      idOf: (t) => t.taskArn,
      isDone: (t) => t.lastStatus === 'STOPPED',
      isRunning: (t) => t?.lastStatus === 'RUNNING',
      text: taskStatusText,
      keep: taskStatusOnly,
      stop: async (id, reason) => {
        await awsCall(`StopTask of ${id}`, () => e.client.send(new e.sdk.StopTaskCommand({ cluster: placement.cluster, task: id, reason })));
      },
    });
  }

  get cluster(): string {
    return this.placement.cluster;
  }

  /** RunTask of one worker. @throws AwsError with ECS's reason when it refuses or places nothing. */
  async run(workerId: number, command: string[], environment: Record<string, string>, s: TaskOptions): Promise<TaskHandle> {
    const { e, placement: p, runId } = this;
    const what = `RunTask of worker ${workerId} in cluster ${p.cluster}`;
    const res = await awsCall(what, () =>
      e.client.send(
        new e.sdk.RunTaskCommand({
          cluster: p.cluster,
          taskDefinition: p.taskDefinition,
          // on demand: the FARGATE launch type; Spot: a strategy of the cluster's FARGATE_SPOT provider
          ...(s.capacityProvider === 'FARGATE_SPOT'
            ? { capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] }
            : { launchType: 'FARGATE' }),
          count: 1,
          startedBy: runId,
          group: `riots:${runId}`,
          tags: [{ key: RUN_ID_TAG, value: runId }],
          networkConfiguration: {
            awsvpcConfiguration: { subnets: p.subnets, securityGroups: p.securityGroups, assignPublicIp: s.assignPublicIp ? 'ENABLED' : 'DISABLED' },
          },
          overrides: {
            ...(s.cpu ? { cpu: s.cpu } : {}),
            ...(s.memory ? { memory: s.memory } : {}),
            containerOverrides: [{ name: p.containerName, command, environment: Object.entries(environment).map(([name, value]) => ({ name, value })) }],
          },
        }),
      ),
    );
    const arn = res.tasks?.[0]?.taskArn;
    if (!arn) {
      const f = res.failures?.[0];
      throw new AwsError(`${what} started no task${f ? `: ${f.reason ?? 'failure'}${f.detail ? ` (${f.detail})` : ''}` : ''}`);
    }
    return this.track({ ...newTracked<EcsSdk.Task>(arn), workerId });
  }
}
