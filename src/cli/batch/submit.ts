/**
 * `riots batch submit-main`: run your main image (BatchECRMain:latest) as a job on the main
 * queue, and with --wait follow it to its end.
 */
import { randomBytes } from 'node:crypto';
import type * as BatchSdk from '@aws-sdk/client-batch';
import { AwsError, TimeoutError } from '../../errors.js';
import { awsCall, batch } from '../../aws/clients.js';
import { RUN_ID_TAG, getStackOutputs, requireOutput } from '../../aws/stack.js';
import { RunJobs, type BatchLoaded } from '../../aws/jobs.js';
import { newTracked } from '../../jobtracker.js';
import { STACK_HELP, STACK_OPTIONS, WAIT_HELP, err, out, parseOptions, secondsOption, stackOpts, type BatchSubcommand } from './common.js';
import { shellWords } from '../../shellwords.js';

const options = {
  ...STACK_OPTIONS,
  args: { type: 'string' },
  jobname: { type: 'string' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  poll: { type: 'string' },
} as const;

const help = `usage: riots batch submit-main [options]

Submit your main image (pushed with 'riots batch build-image --main --push') as a job to the
stack's main queue (BatchProcessingJobQueueNameMain) with its job definition
(BatchProcessingJobDefinitionMainName). Prints the job id. The job is tagged ${RUN_ID_TAG}
so that 'riots batch cleanup' can find it.

options:
  --args "A B 'C D'"     arguments for the image's ENTRYPOINT, split as a shell would
                         (quotes and backslashes; no expansions)
  --jobname NAME         the job's name (default riots-main)
  --wait                 follow the job's status until it ends: exit 0 when it SUCCEEDED,
                         non-zero with its reason and exit code when it FAILED
${WAIT_HELP.replace('give up waiting after this long', 'give up waiting after this long (default 86400)')}
${STACK_HELP}`;

/** Job names: letters, digits, '-' and '_', up to 128, starting with a letter or digit. */
function checkJobName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(name)) {
    throw new AwsError(`job name '${name}' is not allowed by AWS Batch (letters, digits, - and _, up to 128)`);
  }
  return name;
}

/** Why a job failed, from its DescribeJobs record. */
export function failureText(job: BatchSdk.JobDetail): string {
  const parts: string[] = [];
  if (job.statusReason) parts.push(`statusReason: ${job.statusReason}`);
  const c = job.container ?? job.attempts?.at(-1)?.container;
  if (c?.exitCode !== undefined) parts.push(`exit code ${c.exitCode}`);
  if (c?.reason) parts.push(`reason: ${c.reason}`);
  if (c?.logStreamName) parts.push(`log stream: ${c.logStreamName}`);
  return parts.length ? parts.join('; ') : 'no reason given';
}

/**
 * Follow one job until SUCCEEDED or FAILED, printing each status change.
 * @throws TimeoutError when it has not ended within timeoutMs.
 */
export async function followJob(b: BatchLoaded, jobId: string, timeoutMs: number, pollMs: number): Promise<BatchSdk.JobDetail> {
  let last = '';
  // the shared tracker follows it (src/jobtracker.ts), as it does a run's worker jobs
  const jobs = new RunJobs({
    b,
    runId: '',
    jobQueue: '',
    jobDefinition: '',
    minRefreshMs: pollMs,
    onDescribed: (_id, d) => {
      const status = String(d.status);
      const line = `${status}${d.statusReason && status !== 'SUCCEEDED' ? ` (${d.statusReason})` : ''}`;
      if (line !== last) out(`job ${jobId}: ${(last = line)}`);
    },
  });
  const job = jobs.adopt({ ...newTracked<BatchSdk.JobDetail>(jobId), jobId, jobName: '' });
  await jobs.refresh(0);
  if (job.detail === undefined) throw new AwsError(`DescribeJobs does not know job ${jobId}`, { jobId });
  if (!(await jobs.waitEnded(job, timeoutMs))) {
    throw new TimeoutError(
      `timed out after ${+(timeoutMs / 1000).toFixed(1)} s waiting for job ${jobId} to end (last status ${String(job.detail.status)}); ` +
        `it is still there: 'riots batch cleanup' terminates it`,
      { jobId },
    );
  }
  return job.detail;
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, options, help, false, ['args']);
  if (!parsed) return 0;
  const v = parsed.values;
  const command = v.args === undefined ? undefined : shellWords(v.args);
  const timeoutMs = secondsOption(v.timeout, 'timeout', 86400);
  const pollMs = secondsOption(v.poll, 'poll', 5);
  const jobName = checkJobName(v.jobname ?? 'riots-main');
  const outputs = await getStackOutputs(stackOpts(v));
  const jobQueue = requireOutput(outputs, 'BatchProcessingJobQueueNameMain', 'to submit the main job');
  const jobDefinition = requireOutput(outputs, 'BatchProcessingJobDefinitionMainName', 'to submit the main job');
  const runId = `main-${randomBytes(6).toString('hex')}`;
  const b = await batch(outputs.region);
  const res = await awsCall(`SubmitJob to ${jobQueue}`, () =>
    b.client.send(
      new b.sdk.SubmitJobCommand({
        jobName,
        jobQueue,
        jobDefinition,
        tags: { [RUN_ID_TAG]: runId },
        ...(command === undefined ? {} : { containerOverrides: { command } }),
      }),
    ),
  );
  const jobId = res.jobId;
  if (!jobId) throw new AwsError(`SubmitJob to ${jobQueue} returned no job id`);
  out(jobId);
  if (v.wait !== true) return 0;
  const job = await followJob(b, jobId, timeoutMs, pollMs);
  if (job.status === 'SUCCEEDED') return 0;
  err(`job ${jobId} (${jobName}) FAILED: ${failureText(job)}`);
  return 1;
}

export const submitMain: BatchSubcommand = {
  summary: 'run the main image as a job on the main queue (and --wait for it)',
  help,
  run,
};
