/**
 * CW_ECS: one ECS task per compute worker, on Fargate, in the cluster and with the task
 * definition of the riots stack (aws/batch.yaml: `EcsClusterName`, `EcsWorkerTaskDefinitionArn`,
 * `EcsWorkerContainerName`), in the stack's private subnets and security group — or in a cluster,
 * task definition and network of your own, named in computeWorkerExtraParams.
 *
 * Only the start and stop of workers is here (a {@link Launcher}); scheduling, the channel,
 * re-queueing of lost workers' blocks and the barrier are the shared channel backend's
 * (remote.ts). The task definition's image is the worker image, whose ENTRYPOINT is
 * `riots computeworker`, so the container's command override is only its arguments. The run's
 * key goes in the container's environment override (RIOTS_CHANNEL_KEY), never in the command:
 * note that any principal allowed `ecs:DescribeTasks` on the cluster can read it while the task
 * is known. Every task is started by (`startedBy`) and tagged `riots-run-id` with the run id, so
 * `riots batch cleanup --run-id` finds them.
 *
 * Fargate starts a task in tens of seconds, not the minutes an EC2 instance takes, and bills
 * by the second from the image pull, so the run never leaves one behind: cancel() stops tasks
 * and waits until ECS says STOPPED, and a process that exits mid-run stops its tasks at 'exit'
 * with `riots batch cleanup` (awsrun.ts).
 *
 * computeWorkerExtraParams (besides the shared ones of remote.ts):
 * - `channelAddress`: the address workers connect to (as for CW_AWSBATCH).
 * - `stackName`, `region`: the riots stack (default RIOS_AWSBATCH_STACK / RIOS_AWSBATCH_REGION).
 * - `cluster`, `taskDefinition`, `containerName`, `subnets`, `securityGroups`: override the
 *   stack's outputs (with all five given, no stack is read). `assignPublicIp` (false).
 * - `cpu`, `memory`: task-level overrides (Fargate sizes: '1024', '4096').
 * - `capacityProvider`: 'FARGATE' (default) or 'FARGATE_SPOT' (up to ~70% cheaper; Fargate may
 *   take a task back with two minutes' notice, and its blocks are then re-run by the others).
 * - `taskEnvironment`: more environment variables for the worker container.
 * - `pollSeconds` (5), `jobEndGraceSeconds` (5), `stopWaitSeconds` (60),
 *   `exitCleanupWaitSeconds` (30): as for CW_AWSBATCH.
 * - `singleBlockMaxWorkers`: tasks alive at once with singleBlockComputeWorkers (default 32).
 * - RIOS's shape (ecsparams.ts): `create_cluster`, `run_instances`, `register_task_definition`,
 *   `run_task`, `waitClusterInstanceCountTimeout`: a cluster, instances and a task definition
 *   made for the run and removed at its end (src/aws/ecsrun.ts), RunTask's own arguments; what
 *   they leave out (cluster, task definition, container) comes from the stack.
 */
import type * as EcsSdk from '@aws-sdk/client-ecs';
import type { RunDescription } from '../backend.js';
import type { ComputeBackend } from '../backend.js';
import { ec2, ecs } from '../../aws/clients.js';
import { RunTasks, placementTemplate, type EcsPlacement, type TaskHandle, type TaskTemplate } from '../../aws/tasks.js';
import { EcsRunResources } from '../../aws/ecsrun.js';
import { ControlsError } from '../../errors.js';
import { ECS_RIOS_SETTINGS, riosPlacement, usesRiosParams, type RiosEcsParams } from './ecsparams.js';

export { RunTasks, taskStatusText, type EcsLoaded, type EcsPlacement, type TaskHandle } from '../../aws/tasks.js';
import { advertisedChannelAddress } from '../../aws/netaddr.js';
import { getStackOutputs, type BatchStackOutputs } from '../../aws/stack.js';
import { AwsError } from '../../errors.js';
import { newRunId } from '../../runid.js';
import { AwsRunLauncher } from './aws.js';
import { CHANNEL_KEY_ENV } from '../channel/address.js';
import { CHANNEL_SETTINGS } from '../pool/settings.js';
import { custom, environment, flag, oneOf, opaque, parseSettings, seconds, text, type Setting, type SettingsTable } from '../../settings.js';
import { ChannelWorkerBackend } from '../pool/channelbackend.js';

export interface EcsSettings {
  channelAddress: unknown;
  stackName: string | undefined;
  region: string | undefined;
  /** What the settings give of the placement (the rest comes from the stack). */
  placement: Partial<EcsPlacement>;
  assignPublicIp: boolean;
  cpu: string | undefined;
  memory: string | undefined;
  capacityProvider: 'FARGATE' | 'FARGATE_SPOT';
  taskEnvironment: Record<string, string>;
  pollSeconds: number;
  jobEndGraceSeconds: number;
  stopWaitSeconds: number;
  exitCleanupWaitSeconds: number;
  /** RIOS's call arguments (all undefined: riots' own placement). */
  rios: RiosEcsParams;
}

const PLACEMENT_KEYS = ['cluster', 'taskDefinition', 'containerName', 'subnets', 'securityGroups'] as const;

/** A non-empty list of ids: an array, or a comma-separated string. */
function idList(meaning: string): Setting<string[] | undefined> {
  return custom('a list of ids', { default: "the stack's outputs", meaning }, (v, bad) => {
    const items = typeof v === 'string' ? v.split(',').map((x) => x.trim()) : v;
    if (!Array.isArray(items) || items.length === 0 || items.some((x) => typeof x !== 'string' || x === ''))
      bad('a non-empty list of ids (an array, or a comma-separated string)');
    return items as string[];
  });
}

/** A task size: a positive whole number, as a string or a number. */
function taskSize(unit: string): Setting<string | undefined> {
  return custom(`a positive whole number (${unit})`, { default: "the task definition's", meaning: `task size for this run, in ${unit}` }, (v, bad) => {
    if ((typeof v !== 'string' && typeof v !== 'number') || !/^[1-9]\d*$/.test(String(v))) bad(`a positive whole number (${unit})`);
    return String(v);
  });
}

/** CW_ECS's own computeWorkerExtraParams (besides the channel's). */
export const ECS_SETTINGS = {
  channelAddress: opaque({ default: 'found', meaning: 'the host or IP the workers connect to' }),
  stackName: text({ default: '`RIOS_AWSBATCH_STACK`', meaning: 'the riots stack whose outputs give the placement' }),
  region: text({ default: '`RIOS_AWSBATCH_REGION`', meaning: "the stack's region" }),
  cluster: text({ default: "the stack's `EcsClusterName`", meaning: 'the ECS cluster of the tasks' }),
  taskDefinition: text({ default: "the stack's `EcsWorkerTaskDefinitionArn`", meaning: 'the task definition of the workers' }),
  containerName: text({ default: "the stack's `EcsWorkerContainerName`", meaning: 'its container that runs riots' }),
  subnets: idList('the subnets of the tasks'),
  securityGroups: idList('the security groups of the tasks'),
  assignPublicIp: flag(false, 'give each task a public IP (public subnets without a NAT gateway)'),
  cpu: taskSize('CPU units, 1024 = 1 vCPU'),
  memory: taskSize('MiB'),
  capacityProvider: oneOf(['FARGATE', 'FARGATE_SPOT'], 'FARGATE', '`FARGATE_SPOT` runs the tasks on spare capacity at a discount'),
  taskEnvironment: environment((k) => (k === CHANNEL_KEY_ENV ? 'riots sets it' : undefined), 'more environment variables for the worker container'),
  pollSeconds: seconds(5, 'how often one `DescribeTasks` follows every task of the run'),
  jobEndGraceSeconds: seconds(5, 'at the end, how long a task may take to exit by itself before `StopTask`', true),
  stopWaitSeconds: seconds(60, 'how long to wait for a stopped task to be STOPPED', true),
  exitCleanupWaitSeconds: seconds(30, 'how long a process exiting mid-run waits for the clean-up', true),
} satisfies SettingsTable;

/** Every computeWorkerExtraParams of CW_ECS. */
export const EXTRA_PARAMS: SettingsTable = { ...CHANNEL_SETTINGS, ...ECS_SETTINGS, ...ECS_RIOS_SETTINGS };

/** riots' own placement and task settings, which RIOS's run_task replaces. */
const RIOTS_TASK_KEYS = [...PLACEMENT_KEYS, 'assignPublicIp', 'cpu', 'memory', 'capacityProvider'] as const;

/** Read the CW_ECS settings of computeWorkerExtraParams. @throws {ControlsError} on a bad value. */
export function ecsSettings(extra: Readonly<Record<string, unknown>>): EcsSettings {
  const { cluster, taskDefinition, containerName, subnets, securityGroups, ...rest } = parseSettings(ECS_SETTINGS, extra, 'computeWorkerExtraParams', {
    strict: false,
  });
  const rios = parseSettings(ECS_RIOS_SETTINGS, extra, 'computeWorkerExtraParams', { strict: false });
  const placement: Partial<EcsPlacement> = {};
  for (const [k, v] of Object.entries({ cluster, taskDefinition, containerName, subnets, securityGroups })) {
    if (v !== undefined) (placement as Record<string, unknown>)[k] = v;
  }
  if (rios.run_task !== undefined) {
    const both = RIOTS_TASK_KEYS.filter((k) => extra[k] !== undefined);
    if (both.length > 0) {
      throw new ControlsError(
        `computeWorkerExtraParams: give the tasks' placement either as RIOS's run_task or with ${both.join(', ')}, not both (run_task would leave ${both.length > 1 ? 'them' : 'it'} unused)`,
      );
    }
  }
  if (usesRiosParams(rios)) riosPlacement(rios); // its checks, before anything starts
  return { ...rest, placement, rios };
}

/**
 * The placement: the settings first, then the stack's outputs.
 * @throws {AwsError} naming the stack and the outputs it lacks (a stack created before CW_ECS existed: update it).
 */
export function ecsPlacement(given: Partial<EcsPlacement>, out: BatchStackOutputs | undefined): EcsPlacement {
  const fromStack: Partial<EcsPlacement> = out
    ? {
        ...(out.EcsClusterName ? { cluster: out.EcsClusterName } : {}),
        ...(out.EcsWorkerTaskDefinitionArn ? { taskDefinition: out.EcsWorkerTaskDefinitionArn } : {}),
        ...(out.EcsWorkerContainerName ? { containerName: out.EcsWorkerContainerName } : {}),
        ...(out.BatchPrivateSubnets ? { subnets: out.BatchPrivateSubnets.split(',').filter((x) => x !== '') } : {}),
        ...(out.BatchSecurityGroup ? { securityGroups: [out.BatchSecurityGroup] } : {}),
      }
    : {};
  const p = { ...fromStack, ...given };
  const missing = PLACEMENT_KEYS.filter((k) => p[k] === undefined);
  if (missing.length > 0) {
    const outputs: Record<(typeof PLACEMENT_KEYS)[number], string> = {
      cluster: 'EcsClusterName',
      taskDefinition: 'EcsWorkerTaskDefinitionArn',
      containerName: 'EcsWorkerContainerName',
      subnets: 'BatchPrivateSubnets',
      securityGroups: 'BatchSecurityGroup',
    };
    throw new AwsError(
      `CW_ECS: stack '${out?.stackName ?? '?'}' has no output ${missing.map((k) => outputs[k]).join(', ')} ` +
        `(a stack created before CW_ECS existed: update it with 'riots batch create --modify'), ` +
        `or give computeWorkerExtraParams.${missing.join(', .')}`,
    );
  }
  return p as EcsPlacement;
}

export class EcsLauncher extends AwsRunLauncher<EcsSdk.Task, TaskHandle, TaskHandle> {
  readonly kind = 'CW_ECS';
  readonly singleBlockWorkers = { default: 32 };

  constructor(
    runId: string,
    readonly tasks: RunTasks,
    private readonly s: EcsSettings,
    advertiseHost: string,
    stack: { stackName: string; region: string | undefined },
    destroyClient: () => void,
    /** What the run makes for itself (RIOS's create_cluster, run_instances, register_task_definition). */
    private readonly resources?: EcsRunResources,
  ) {
    super(
      runId,
      tasks,
      advertiseHost,
      s,
      stack,
      {
        active: (ids) => `${ids.length} ECS task(s) of run ${runId}`,
        starting: `the ECS task being started for run ${runId}`,
        // the cluster named: the tasks are found without reading the stack (which a run with a placement of its own has not)
        cleanupArgs: (ids) => ['--cluster', tasks.cluster, ...ids.flatMap((id) => ['--task-id', id])],
      },
      destroyClient,
    );
  }

  /** The run's cluster, instances and task definition first (the exit clean-up armed before), then the tasks. */
  override async prepare(): Promise<void> {
    await super.prepare();
    if (this.resources) {
      const made = await this.resources.create();
      if (made.taskDefinitionArn) this.tasks.useTaskDefinition(made.taskDefinitionArn);
    }
    await this.tasks.learnLogs();
  }

  protected override holdsResources(): boolean {
    const m = this.resources?.made;
    return m !== undefined && (m.cluster !== undefined || m.taskDefinitionArn !== undefined || m.instanceIds.length > 0);
  }

  /** The tasks are stopped by now: remove what the run made, and say plainly what could not be. */
  override async close(): Promise<void> {
    if (this.resources) {
      // every task seen to end while its cluster still exists (one launched as the run was ending may not have been cancelled by its slot)
      const open = [...this.tracker.jobs.values()].filter((j) => j.endedText === undefined);
      await Promise.all(open.map((j) => this.tracker.stop(j, `riots run ${this.runId} ended`, 0, this.s.stopWaitSeconds * 1000).catch(() => undefined)));
    }
    const left = (await this.resources?.destroy()) ?? [];
    if (left.length > 0) {
      process.emitWarning(
        `CW_ECS run ${this.runId} could not remove all it made: ${left.join('; ')}. Run 'riots batch cleanup --run-id ${this.runId}' (it runs at exit too)`,
        { code: 'RIOTS_ECS_LEFT_BEHIND' },
      );
    }
    await super.close();
  }

  protected start(workerId: number, command: string[], env: Record<string, string>): Promise<TaskHandle> {
    // taskEnvironment may not name the key, so it cannot displace it; it may raise UV_THREADPOOL_SIZE
    return this.tasks.run(workerId, command, { ...env, ...this.s.taskEnvironment });
  }

  describe(h: TaskHandle): string {
    return `task ${h.id.slice(h.id.lastIndexOf('/') + 1)}`;
  }
}

/**
 * Entry point for src/workers/index.ts: the placement (settings, else the stack's outputs), and
 * the channel backend with the ECS launcher. Nothing is started before start().
 * @throws {ControlsError} for bad settings; AwsError when the stack cannot be read or lacks the ECS outputs.
 */
export async function createBackend(run: RunDescription): Promise<ComputeBackend> {
  const s = ecsSettings(run.concurrency.computeWorkerExtraParams);
  const advertiseHost = advertisedChannelAddress(s.channelAddress);
  const rios = usesRiosParams(s.rios) ? riosPlacement(s.rios) : undefined;
  const needStack = rios
    ? rios.cluster === undefined || (rios.taskDefinition === undefined && !rios.registers) || rios.containerName === undefined
    : PLACEMENT_KEYS.some((k) => s.placement[k] === undefined);
  const out = needStack ? await getStackOutputs({ ...(s.stackName ? { stackName: s.stackName } : {}), ...(s.region ? { region: s.region } : {}) }) : undefined;
  const region = out?.region ?? s.region;
  const template = rios ? riosTemplate(s.rios, rios, out) : placementTemplate(ecsPlacement(s.placement, out), s);
  const e = await ecs(region);
  const runId = newRunId(run.controls.global.jobName);
  const made = s.rios.create_cluster || s.rios.run_instances || s.rios.register_task_definition;
  const x = s.rios.run_instances ? await ec2(region) : undefined;
  const resources = made
    ? new EcsRunResources(
        e,
        x,
        runId,
        { createCluster: s.rios.create_cluster, runInstances: s.rios.run_instances, registerTaskDefinition: s.rios.register_task_definition },
        { instanceWaitSeconds: s.rios.waitClusterInstanceCountTimeout, pollSeconds: s.pollSeconds },
      )
    : undefined;
  // at most 4 DescribeTasks a second when many callers want fresh statuses at once (the end of a run)
  const tasks = new RunTasks(e, runId, template, Math.min(250, s.pollSeconds * 500));
  const destroy = (): void => {
    e.client.destroy();
    x?.client.destroy();
  };
  const launcher = new EcsLauncher(runId, tasks, s, advertiseHost, { stackName: out?.stackName ?? s.stackName ?? '', region }, destroy, resources);
  try {
    return new ChannelWorkerBackend(run, launcher);
  } catch (err) {
    destroy();
    throw err;
  }
}

/**
 * The task template from RIOS's run_task, with what it leaves out from the stack.
 * @throws {AwsError} naming the stack output that is missing.
 */
function riosTemplate(p: RiosEcsParams, r: ReturnType<typeof riosPlacement>, out: BatchStackOutputs | undefined): TaskTemplate {
  const cluster = r.cluster ?? out?.EcsClusterName;
  const taskDefinition = r.registers ? '' : (r.taskDefinition ?? out?.EcsWorkerTaskDefinitionArn);
  const containerName = r.containerName ?? out?.EcsWorkerContainerName;
  const missing = [
    ...(cluster === undefined ? ['the cluster (run_task.cluster, or create_cluster; the stack output EcsClusterName)'] : []),
    ...(taskDefinition === undefined ? ['the task definition (run_task.taskDefinition, or register_task_definition; EcsWorkerTaskDefinitionArn)'] : []),
    ...(containerName === undefined ? ['the container (run_task.overrides.containerOverrides[0].name; EcsWorkerContainerName)'] : []),
  ];
  if (missing.length > 0) throw new AwsError(`CW_ECS: stack '${out?.stackName ?? '?'}' does not give ${missing.join(', ')}`);
  return { cluster: cluster!, containerName: containerName!, input: { ...p.run_task, cluster, taskDefinition } };
}
