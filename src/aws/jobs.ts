/**
 * The Batch jobs of one riots run: submit them (tagged with the run id), follow them with batched
 * DescribeJobs calls, tell when each ends and why, and terminate what is still active.
 *
 * One DescribeJobs call covers every job of the run (100 per call), and calls are shared: many
 * callers asking for fresh statuses within `minRefreshMs` get the same answer.
 */
import type * as BatchSdk from '@aws-sdk/client-batch';
import { AwsError } from '../errors.js';
import { awsCall, type Loaded } from './clients.js';
import { RUN_ID_TAG } from './stack.js';

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

/** What is known of one job. */
export interface TrackedJob {
  jobId: string;
  jobName: string;
  /**
   * What DescribeJobs said last, kept to what {@link jobStatusText} reports: a run may have a job
   * per block, and a full description holds the job's environment (with the run's key).
   */
  detail?: BatchSdk.JobDetail;
  /** Set once the job is SUCCEEDED or FAILED. */
  endedText?: string;
  ended: Promise<string>;
  resolveEnded: (text: string) => void;
}

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
}

/**
 * First interval between DescribeJobs calls while {@link RunJobs.waitEnded} waits (ms). A job
 * told to stop, or whose worker has just exited, usually ends within moments: the interval
 * doubles after each call, up to `minRefreshMs`, and starts again from here only once no caller
 * waits. At most 6 calls in the first second of a wait instead of 4 (with 250 ms), and the end of
 * a quick job is seen ~50 ms after it instead of up to `minRefreshMs` later.
 */
export const FIRST_END_POLL_MS = 50;

export class RunJobs {
  readonly jobs = new Map<string, TrackedJob>();
  private readonly o: RunJobsOptions;
  private inflight: Promise<void> | undefined;
  private lastRefresh = 0;
  /** The current interval of the waitEnded ramp, shared by every caller waiting at once. */
  private endPollMs = FIRST_END_POLL_MS;
  private endWaiters = 0;
  private poller: NodeJS.Timeout | undefined;

  constructor(o: RunJobsOptions) {
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
    let resolveEnded!: (t: string) => void;
    const ended = new Promise<string>((r) => (resolveEnded = r));
    const job: TrackedJob = { jobId: res.jobId, jobName: s.jobName, ended, resolveEnded };
    this.jobs.set(job.jobId, job);
    return job;
  }

  /** DescribeJobs of every job not yet ended; shared between callers within `minMs` (default minRefreshMs). */
  refresh(minMs = this.o.minRefreshMs): Promise<void> {
    if (this.inflight) return this.inflight;
    const wait = Math.max(0, this.lastRefresh + minMs - Date.now());
    this.inflight = (async () => {
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        const ids = [...this.jobs.values()].filter((j) => j.endedText === undefined).map((j) => j.jobId);
        for (let i = 0; i < ids.length; i += 100) {
          const { b } = this.o;
          const chunk = ids.slice(i, i + 100);
          const res = await awsCall('DescribeJobs', () => b.client.send(new b.sdk.DescribeJobsCommand({ jobs: chunk })));
          for (const d of res.jobs ?? []) {
            const job = d.jobId ? this.jobs.get(d.jobId) : undefined;
            if (!job) continue;
            job.detail = statusOnly(d);
            if (DONE.has(String(d.status)) && job.endedText === undefined) {
              job.endedText = `job ${job.jobId} ${jobStatusText(d)}`;
              job.resolveEnded(job.endedText);
            }
          }
        }
      } finally {
        this.lastRefresh = Date.now();
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  /** Poll every `everyMs` while some job has not ended, so that `ended` promises resolve. */
  startPolling(everyMs: number): void {
    if (this.poller) return;
    this.poller = setInterval(() => {
      if ([...this.jobs.values()].every((j) => j.endedText !== undefined)) return;
      this.refresh().catch(() => undefined); // a failed poll is retried on the next tick
    }, everyMs);
    this.poller.unref();
  }

  stopPolling(): void {
    clearInterval(this.poller);
    this.poller = undefined;
  }

  /** A fresh line on one job (DescribeJobs errors are reported in the line, never thrown). */
  async status(job: TrackedJob): Promise<string> {
    if (job.endedText === undefined) {
      try {
        await this.refresh();
      } catch (err) {
        return `job ${job.jobId}: ${jobStatusText(job.detail)} (DescribeJobs failed: ${(err as Error).message})`;
      }
    }
    return job.endedText ?? `job ${job.jobId} ${jobStatusText(job.detail)}`;
  }

  /** Wait until the job has ended, refreshing; false when `ms` ran out first. */
  async waitEnded(job: TrackedJob, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    this.endWaiters++;
    try {
      while (job.endedText === undefined && Date.now() < deadline) {
        const every = Math.min(this.endPollMs, this.o.minRefreshMs, Math.max(0, deadline - Date.now()));
        await this.refresh(every).catch(() => undefined);
        this.endPollMs = Math.min(this.endPollMs * 2, this.o.minRefreshMs);
      }
    } finally {
      if (--this.endWaiters === 0) this.endPollMs = FIRST_END_POLL_MS;
    }
    return job.endedText !== undefined;
  }

  /**
   * Stop one job. A RUNNING job (whose worker was normally told to stop) gets `graceMs` to end by
   * itself; anything still active is then terminated, and we wait up to `waitMs` for it to end.
   * @throws AwsError when TerminateJob fails.
   */
  async stop(job: TrackedJob, reason: string, graceMs: number, waitMs: number): Promise<void> {
    if (job.endedText !== undefined) return;
    await this.refresh().catch(() => undefined);
    if (job.endedText !== undefined) return;
    if (String(job.detail?.status) === 'RUNNING' && graceMs > 0 && (await this.waitEnded(job, graceMs))) return;
    const { b } = this.o;
    await awsCall(`TerminateJob of ${job.jobId}`, () => b.client.send(new b.sdk.TerminateJobCommand({ jobId: job.jobId, reason })));
    await this.waitEnded(job, waitMs);
  }
}
