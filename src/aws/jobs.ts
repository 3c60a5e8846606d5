/**
 * The Batch jobs of one riots run: submit them (tagged with the run id), follow them with batched
 * DescribeJobs calls, tell when each ends and why, and terminate what is still active.
 *
 * The following, waiting and stopping are the shared {@link RunTracker}'s (CW_ECS tasks use it too).
 */
import type * as BatchSdk from '@aws-sdk/client-batch';
import { AwsError } from '../errors.js';
import { awsCall, type Loaded } from './clients.js';
import { RUN_ID_TAG } from './stack.js';
import { RunTracker, newTracked, type Tracked } from '../jobtracker.js';

export type BatchLoaded = Loaded<typeof BatchSdk, BatchSdk.BatchClient>;

/** Job states in which a job holds or waits for capacity. */
export const ACTIVE_JOB_STATUSES = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING'] as const;
const DONE = new Set(['SUCCEEDED', 'FAILED']);

export interface JobSubmission {
  jobName: string;
  /** The command override: arguments for the image's ENTRYPOINT. */
  command: string[];
  /** The environment override (values never logged). */
  environment: Record<string, string>;
}

/**
 * What is known of one job. `detail` is what DescribeJobs said last, kept to what
 * {@link jobStatusText} reports: a run may have a job per block, and a full description holds the
 * job's environment (with the run's key). `endedText` is set once it is SUCCEEDED or FAILED.
 */
export type TrackedJob = Tracked<BatchSdk.JobDetail> & { jobId: string; jobName: string };

/** One line on a job's state: status, statusReason, exit code and container reason. */
export function jobStatusText(d: BatchSdk.JobDetail | undefined): string {
  if (!d) return 'status unknown (not yet described)';
  const parts = [String(d.status ?? 'UNKNOWN')];
  if (d.statusReason) parts.push(`statusReason: ${d.statusReason}`);
  const c = d.container ?? d.attempts?.at(-1)?.container;
  if (c?.exitCode !== undefined && c.exitCode !== null) parts.push(`exit code ${c.exitCode}`);
  if (c?.reason) parts.push(`reason: ${c.reason}`);
  if (c?.logStreamName && d.status === 'FAILED') parts.push(`log stream: ${c.logStreamName}`);
  return parts.join('; ');
}

/** The parts of a job's description that {@link jobStatusText} reads. */
export function statusOnly(d: BatchSdk.JobDetail): BatchSdk.JobDetail {
  const c = d.container ?? d.attempts?.at(-1)?.container;
  return {
    jobId: d.jobId,
    jobName: d.jobName,
    jobQueue: d.jobQueue,
    jobDefinition: d.jobDefinition,
    startedAt: d.startedAt,
    status: d.status,
    statusReason: d.statusReason,
    ...(c ? { container: { exitCode: c.exitCode, reason: c.reason, logStreamName: c.logStreamName } } : {}),
  };
}

export interface RunJobsOptions {
  b: BatchLoaded;
  runId: string;
  jobQueue: string;
  jobDefinition: string;
  /** Shortest time between two DescribeJobs calls (ms). */
  minRefreshMs: number;
  /** Called with each description of a job (to print its changes). */
  onDescribed?: (jobId: string, d: BatchSdk.JobDetail) => void;
}

export class RunJobs extends RunTracker<BatchSdk.JobDetail, TrackedJob> {
  private readonly o: RunJobsOptions;

  constructor(o: RunJobsOptions) {
    const { b } = o;
    super(o.minRefreshMs, {
      noun: 'job',
      ...(o.onDescribed ? { onDescribed: o.onDescribed } : {}),
      describe: async (ids) => (await awsCall('DescribeJobs', () => b.client.send(new b.sdk.DescribeJobsCommand({ jobs: ids })))).jobs ?? [],
      idOf: (d) => d.jobId,
      isDone: (d) => DONE.has(String(d.status)),
      isRunning: (d) => String(d?.status) === 'RUNNING',
      text: jobStatusText,
      keep: statusOnly,
      stop: async (id, reason) => {
        await awsCall(`TerminateJob of ${id}`, () => b.client.send(new b.sdk.TerminateJobCommand({ jobId: id, reason })));
      },
    });
    this.o = o;
  }

  /** SubmitJob to the run's queue and definition, tagged {@link RUN_ID_TAG} = run id. */
  async submit(s: JobSubmission): Promise<TrackedJob> {
    const { b, jobQueue, jobDefinition, runId } = this.o;
    const res = await awsCall(`SubmitJob of ${s.jobName} to ${jobQueue}`, () =>
      b.client.send(
        new b.sdk.SubmitJobCommand({
          jobName: s.jobName,
          jobQueue,
          jobDefinition,
          tags: { [RUN_ID_TAG]: runId },
          containerOverrides: {
            command: s.command,
            environment: Object.entries(s.environment).map(([name, value]) => ({ name, value })),
          },
        }),
      ),
    );
    if (!res.jobId) throw new AwsError(`SubmitJob of ${s.jobName} to ${jobQueue} returned no job id`);
    return this.track({ ...newTracked<BatchSdk.JobDetail>(res.jobId), jobId: res.jobId, jobName: s.jobName });
  }
}
