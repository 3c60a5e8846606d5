/**
 * Checks that the riots AWS Batch stack can run a job with N compute workers, each reported on
 * its own: the stack outputs, the security-group rule the data channel needs, the queues, their
 * compute environments, the worker limit, the images in the stack's repositories, and for CW_ECS
 * the cluster and task definition.
 */
import { awsCall, batch, ec2, ecr, ecs, toAwsError } from './clients.js';
import { ecsArch, imageArchitectures, instanceArch, platformFor, type Arch } from './imagearch.js';
import { parseRepositoryUri } from './images.js';
import { getStackOutputs, maxWorkers, type BatchStackOutputs, type StackOptions } from './stack.js';

/** The TCP port range the data channel listens on, allowed between members of the group. */
export const CHANNEL_PORTS = { from: 30000, to: 50000 } as const;

export type CheckState = 'PASS' | 'FAIL' | 'SKIP';

export interface CheckResult {
  name: string;
  state: CheckState;
  detail: string;
}

export interface PreflightOptions extends StackOptions {
  /** Compute workers the run will ask for (default 1). */
  workers?: number;
}

/** Minimal view of one EC2 IpPermission. */
export interface IngressRule {
  IpProtocol?: string | undefined;
  FromPort?: number | undefined;
  ToPort?: number | undefined;
  UserIdGroupPairs?: { GroupId?: string | undefined }[] | undefined;
}

/** Whether the rules let members of `groupId` reach each other on TCP 30000-50000 (pure). */
export function hasSelfChannelRule(rules: IngressRule[], groupId: string): boolean {
  return rules.some((r) => {
    const fromSelf = (r.UserIdGroupPairs ?? []).some((p) => p.GroupId === groupId);
    if (!fromSelf) return false;
    if (r.IpProtocol === '-1') return true; // all traffic
    if (r.IpProtocol !== 'tcp' && r.IpProtocol !== '6') return false;
    return (r.FromPort ?? Infinity) <= CHANNEL_PORTS.from && (r.ToPort ?? -Infinity) >= CHANNEL_PORTS.to;
  });
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function checkSecurityGroup(o: BatchStackOutputs): Promise<CheckResult> {
  const name = `security group allows TCP ${CHANNEL_PORTS.from}-${CHANNEL_PORTS.to} from itself`;
  const sg = o.BatchSecurityGroup;
  if (sg === undefined) return { name, state: 'FAIL', detail: 'the stack has no BatchSecurityGroup output' };
  const { sdk, client } = await ec2(o.region);
  const res = await awsCall(`DescribeSecurityGroups of ${sg}`, () => client.send(new sdk.DescribeSecurityGroupsCommand({ GroupIds: [sg] })));
  const group = res.SecurityGroups?.find((g) => g.GroupId === sg);
  if (group === undefined) return { name, state: 'FAIL', detail: `security group ${sg} not found` };
  return hasSelfChannelRule(group.IpPermissions ?? [], sg)
    ? { name, state: 'PASS', detail: sg }
    : {
        name,
        state: 'FAIL',
        detail: `${sg} has no inbound rule for TCP ${CHANNEL_PORTS.from}-${CHANNEL_PORTS.to} from ${sg}; workers could not connect back`,
      };
}

/** Queues and compute environments, as two results. */
async function checkQueuesAndEnvironments(o: BatchStackOutputs): Promise<CheckResult[]> {
  const qName = 'job queues are VALID and ENABLED';
  const ceName = 'compute environments are VALID and ENABLED';
  const queues = [o.BatchProcessingJobQueueName];
  if (o.BatchProcessingJobQueueNameMain) queues.push(o.BatchProcessingJobQueueNameMain);
  const { sdk, client } = await batch(o.region);
  const res = await awsCall('DescribeJobQueues', () => client.send(new sdk.DescribeJobQueuesCommand({ jobQueues: queues })));
  const found = res.jobQueues ?? [];
  const problems: string[] = [];
  const envs = new Set<string>();
  for (const q of queues) {
    const d = found.find((x) => x.jobQueueName === q || x.jobQueueArn === q);
    if (d === undefined) {
      problems.push(`${q} not found`);
      continue;
    }
    if (d.status !== 'VALID' || d.state !== 'ENABLED') {
      problems.push(`${q} is ${d.status}/${d.state}${d.statusReason ? ` (${d.statusReason})` : ''}`);
    }
    for (const c of d.computeEnvironmentOrder ?? []) if (c.computeEnvironment) envs.add(c.computeEnvironment);
  }
  const qResult: CheckResult = problems.length
    ? { name: qName, state: 'FAIL', detail: problems.join('; ') }
    : { name: qName, state: 'PASS', detail: queues.join(', ') };
  if (envs.size === 0) {
    return [qResult, { name: ceName, state: 'FAIL', detail: 'the queues name no compute environment' }];
  }
  const ceRes = await awsCall('DescribeComputeEnvironments', () => client.send(new sdk.DescribeComputeEnvironmentsCommand({ computeEnvironments: [...envs] })));
  const ceProblems: string[] = [];
  const names: string[] = [];
  for (const e of envs) {
    const d = ceRes.computeEnvironments?.find((x) => x.computeEnvironmentArn === e || x.computeEnvironmentName === e);
    if (d === undefined) {
      ceProblems.push(`${e} not found`);
      continue;
    }
    const label = d.computeEnvironmentName ?? e;
    names.push(label);
    if (d.status !== 'VALID' || (d.state !== undefined && d.state !== 'ENABLED')) {
      ceProblems.push(`${label} is ${d.status}/${d.state}${d.statusReason ? ` (${d.statusReason})` : ''}`);
    }
  }
  const ceResult: CheckResult = ceProblems.length
    ? { name: ceName, state: 'FAIL', detail: ceProblems.join('; ') }
    : { name: ceName, state: 'PASS', detail: names.join(', ') };
  return [qResult, ceResult];
}

export const ECS_CHECK = 'ECS cluster and worker task definition are ACTIVE (CW_ECS)';

/** The ECS cluster is ACTIVE, and the worker task definition ACTIVE, Fargate-compatible and with its container. */
async function checkEcs(o: BatchStackOutputs): Promise<CheckResult> {
  const name = ECS_CHECK;
  const cluster = o.EcsClusterName;
  const defArn = o.EcsWorkerTaskDefinitionArn;
  const container = o.EcsWorkerContainerName;
  if (cluster === undefined || defArn === undefined || container === undefined) {
    return { name, state: 'SKIP', detail: `stack ${o.stackName} has no ECS outputs (made before CW_ECS); 'riots batch create --modify' adds them` };
  }
  const { sdk, client } = await ecs(o.region);
  try {
    const problems: string[] = [];
    const cl = await awsCall(`DescribeClusters of ${cluster}`, () => client.send(new sdk.DescribeClustersCommand({ clusters: [cluster] })));
    const c = cl.clusters?.find((x) => x.clusterName === cluster || x.clusterArn === cluster);
    if (c === undefined) problems.push(`cluster ${cluster} is ${cl.failures?.[0]?.reason ?? 'not found'}`);
    else if (c.status !== 'ACTIVE') problems.push(`cluster ${cluster} is ${c.status}`);
    let summary = '';
    try {
      const td = (await awsCall(`DescribeTaskDefinition of ${defArn}`, () => client.send(new sdk.DescribeTaskDefinitionCommand({ taskDefinition: defArn }))))
        .taskDefinition;
      if (td?.status !== 'ACTIVE') problems.push(`task definition ${defArn} is ${td?.status ?? 'not found'}`);
      if (!(td?.requiresCompatibilities ?? []).includes('FARGATE')) problems.push(`task definition ${defArn} is not Fargate-compatible`);
      if (!(td?.containerDefinitions ?? []).some((d) => d.name === container)) problems.push(`task definition ${defArn} has no container '${container}'`);
      summary = `${td?.family}:${td?.revision}, ${td?.cpu} CPU units, ${td?.memory} MiB`;
    } catch (e) {
      problems.push(errText(e));
    }
    return problems.length > 0 ? { name, state: 'FAIL', detail: problems.join('; ') } : { name, state: 'PASS', detail: `${cluster}, ${summary}` };
  } finally {
    client.destroy();
  }
}

/** The check of the worker image; the main image's follows it. */
export const IMAGE_CHECK = 'worker image is pushed to BatchECR as latest';

/** An image tagged latest in a repository: PASS with when it was pushed, else `missing` with the fix. */
async function checkImage(o: BatchStackOutputs, uri: string | undefined, name: string, missing: 'FAIL' | 'SKIP', fix: string): Promise<CheckResult> {
  if (uri === undefined) return { name, state: 'FAIL', detail: `stack ${o.stackName} has no repository output for it` };
  const { sdk, client } = await ecr(o.region);
  try {
    const r = await client.send(new sdk.DescribeImagesCommand({ ...parseRepositoryUri(uri), imageIds: [{ imageTag: 'latest' }] }));
    const d = r.imageDetails?.[0];
    return { name, state: 'PASS', detail: `${uri}:latest${d?.imagePushedAt ? `, pushed ${d.imagePushedAt.toISOString()}` : ''}` };
  } catch (e) {
    if ((e as Error).name === 'ImageNotFoundException') return { name, state: missing, detail: `no image tagged latest in ${uri}: ${fix}` };
    throw toAwsError(`DescribeImages of ${uri}:latest`, e);
  } finally {
    client.destroy();
  }
}

export const ARCH_CHECK = "images are built for the stack's architecture";

/**
 * The worker image (and the main image, when pushed) against what the stack runs them on: Batch
 * instances of InstanceType, Fargate tasks of EcsCpuArchitecture. A mismatch fails every job with
 * `exec format error`, after the instances have started.
 */
async function checkArchitecture(o: BatchStackOutputs): Promise<CheckResult> {
  const name = ARCH_CHECK;
  const instanceType = o.parameters.InstanceType;
  if (instanceType === undefined) return { name, state: 'SKIP', detail: `stack ${o.stackName} has no InstanceType parameter to compare with` };
  const wants: { what: string; arch: Arch }[] = [{ what: `Batch instances (InstanceType ${instanceType})`, arch: instanceArch(instanceType) }];
  const ecsCpu = o.parameters.EcsCpuArchitecture;
  if (ecsCpu !== undefined && o.EcsClusterName !== undefined) wants.push({ what: `ECS tasks (EcsCpuArchitecture ${ecsCpu})`, arch: ecsArch(ecsCpu) });
  const problems: string[] = [];
  const seen: string[] = [];
  for (const [label, uri, users] of [
    ['worker image', o.BatchECR, wants],
    ['main image', o.BatchECRMain, wants.slice(0, 1)],
  ] as const) {
    if (uri === undefined) continue;
    let archs: string[] | undefined;
    try {
      archs = await imageArchitectures(o.region, uri);
    } catch (e) {
      if (/ImageNotFound|not found/i.test(errText(e))) continue; // the image checks say so
      throw e;
    }
    if (archs === undefined) continue;
    seen.push(`${label} ${archs.map((a) => `linux/${a}`).join(', ')}`);
    for (const w of users) {
      if (!archs.includes(w.arch)) {
        problems.push(
          `the ${label} is built for ${archs.join(', ')} but the ${w.what} are ${w.arch}: rebuild it with ` +
            `'riots batch build-image${label === 'main image' ? ' --main' : ''} --platform ${platformFor(w.arch)} --push', or change the stack's architecture`,
        );
      }
    }
  }
  if (problems.length > 0) return { name, state: 'FAIL', detail: problems.join('; ') };
  if (seen.length === 0) return { name, state: 'SKIP', detail: 'no pushed image with a manifest to read' };
  return { name, state: 'PASS', detail: `${seen.join('; ')}; ${wants.map((w) => `${w.what}: ${w.arch}`).join('; ')}` };
}

function checkWorkerLimit(o: BatchStackOutputs, workers: number): CheckResult {
  const limit = maxWorkers(o);
  const name = `worker limit allows ${workers} compute worker${workers === 1 ? '' : 's'}`;
  const how = `BatchMaxVCPUS ${o.BatchMaxVCPUS} / BatchVCPUS ${o.BatchVCPUS} = ${limit}`;
  return workers <= limit
    ? { name, state: 'PASS', detail: how }
    : { name, state: 'FAIL', detail: `${how} < ${workers}; raise --maxvcpus with 'riots batch create --modify'` };
}

/** Run every check; a check that throws is reported as FAIL with the error's message. */
export async function preflight(opts: PreflightOptions = {}): Promise<CheckResult[]> {
  const workers = opts.workers ?? 1;
  const results: CheckResult[] = [];
  let outputs: BatchStackOutputs;
  const outName = 'stack outputs exist';
  try {
    outputs = await getStackOutputs(opts);
    results.push({ name: outName, state: 'PASS', detail: `stack ${outputs.stackName}` });
  } catch (e) {
    results.push({ name: outName, state: 'FAIL', detail: errText(e) });
    for (const n of [
      'security group',
      'job queues',
      'compute environments',
      'worker limit',
      'worker image',
      'main image',
      'image architectures',
      'ECS cluster and task definition',
    ]) {
      results.push({ name: n, state: 'SKIP', detail: 'needs the stack outputs' });
    }
    return results;
  }
  try {
    results.push(await checkSecurityGroup(outputs));
  } catch (e) {
    results.push({ name: 'security group', state: 'FAIL', detail: errText(e) });
  }
  try {
    results.push(...(await checkQueuesAndEnvironments(outputs)));
  } catch (e) {
    results.push({ name: 'job queues and compute environments', state: 'FAIL', detail: errText(e) });
  }
  results.push(checkWorkerLimit(outputs, workers));
  try {
    results.push(
      await checkImage(
        outputs,
        outputs.BatchECR,
        IMAGE_CHECK,
        'FAIL',
        "every job would fail to pull it; build and push it with 'riots batch build-image --push'",
      ),
    );
  } catch (e) {
    results.push({ name: IMAGE_CHECK, state: 'FAIL', detail: errText(e) });
  }
  const mainName = 'main image is pushed to BatchECRMain as latest';
  try {
    results.push(
      await checkImage(
        outputs,
        outputs.BatchECRMain,
        mainName,
        'SKIP',
        "needed only for 'riots batch submit-main'; build and push it with 'riots batch build-image --main --push'",
      ),
    );
  } catch (e) {
    results.push({ name: mainName, state: 'FAIL', detail: errText(e) });
  }
  try {
    results.push(await checkArchitecture(outputs));
  } catch (e) {
    results.push({ name: ARCH_CHECK, state: 'FAIL', detail: errText(e) });
  }
  try {
    results.push(await checkEcs(outputs));
  } catch (e) {
    results.push({ name: ECS_CHECK, state: 'FAIL', detail: errText(e) });
  }
  return results;
}
