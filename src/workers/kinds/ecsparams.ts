/**
 * CW_ECS's computeWorkerExtraParams in RIOS's shape: the keyword arguments of the AWS calls a run
 * makes — `create_cluster` (CreateCluster: a cluster for the run, deleted at its end),
 * `run_instances` (RunInstances: EC2 instances that join it, terminated at the end),
 * `register_task_definition` (RegisterTaskDefinition: deregistered at the end) and `run_task`
 * (RunTask: cluster, launch type or capacity providers, network, overrides, tags). riots adds the
 * worker's command and environment, one task per call, and its run-id tag; each argument object
 * takes only the names its AWS call has.
 */
import type * as EcsSdk from '@aws-sdk/client-ecs';
import type * as Ec2Sdk from '@aws-sdk/client-ec2';
import { ControlsError } from '../../errors.js';
import { checkKnownKeys, custom, seconds, type Setting, type SettingsTable } from '../../settings.js';
import { CHANNEL_KEY_ENV } from '../channel/address.js';

const CREATE_CLUSTER_KEYS = [
  'clusterName',
  'tags',
  'settings',
  'configuration',
  'capacityProviders',
  'defaultCapacityProviderStrategy',
  'serviceConnectDefaults',
] as const satisfies readonly (keyof EcsSdk.CreateClusterCommandInput)[];

const REGISTER_KEYS = [
  'family',
  'taskRoleArn',
  'executionRoleArn',
  'networkMode',
  'containerDefinitions',
  'volumes',
  'placementConstraints',
  'requiresCompatibilities',
  'cpu',
  'memory',
  'tags',
  'pidMode',
  'ipcMode',
  'proxyConfiguration',
  'inferenceAccelerators',
  'ephemeralStorage',
  'runtimePlatform',
] as const satisfies readonly (keyof EcsSdk.RegisterTaskDefinitionCommandInput)[];

/** RunTask's arguments a run may give (riots sets count, startedBy and the worker's command). */
const RUN_TASK_KEYS = [
  'cluster',
  'taskDefinition',
  'launchType',
  'capacityProviderStrategy',
  'networkConfiguration',
  'overrides',
  'placementConstraints',
  'placementStrategy',
  'platformVersion',
  'propagateTags',
  'enableECSManagedTags',
  'enableExecuteCommand',
  'group',
  'tags',
] as const satisfies readonly (keyof EcsSdk.RunTaskCommandInput)[];

const RUN_INSTANCES_KEYS = [
  'ImageId',
  'InstanceType',
  'MinCount',
  'MaxCount',
  'KeyName',
  'SecurityGroupIds',
  'SecurityGroups',
  'SubnetId',
  'UserData',
  'IamInstanceProfile',
  'TagSpecifications',
  'BlockDeviceMappings',
  'NetworkInterfaces',
  'Placement',
  'Monitoring',
  'MetadataOptions',
  'EbsOptimized',
  'InstanceMarketOptions',
  'CreditSpecification',
  'LaunchTemplate',
  'PrivateIpAddress',
  'InstanceInitiatedShutdownBehavior',
] as const satisfies readonly (keyof Ec2Sdk.RunInstancesCommandInput)[];

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** An AWS call's keyword arguments: an object of the names the call has. */
function apiArgs<T>(name: string, call: string, keys: readonly string[], meaning: string): Setting<T | undefined> {
  return custom(`an object of ${call} arguments`, { meaning }, (v, bad) => {
    if (!isObject(v)) bad(`an object of ${call}'s arguments (${keys.slice(0, 4).join(', ')}, …)`);
    checkKnownKeys(v as object, keys, `computeWorkerExtraParams.${name}`, call);
    return v as T;
  });
}

/** The RIOS-shaped settings of CW_ECS. */
export const ECS_RIOS_SETTINGS = {
  create_cluster: apiArgs<EcsSdk.CreateClusterCommandInput>(
    'create_cluster',
    'CreateCluster',
    CREATE_CLUSTER_KEYS,
    'a cluster made for the run (deleted at its end)',
  ),
  run_instances: apiArgs<Ec2Sdk.RunInstancesCommandInput>(
    'run_instances',
    'RunInstances',
    RUN_INSTANCES_KEYS,
    'EC2 instances started for the run, joining its cluster through their UserData (terminated at its end)',
  ),
  register_task_definition: apiArgs<EcsSdk.RegisterTaskDefinitionCommandInput>(
    'register_task_definition',
    'RegisterTaskDefinition',
    REGISTER_KEYS,
    "the workers' task definition, registered for the run (deregistered at its end)",
  ),
  run_task: apiArgs<EcsSdk.RunTaskCommandInput>('run_task', 'RunTask', RUN_TASK_KEYS, "RunTask's arguments for every worker's task"),
  waitClusterInstanceCountTimeout: seconds(300, "how long run_instances' instances may take to join the cluster (and to leave it)"),
} satisfies SettingsTable;

export interface RiosEcsParams {
  create_cluster: EcsSdk.CreateClusterCommandInput | undefined;
  run_instances: Ec2Sdk.RunInstancesCommandInput | undefined;
  register_task_definition: EcsSdk.RegisterTaskDefinitionCommandInput | undefined;
  run_task: EcsSdk.RunTaskCommandInput | undefined;
  waitClusterInstanceCountTimeout: number;
}

/** Whether a run gives any of RIOS's call arguments. */
export function usesRiosParams(p: RiosEcsParams): boolean {
  return p.create_cluster !== undefined || p.run_instances !== undefined || p.register_task_definition !== undefined || p.run_task !== undefined;
}

/** What the RIOS-shaped arguments say of the placement; what they leave out comes from the stack. */
export interface RiosPlacement {
  cluster?: string;
  taskDefinition?: string;
  containerName?: string;
  /** Whether the task definition will be registered by the run (its ARN known only then). */
  registers: boolean;
}

/**
 * The placement RIOS's arguments give, checked for what cannot work together.
 * @throws {ControlsError} naming the conflict.
 */
export function riosPlacement(p: RiosEcsParams): RiosPlacement {
  const rt = p.run_task;
  const cc = p.create_cluster?.clusterName;
  if (p.create_cluster && !cc) throw new ControlsError('computeWorkerExtraParams.create_cluster needs a clusterName');
  if (p.run_instances && !p.create_cluster)
    throw new ControlsError('computeWorkerExtraParams.run_instances starts instances for a cluster made for the run: give create_cluster too');
  if (rt?.cluster !== undefined && cc !== undefined && rt.cluster !== cc) {
    throw new ControlsError(`computeWorkerExtraParams.run_task.cluster (${rt.cluster}) is not the cluster create_cluster makes (${cc})`);
  }
  if (rt?.taskDefinition !== undefined && p.register_task_definition) {
    throw new ControlsError('computeWorkerExtraParams.run_task.taskDefinition: leave it out when register_task_definition registers one for the run');
  }
  const overrides = rt?.overrides?.containerOverrides ?? [];
  for (const o of overrides) {
    if (o.command !== undefined)
      throw new ControlsError(`computeWorkerExtraParams.run_task.overrides.containerOverrides (${o.name ?? '?'}).command: riots sets the worker's command`);
    if (o.environment?.some((e) => e.name === CHANNEL_KEY_ENV))
      throw new ControlsError(`computeWorkerExtraParams.run_task: ${CHANNEL_KEY_ENV} is riots' to set`);
  }
  const defs = p.register_task_definition?.containerDefinitions ?? [];
  if (p.register_task_definition && defs.length === 0) throw new ControlsError('computeWorkerExtraParams.register_task_definition needs containerDefinitions');
  const containerName = overrides[0]?.name ?? (defs.length === 1 ? defs[0]!.name : undefined);
  if (p.register_task_definition && containerName === undefined) {
    throw new ControlsError(
      'computeWorkerExtraParams: name the container that runs riots in run_task.overrides.containerOverrides[0].name (the task definition has several)',
    );
  }
  return {
    ...((cc ?? rt?.cluster) ? { cluster: cc ?? rt!.cluster! } : {}),
    ...(rt?.taskDefinition ? { taskDefinition: rt.taskDefinition } : {}),
    ...(containerName ? { containerName } : {}),
    registers: p.register_task_definition !== undefined,
  };
}
