/**
 * `riots batch delete`: empty both ECR repositories of the stack (CloudFormation cannot delete a
 * repository that holds images), stop the tasks of its ECS cluster (nor a cluster with active
 * tasks), then delete the stack.
 */
import { AwsError } from '../../errors.js';
import { awsCall, cloudFormation, ecr, ecs, sdkErrorText } from '../../aws/clients.js';
import { describeTasks, listTaskArns } from './cleanup.js';
import type * as EcsSdk from '@aws-sdk/client-ecs';
import { RunTasks } from '../../aws/tasks.js';
import { parseRepositoryUri } from '../../aws/images.js';
import { newTracked } from '../../jobtracker.js';
import { batchStackName, describeStack } from '../../aws/stack.js';
import { STACK_HELP, STACK_OPTIONS, WAIT_HELP, out, parseOptions, secondsOption, type BatchSubcommand } from './common.js';
import { latestEventTime, waitForStack } from './stackwait.js';

const options = {
  ...STACK_OPTIONS,
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  poll: { type: 'string' },
} as const;

const help = `usage: riots batch delete [options]

Delete the riots AWS Batch stack and everything in it. The images in its two ECR repositories
(BatchECR, BatchECRMain) are deleted first, since CloudFormation will not delete a repository
that still holds images, and every task still active in its ECS cluster (CW_ECS) is stopped and
waited for, since it will not delete a cluster with active tasks either. Batch jobs still running
are terminated with their queues: run 'riots batch cleanup' first to end riots' jobs cleanly.

options:
  --wait                 follow the deletion until the stack is gone; non-zero exit on failure
${WAIT_HELP.replace('give up waiting after this long', 'give up waiting after this long (default 3600)')}
${STACK_HELP}`;

/** Delete every image of one repository; resolves to how many were deleted. */
export async function emptyRepository(region: string | undefined, uri: string): Promise<number> {
  const { sdk, client } = await ecr(region);
  const repo = parseRepositoryUri(uri);
  const ids: { imageDigest?: string; imageTag?: string }[] = [];
  let token: string | undefined;
  try {
    do {
      const res = await client.send(new sdk.ListImagesCommand({ ...repo, maxResults: 1000, ...(token ? { nextToken: token } : {}) }));
      for (const id of res.imageIds ?? []) ids.push(id);
      token = res.nextToken;
    } while (token);
  } catch (err) {
    if (/RepositoryNotFound|does not exist/i.test(sdkErrorText(err))) return 0;
    throw new AwsError(`ListImages of repository ${repo.repositoryName} failed: ${sdkErrorText(err)}`, { cause: err });
  }
  // One digest may carry several tags: delete by digest once where there is one.
  const byDigest = new Map<string, { imageDigest?: string; imageTag?: string }>();
  for (const id of ids) byDigest.set(id.imageDigest ?? `tag:${id.imageTag}`, id.imageDigest ? { imageDigest: id.imageDigest } : id);
  const unique = [...byDigest.values()];
  for (let i = 0; i < unique.length; i += 100) {
    const chunk = unique.slice(i, i + 100);
    const res = await awsCall(`BatchDeleteImage in ${repo.repositoryName}`, () => client.send(new sdk.BatchDeleteImageCommand({ ...repo, imageIds: chunk })));
    const failures = (res.failures ?? []).filter((f) => f.failureCode !== 'ImageNotFound');
    if (failures.length) {
      const text = failures.map((f) => `${f.imageId?.imageDigest ?? f.imageId?.imageTag}: ${f.failureReason}`);
      throw new AwsError(`could not delete images of ${repo.repositoryName}: ${text.join('; ')}`);
    }
  }
  return unique.length;
}

/**
 * Stop every task of `cluster` that is not STOPPED, and wait until ECS says they are.
 * @returns how many there were. @throws {AwsError} naming those still active after `timeoutMs`.
 */
export async function stopClusterTasks(region: string | undefined, cluster: string, timeoutMs: number, pollMs: number): Promise<number> {
  const e = await ecs(region);
  try {
    const listed = [...(await listTaskArns(e, cluster, 'RUNNING')), ...(await listTaskArns(e, cluster, 'STOPPED'))];
    const active = await describeTasks(e, cluster, listed, true);
    // the shared tracker follows and stops them (src/jobtracker.ts), as it does a run's own tasks
    const tasks = new RunTasks(e, 'riots-batch-delete', { cluster, containerName: '', input: { cluster, taskDefinition: '' } }, pollMs);
    const deadline = Date.now() + timeoutMs;
    await Promise.all(
      active.map((t) =>
        tasks.stop(
          tasks.adopt({ ...newTracked<EcsSdk.Task>(t.taskArn), workerId: -1 }),
          'riots batch delete: the stack is being deleted',
          0,
          Math.max(0, deadline - Date.now()),
        ),
      ),
    );
    const left = [...tasks.jobs.values()].filter((t) => t.endedText === undefined);
    if (left.length > 0) {
      throw new AwsError(
        `${left.length} task(s) of ECS cluster ${cluster} not STOPPED after ${timeoutMs / 1000} s (${left.map((t) => `${t.id} ${t.detail?.lastStatus ?? 'unknown'}`).join(', ')}); the stack cannot be deleted until they are`,
      );
    }
    return active.length;
  } finally {
    e.client.destroy();
  }
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, options, help);
  if (!parsed) return 0;
  const v = parsed.values;
  const timeoutMs = secondsOption(v.timeout, 'timeout', 3600);
  const pollMs = secondsOption(v.poll, 'poll', 5);
  const stackName = batchStackName(v.stackname);
  const desc = await describeStack({ stackName, ...(v.region ? { region: v.region } : {}) });
  if (desc === undefined) throw new AwsError(`stack '${stackName}' does not exist; nothing to delete`);
  for (const key of ['BatchECR', 'BatchECRMain'] as const) {
    const uri = desc.outputs[key];
    if (uri === undefined) {
      out(`no ${key} output (stack ${desc.status}): no repository to empty`);
      continue;
    }
    const n = await emptyRepository(v.region, uri);
    out(`emptied ${key} ${uri}: ${n} image(s) deleted`);
  }
  const cluster = desc.outputs.EcsClusterName;
  if (cluster !== undefined) {
    const n = await stopClusterTasks(v.region, cluster, timeoutMs, pollMs);
    out(n > 0 ? `stopped ${n} task(s) of ECS cluster ${cluster}` : `no active task in ECS cluster ${cluster}`);
  }
  const cfn = await cloudFormation(v.region);
  const after = await latestEventTime({ cfn, stack: desc.stackId });
  await awsCall(`DeleteStack of '${stackName}'`, () => cfn.client.send(new cfn.sdk.DeleteStackCommand({ StackName: stackName })));
  out(`deleting stack ${stackName} (${desc.stackId})`);
  if (v.wait !== true) return 0;
  await waitForStack({ cfn, stack: desc.stackId, stackName, goal: 'DELETE', after, timeoutMs, pollMs });
  out(`stack ${stackName} is deleted`);
  return 0;
}

export const del: BatchSubcommand = { summary: 'empty the ECR repositories and delete the stack', help, run };
