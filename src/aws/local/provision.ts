/**
 * Turning an evaluated stack into the objects Batch, ECS, ECR and EC2 calls see (queues, compute
 * environments, job definitions, clusters, task definitions, repositories, the security group),
 * and removing them again.
 */
import { asList, asRecord } from './wire.js';
import type { LocalContext } from './context.js';
import type { EvaluatedResource } from './template.js';
import { ACTIVE_STATUSES, type EcsTaskDefinition, type JobDefinition, type JobQueue, type SecurityGroup } from './state.js';

const lastPart = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);

/** A resource that could not be created, with the reason CloudFormation would give. */
export interface ProvisionFailure {
  logicalId: string;
  reason: string;
}

/** Names already taken by another stack (what AWS reports as "already exists"). */
export function conflicts(ctx: LocalContext, stackName: string, resources: EvaluatedResource[]): ProvisionFailure | undefined {
  const { state } = ctx;
  for (const r of resources) {
    const taken = (owner: { stackName: string } | undefined, what: string): ProvisionFailure | undefined =>
      owner && owner.stackName !== stackName
        ? { logicalId: r.logicalId, reason: `Resource of type '${r.type}' with identifier '${what}' already exists.` }
        : undefined;
    let f: ProvisionFailure | undefined;
    if (r.type === 'AWS::ECR::Repository') f = taken(state.repositories.get(r.physicalId), r.physicalId);
    else if (r.type === 'AWS::Batch::JobQueue') f = taken(state.jobQueues.get(lastPart(r.physicalId)), lastPart(r.physicalId));
    else if (r.type === 'AWS::Batch::ComputeEnvironment') f = taken(state.computeEnvironments.get(lastPart(r.physicalId)), lastPart(r.physicalId));
    if (f) return f;
  }
  return undefined;
}

/** Register every Batch/ECR/EC2 object of a stack (replacing what the stack registered before). */
export function provision(ctx: LocalContext, stackName: string, resources: EvaluatedResource[]): void {
  const { state } = ctx;
  const keepRepoImages = new Map([...state.repositories.values()].filter((r) => r.stackName === stackName).map((r) => [r.name, r]));
  const queueStates = new Map([...state.jobQueues.values()].filter((q) => q.stackName === stackName).map((q) => [q.name, q]));
  const clusterHolds = new Map([...state.ecsClusters.values()].filter((c) => c.stackName === stackName).map((c) => [c.name, c.holdReason]));
  unprovision(ctx, stackName, { terminateJobs: false });
  const groups = new Map<string, SecurityGroup>();
  for (const r of resources) {
    const p = r.properties;
    switch (r.type) {
      case 'AWS::Batch::ComputeEnvironment': {
        const cr = asRecord(p.ComputeResources);
        const name = lastPart(r.physicalId);
        state.computeEnvironments.set(name, {
          name,
          arn: r.physicalId,
          state: p.State === 'DISABLED' ? 'DISABLED' : 'ENABLED',
          status: 'VALID',
          maxvCpus: Number(cr.MaxvCpus ?? 0),
          instanceTypes: asList(cr.InstanceTypes).map(String),
          subnets: asList(cr.Subnets).map(String),
          securityGroupIds: asList(cr.SecurityGroupIds).map(String),
          stackName,
        });
        break;
      }
      case 'AWS::Batch::JobQueue': {
        const name = lastPart(r.physicalId);
        const previous = queueStates.get(name);
        const queue: JobQueue = {
          name,
          arn: r.physicalId,
          state: p.State === 'DISABLED' ? 'DISABLED' : 'ENABLED',
          status: 'VALID',
          priority: Number(p.Priority ?? 1),
          computeEnvironments: asList(p.ComputeEnvironmentOrder).map((o) => String(asRecord(o).ComputeEnvironment)),
          stackName,
        };
        if (previous?.holdReason !== undefined) queue.holdReason = previous.holdReason;
        state.jobQueues.set(name, queue);
        break;
      }
      case 'AWS::Batch::JobDefinition': {
        const d = jobDefinitionOf(r.physicalId, p, stackName);
        state.jobDefinitions.set(d.name, d);
        break;
      }
      case 'AWS::ECR::Repository': {
        const old = keepRepoImages.get(r.physicalId);
        state.repositories.set(r.physicalId, {
          name: r.physicalId,
          arn: r.attributes.Arn!,
          uri: r.attributes.RepositoryUri!,
          createdAt: old?.createdAt ?? new Date(),
          images: old?.images ?? new Map(),
          stackName,
        });
        break;
      }
      case 'AWS::ECS::Cluster':
        state.ecsClusters.set(r.physicalId, {
          name: r.physicalId,
          arn: r.attributes.Arn!,
          stackName,
          capacityProviders: asList(p.CapacityProviders).map(String),
          ...(clusterHolds.get(r.physicalId) !== undefined ? { holdReason: clusterHolds.get(r.physicalId)! } : {}),
        });
        break;
      case 'AWS::ECS::TaskDefinition': {
        const d = taskDefinitionOf(r.physicalId, p, stackName);
        state.taskDefinitions.set(`${d.family}:${d.revision}`, d);
        break;
      }
      case 'AWS::EC2::SecurityGroup': {
        const g: SecurityGroup = {
          id: r.physicalId,
          name: typeof p.GroupName === 'string' ? p.GroupName : `${stackName}-${r.logicalId}`,
          description: String(p.GroupDescription ?? ''),
          vpcId: String(p.VpcId ?? ''),
          ingress: asList(p.SecurityGroupIngress).map(asRecord).map(ingressRule),
          stackName,
        };
        groups.set(g.id, g);
        state.securityGroups.set(g.id, g);
        break;
      }
      case 'AWS::EC2::SecurityGroupIngress': {
        const g = groups.get(String(p.GroupId)) ?? state.securityGroups.get(String(p.GroupId));
        if (g) g.ingress.push(ingressRule(p));
        break;
      }
    }
  }
}

/** A Batch job definition from its template properties. */
function jobDefinitionOf(arn: string, p: Record<string, unknown>, stackName: string): JobDefinition {
  const c = asRecord(p.ContainerProperties);
  const req = asList(c.ResourceRequirements).map(asRecord);
  const find = (t: string): unknown => req.find((x) => x.Type === t)?.Value;
  const nameRev = lastPart(arn);
  const colon = nameRev.lastIndexOf(':');
  return {
    name: nameRev.slice(0, colon),
    arn,
    revision: Number(nameRev.slice(colon + 1)),
    image: String(c.Image ?? ''),
    command: asList(c.Command).map(String),
    environment: environmentOf(c.Environment),
    vcpus: Number(find('VCPU') ?? c.Vcpus ?? 1),
    memory: Number(find('MEMORY') ?? c.Memory ?? 2048),
    stackName,
  };
}

/** An ECS task definition from its template properties. */
function taskDefinitionOf(arn: string, p: Record<string, unknown>, stackName: string): EcsTaskDefinition {
  const nameRev = lastPart(arn);
  const colon = nameRev.lastIndexOf(':');
  return {
    family: nameRev.slice(0, colon),
    revision: Number(nameRev.slice(colon + 1)),
    arn,
    cpu: String(p.Cpu ?? ''),
    memory: String(p.Memory ?? ''),
    networkMode: String(p.NetworkMode ?? 'bridge'),
    requiresCompatibilities: asList(p.RequiresCompatibilities).map(String),
    containers: asList(p.ContainerDefinitions)
      .map(asRecord)
      .map((c) => ({
        name: String(c.Name ?? ''),
        image: String(c.Image ?? ''),
        command: asList(c.Command).map(String),
        environment: environmentOf(c.Environment),
        ...(c.LogConfiguration !== undefined
          ? {
              logConfiguration: {
                logDriver: String(asRecord(c.LogConfiguration).LogDriver),
                options: Object.fromEntries(Object.entries(asRecord(asRecord(c.LogConfiguration).Options)).map(([k, v]) => [k, String(v)])),
              },
            }
          : {}),
      })),
    stackName,
  };
}

function environmentOf(v: unknown): { name: string; value: string }[] {
  return asList(v).map((e) => ({ name: String(asRecord(e).Name), value: String(asRecord(e).Value ?? '') }));
}

function ingressRule(p: Record<string, unknown>): SecurityGroup['ingress'][number] {
  const rule: SecurityGroup['ingress'][number] = {
    protocol: String(p.IpProtocol ?? '-1'),
    fromPort: Number(p.FromPort ?? -1),
    toPort: Number(p.ToPort ?? -1),
  };
  if (p.SourceSecurityGroupId !== undefined) rule.sourceGroupId = String(p.SourceSecurityGroupId);
  if (p.CidrIp !== undefined) rule.cidr = String(p.CidrIp);
  if (p.Description !== undefined) rule.description = String(p.Description);
  return rule;
}

/** Repositories of a stack that still hold images (AWS refuses to delete them). */
export function nonEmptyRepositories(ctx: LocalContext, stackName: string): string[] {
  return [...ctx.state.repositories.values()].filter((r) => r.stackName === stackName && r.images.size > 0).map((r) => r.name);
}

/** Clusters of a stack with tasks not yet STOPPED (AWS refuses to delete them: ClusterContainsTasksException). */
export function busyClusters(ctx: LocalContext, stackName: string): string[] {
  const { state } = ctx;
  return [...state.ecsClusters.values()]
    .filter((c) => c.stackName === stackName && [...state.tasks.values()].some((t) => t.clusterArn === c.arn && t.lastStatus !== 'STOPPED'))
    .map((c) => c.name);
}

/** Remove a stack's objects; jobs still active in its queues are terminated, as AWS does. */
export function unprovision(ctx: LocalContext, stackName: string, opts: { terminateJobs: boolean }): void {
  const { state } = ctx;
  if (opts.terminateJobs) {
    const queues = new Set([...state.jobQueues.values()].filter((q) => q.stackName === stackName).map((q) => q.arn));
    for (const job of state.jobs.values()) {
      if (queues.has(job.jobQueue) && ACTIVE_STATUSES.includes(job.status)) ctx.jobs.terminate(job.jobId, 'Job queue deleted');
    }
  }
  const maps: Map<string, { stackName: string }>[] = [
    state.computeEnvironments,
    state.jobQueues,
    state.jobDefinitions,
    state.repositories,
    state.securityGroups,
    state.ecsClusters,
    state.taskDefinitions,
  ];
  for (const map of maps) for (const [k, v] of map) if (v.stackName === stackName) map.delete(k);
}
