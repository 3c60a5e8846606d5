/**
 * computeWorkerExtraParams for CW_ECS from the few facts a user has, as RIOS's
 * `makeExtraParams_Fargate` and `makeExtraParams_PrivateCluster` make them: a cluster and a task
 * definition for the run (and, for a private cluster, EC2 instances that join it), removed at its
 * end. The container image must run `riots computeworker` as its ENTRYPOINT (riots' worker image,
 * and images built FROM it with `riots batch build-image`, do).
 *
 * @example
 * ```ts
 * const extra = makeExtraParamsFargate({ jobName: 'ndvi', containerImage: uri, executionRoleArn, taskRoleArn, subnet, securityGroups: [sg] });
 * await apply(fn, infiles, outfiles, { controls: { concurrency: { computeWorkerKind: 'CW_ECS', numComputeWorkers: 8, computeWorkerExtraParams: extra } } });
 * ```
 */
import { randomBytes } from 'node:crypto';
import { ControlsError } from '../../errors.js';

interface Common {
  /** Part of the names of the cluster, task family and container. */
  jobName?: string;
  /** URI of the worker image (its ENTRYPOINT runs `riots computeworker`). Required. */
  containerImage: string;
  /** Role the workers' code uses (S3 access and the like). */
  taskRoleArn?: string;
  /** Role ECS uses to pull the image and write logs. */
  executionRoleArn?: string;
  securityGroups: string[];
  /** A CloudWatch log group (existing) for the workers' output; none by default. */
  cloudwatchLogGroup?: string;
  /** The region of the log group (default AWS_REGION). */
  region?: string;
  /** Tags for the cluster, task definition, tasks (and instances). */
  tags?: Record<string, string>;
}

export interface FargateOptions extends Common {
  /** The subnet of the tasks. Required (or the older `subnets`). */
  subnet?: string;
  subnets?: string[];
  /** Task CPU, in Fargate's units ('512', '0.5 vCPU'); default '0.5 vCPU'. */
  cpu?: string;
  /** Task memory ('1024', '1GB'); default '1GB'. */
  memory?: string;
  /** 'X86_64' (default) or 'ARM64'. */
  cpuArchitecture?: 'X86_64' | 'ARM64';
}

export interface PrivateClusterOptions extends Common {
  numInstances: number;
  ami: string;
  instanceType: string;
  subnet: string;
  /** Instance profile with the ECS container-instance role. */
  instanceProfileArn: string;
  /** MiB reserved for each worker's container (default 1024). */
  memoryReservation?: number;
}

function names(jobName: string | undefined): { cluster: string; family: string; container: string } {
  if (jobName !== undefined && !/^[A-Za-z0-9_-]{1,100}$/.test(jobName))
    throw new ControlsError(`jobName must be letters, digits, '-' and '_' (got ${JSON.stringify(jobName)})`);
  const id = jobName === undefined ? randomBytes(4).toString('hex') : `${jobName}-${randomBytes(4).toString('hex')}`;
  return { cluster: `riots-${id}-cluster`, family: `riots-${id}-task`, container: `riots-${id}-container` };
}

function need(o: object, keys: string[], fn: string): void {
  const missing = keys.filter((k) => (o as Record<string, unknown>)[k] === undefined);
  if (missing.length > 0) throw new ControlsError(`${fn}: give ${missing.join(', ')}`);
}

function container(o: Common, name: string, family: string): Record<string, unknown> {
  const c: Record<string, unknown> = { name, image: o.containerImage, essential: true };
  if (o.cloudwatchLogGroup !== undefined) {
    const region = o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (region === undefined) throw new ControlsError('cloudwatchLogGroup needs the region of the log group: give region (or set AWS_REGION)');
    c.logConfiguration = {
      logDriver: 'awslogs',
      options: { 'awslogs-group': o.cloudwatchLogGroup, 'awslogs-stream-prefix': family, 'awslogs-region': region },
    };
  }
  return c;
}

const ecsTags = (t: Record<string, string> | undefined): { key: string; value: string }[] => Object.entries(t ?? {}).map(([key, value]) => ({ key, value }));

function roles(o: Common): Record<string, string> {
  return { ...(o.taskRoleArn ? { taskRoleArn: o.taskRoleArn } : {}), ...(o.executionRoleArn ? { executionRoleArn: o.executionRoleArn } : {}) };
}

/** RIOS's makeExtraParams_Fargate: a cluster and a Fargate task definition for the run, in your subnet and security groups. */
export function makeExtraParamsFargate(o: FargateOptions): Record<string, unknown> {
  need(o, ['containerImage', 'securityGroups'], 'makeExtraParamsFargate');
  if ((o.subnet === undefined) === (o.subnets === undefined)) throw new ControlsError('makeExtraParamsFargate: give subnet (or the older subnets), not both');
  const n = names(o.jobName);
  const tags = ecsTags(o.tags);
  return {
    create_cluster: { clusterName: n.cluster, tags: [{ key: 'RIOS-cluster', value: '' }, ...tags] },
    register_task_definition: {
      family: n.family,
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      containerDefinitions: [container(o, n.container, n.family)],
      cpu: o.cpu ?? '0.5 vCPU',
      memory: o.memory ?? '1GB',
      ...roles(o),
      ...(o.cpuArchitecture ? { runtimePlatform: { cpuArchitecture: o.cpuArchitecture } } : {}),
      ...(tags.length > 0 ? { tags } : {}),
    },
    run_task: {
      launchType: 'FARGATE',
      cluster: n.cluster,
      networkConfiguration: {
        awsvpcConfiguration: { assignPublicIp: 'DISABLED', subnets: o.subnet !== undefined ? [o.subnet] : o.subnets, securityGroups: o.securityGroups },
      },
      overrides: { containerOverrides: [{ name: n.container }] },
      ...(tags.length > 0 ? { tags } : {}),
    },
  };
}

/** RIOS's makeExtraParams_PrivateCluster: EC2 instances started for the run that join a cluster made for it, and an EC2 task definition. */
export function makeExtraParamsPrivateCluster(o: PrivateClusterOptions): Record<string, unknown> {
  need(o, ['containerImage', 'securityGroups', 'numInstances', 'ami', 'instanceType', 'subnet', 'instanceProfileArn'], 'makeExtraParamsPrivateCluster');
  if (!Number.isInteger(o.numInstances) || o.numInstances < 1)
    throw new ControlsError(`makeExtraParamsPrivateCluster: numInstances must be a whole number from 1 (got ${String(o.numInstances)})`);
  const n = names(o.jobName);
  const tags = ecsTags(o.tags);
  return {
    waitClusterInstanceCountTimeout: 300,
    create_cluster: { clusterName: n.cluster, tags: [{ key: 'RIOS-cluster', value: '' }, ...tags] },
    run_instances: {
      ImageId: o.ami,
      InstanceType: o.instanceType,
      MinCount: 1,
      MaxCount: o.numInstances,
      SecurityGroupIds: o.securityGroups,
      SubnetId: o.subnet,
      IamInstanceProfile: { Arn: o.instanceProfileArn },
      UserData: `#!/bin/bash\necho ECS_CLUSTER=${n.cluster} >> /etc/ecs/ecs.config\n`,
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: 'RIOS-computeworkerinstance', Value: '' },
            { Key: 'RIOS-clustername', Value: n.cluster },
            ...Object.entries(o.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
          ],
        },
      ],
    },
    register_task_definition: {
      family: n.family,
      networkMode: 'awsvpc',
      requiresCompatibilities: ['EC2'],
      containerDefinitions: [{ ...container(o, n.container, n.family), memoryReservation: o.memoryReservation ?? 1024 }],
      ...roles(o),
      ...(tags.length > 0 ? { tags } : {}),
    },
    run_task: {
      launchType: 'EC2',
      cluster: n.cluster,
      networkConfiguration: { awsvpcConfiguration: { assignPublicIp: 'DISABLED', subnets: [o.subnet], securityGroups: o.securityGroups } },
      overrides: { containerOverrides: [{ name: n.container }] },
      ...(tags.length > 0 ? { tags } : {}),
    },
  };
}
