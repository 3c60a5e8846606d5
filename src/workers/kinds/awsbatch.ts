/**
 * CW_AWSBATCH: one AWS Batch job per compute worker, on the queue and job definition of the riots
 * stack (aws/batch.yaml, or your own stack with the same outputs).
 *
 * Only the start and stop of workers is here (a {@link Launcher}); scheduling, the channel,
 * re-queueing of lost workers' blocks and the barrier are the shared channel backend's
 * (remote.ts). Each job runs the worker image, whose ENTRYPOINT is `riots computeworker`, so the
 * job's command override is only its arguments (`-i ID --channaddr host,port ...`). The run's
 * key goes in the job's environment override (RIOTS_CHANNEL_KEY), never in the command: note that
 * any principal allowed `batch:DescribeJobs` on the queue can read it while the job is known.
 * Every job is tagged `riots-run-id` = the run id, so `riots batch cleanup --run-id` finds them.
 *
 * A process that exits in the middle of a run (an uncaught exception elsewhere, process.exit(),
 * a write to a closed pipe) cannot make AWS calls any more, and its jobs still waiting for capacity
 * would start later, find no main and wait out their connection timeout, billed. So at 'exit',
 * while any job of the run may still be active, `riots batch cleanup --run-id ID --job-id ...`
 * terminates them, and the exit waits for it (a bounded time; see terminateAfterExit). SIGKILL
 * of the main still leaves them to that timeout.
 *
 * singleBlockComputeWorkers is refused for this kind (ConcurrencyStyle, as RIOS refuses it): a Batch
 * job takes far longer to be scheduled and started than one block takes to compute. CW_ECS,
 * CW_SLURM, CW_PBS and CW_SUBPROC have it.
 *
 * computeWorkerExtraParams (besides the shared ones of remote.ts):
 * - `channelAddress`: the address workers connect to (default: RIOTS_CHANNEL_ADDRESS, else this
 *   machine's primary private IPv4). The channel server listens on every interface.
 * - `stackName`, `region`: default RIOS_AWSBATCH_STACK (else 'RIOS') and RIOS_AWSBATCH_REGION
 *   (else the SDK's region settings).
 * - `jobEnvironment`: more environment variables for the worker jobs (e.g. GDAL settings).
 * - `pollSeconds` (5): how often DescribeJobs follows the jobs, to notice a failed job.
 * - `jobEndGraceSeconds` (5): at the end, how long a RUNNING job may take to exit by itself
 *   before it is terminated. `terminateWaitSeconds` (60): how long to wait for terminated jobs.
 * - `exitCleanupWaitSeconds` (30): how long a process exiting mid-run waits for the
 *   `riots batch cleanup` that terminates its jobs (0: not at all; it then runs on alone).
 */
import type * as BatchSdk from '@aws-sdk/client-batch';
import type { RunDescription } from '../backend.js';
import type { ComputeBackend } from '../backend.js';
import { batch } from '../../aws/clients.js';
import { RunJobs, type TrackedJob } from '../../aws/jobs.js';
import { advertisedChannelAddress } from '../../aws/netaddr.js';
import { getStackOutputs, maxWorkers, type BatchStackOutputs } from '../../aws/stack.js';
import { ControlsError } from '../../errors.js';
import { newRunId } from '../../runid.js';
import { CHANNEL_KEY_ENV } from '../channel/address.js';
import { CHANNEL_SETTINGS } from '../pool/settings.js';
import { environment, opaque, parseSettings, seconds, text, type SettingsTable } from '../../settings.js';
import { AwsRunLauncher } from './aws.js';
import { ChannelWorkerBackend } from '../pool/channelbackend.js';

export interface AwsBatchSettings {
  channelAddress: unknown;
  stackName: string | undefined;
  region: string | undefined;
  jobEnvironment: Record<string, string>;
  pollSeconds: number;
  jobEndGraceSeconds: number;
  terminateWaitSeconds: number;
  exitCleanupWaitSeconds: number;
}

/** CW_AWSBATCH's own computeWorkerExtraParams (besides the channel's). */
export const AWSBATCH_SETTINGS = {
  channelAddress: opaque({ default: "`RIOTS_CHANNEL_ADDRESS`, else this machine's primary private IPv4", meaning: 'the address workers connect to' }),
  stackName: text({ default: '`RIOS_AWSBATCH_STACK`', meaning: 'another stack than the environment names' }),
  region: text({ default: '`RIOS_AWSBATCH_REGION`', meaning: "the stack's region" }),
  jobEnvironment: environment(
    (k) => (k === CHANNEL_KEY_ENV || k.startsWith('AWS_BATCH') ? 'riots or AWS Batch sets it' : undefined),
    'more environment variables for the worker jobs',
  ),
  pollSeconds: seconds(5, "how often one DescribeJobs call follows all the run's jobs"),
  jobEndGraceSeconds: seconds(5, 'at the end, time a RUNNING job gets to exit by itself before TerminateJob', true),
  terminateWaitSeconds: seconds(60, 'how long riots waits for terminated jobs to reach FAILED', true),
  exitCleanupWaitSeconds: seconds(30, 'how long a process exiting mid-run waits for the clean-up that terminates its jobs', true),
} satisfies SettingsTable;

/** Every computeWorkerExtraParams of CW_AWSBATCH. */
export const EXTRA_PARAMS: SettingsTable = { ...CHANNEL_SETTINGS, ...AWSBATCH_SETTINGS };

/** Read the CW_AWSBATCH settings of computeWorkerExtraParams. @throws {ControlsError} on a bad value. */
export function awsBatchSettings(extra: Readonly<Record<string, unknown>>): AwsBatchSettings {
  return parseSettings(AWSBATCH_SETTINGS, extra, 'computeWorkerExtraParams', { strict: false });
}

/**
 * Refuse more workers than the stack can run at once.
 * @throws {ControlsError} naming the limit and where it comes from.
 */
export function checkWorkerLimit(n: number, out: Pick<BatchStackOutputs, 'BatchVCPUS' | 'BatchMaxVCPUS' | 'stackName'>): void {
  const most = maxWorkers(out);
  if (n > most) {
    throw new ControlsError(
      `numComputeWorkers ${n} is more than stack '${out.stackName}' can run at once: ` +
        `BatchMaxVCPUS ${out.BatchMaxVCPUS} / BatchVCPUS ${out.BatchVCPUS} = ${most} worker(s) ` +
        `(ask for fewer workers, or raise MaxVCPUS with 'riots batch create --modify --maxvcpus N')`,
    );
  }
}

export type JobHandle = TrackedJob & { workerId: number };

export class AwsBatchLauncher extends AwsRunLauncher<BatchSdk.JobDetail, TrackedJob, JobHandle> {
  readonly kind = 'CW_AWSBATCH';
  readonly jobs: RunJobs;
  private readonly s: AwsBatchSettings;

  constructor(opts: {
    runId: string;
    jobs: RunJobs;
    settings: AwsBatchSettings;
    advertiseHost: string;
    destroyClient: () => void;
    stack: { stackName: string; region: string | undefined };
  }) {
    const s = opts.settings;
    const runId = opts.runId;
    super(
      runId,
      opts.jobs,
      opts.advertiseHost,
      { ...s, stopWaitSeconds: s.terminateWaitSeconds },
      opts.stack,
      {
        active: (ids) => `${ids.length} AWS Batch job(s) of run ${runId} (${ids.join(', ')})`,
        starting: `the AWS Batch job being submitted for run ${runId}`,
        cleanupArgs: (ids) => ids.flatMap((id) => ['--job-id', id]),
      },
      opts.destroyClient,
    );
    this.s = s;
    this.jobs = opts.jobs;
  }

  protected async start(workerId: number, command: string[], env: Record<string, string>): Promise<JobHandle> {
    // jobEnvironment may not name the key, so it cannot displace it; it may raise UV_THREADPOOL_SIZE
    const job = await this.jobs.submit({ jobName: `${this.runId}-worker-${workerId}`, command, environment: { ...env, ...this.s.jobEnvironment } });
    return Object.assign(job, { workerId });
  }

  describe(h: JobHandle): string {
    return `job ${h.jobId}`;
  }
}

/**
 * Entry point for src/workers/index.ts: read the stack outputs, check the worker limit, and return the channel backend with the Batch launcher. Nothing is
 * submitted before start().
 * @throws {ControlsError} for too many workers or bad settings; AwsError when the stack cannot be read.
 */
export async function createBackend(run: RunDescription): Promise<ComputeBackend> {
  const c = run.concurrency;
  const s = awsBatchSettings(c.computeWorkerExtraParams);
  const advertiseHost = advertisedChannelAddress(s.channelAddress);
  const out = await getStackOutputs({ ...(s.stackName ? { stackName: s.stackName } : {}), ...(s.region ? { region: s.region } : {}) });
  checkWorkerLimit(c.numComputeWorkers, out);
  const b = await batch(out.region);
  const runId = newRunId(run.controls.global.jobName);
  const jobs = new RunJobs({
    b,
    runId,
    jobQueue: out.BatchProcessingJobQueueName,
    jobDefinition: out.BatchProcessingJobDefinitionName,
    // at most 4 DescribeJobs a second, when many callers want fresh statuses at once (the end of a run)
    minRefreshMs: Math.min(250, s.pollSeconds * 500),
  });
  const launcher = new AwsBatchLauncher({
    runId,
    jobs,
    settings: s,
    advertiseHost,
    destroyClient: () => b.client.destroy(),
    stack: { stackName: out.stackName, region: out.region },
  });
  try {
    return new ChannelWorkerBackend(run, launcher);
  } catch (err) {
    b.client.destroy();
    throw err;
  }
}
