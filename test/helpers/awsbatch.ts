/**
 * Helpers for the CW_AWSBATCH tests: point the SDK at a local endpoint through the environment
 * (as a user would), controls for a Batch run, and the jobs of a run as the endpoint reports them.
 */
import { DescribeJobsCommand, ListJobsCommand, type BatchClient, type JobDetail } from '@aws-sdk/client-batch';
import type { LocalAws } from '../../src/aws/local/server.js';
import { RUN_ID_TAG } from '../../src/aws/stack.js';

const SDK_ENV = ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'RIOS_AWSBATCH_STACK', 'RIOS_AWSBATCH_REGION', 'AWS_PROFILE'];

/** Set the SDK environment for `aws`; returns a function that restores the previous values. */
export function useEndpointEnv(aws: LocalAws): () => void {
  const saved = Object.fromEntries(SDK_ENV.map((k) => [k, process.env[k]]));
  for (const k of SDK_ENV) delete process.env[k];
  Object.assign(process.env, aws.env);
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

export function batchControls(n: number, extra: Record<string, unknown> = {}, concurrency: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    windowXSize: 64,
    windowYSize: 64,
    concurrency: {
      computeWorkerKind: 'CW_AWSBATCH',
      numComputeWorkers: n,
      computeBarrierTimeout: 60,
      ...concurrency,
      computeWorkerExtraParams: { channelAddress: '127.0.0.1', heartbeatSeconds: 0.5, workerLostSeconds: 4, pollSeconds: 0.5, ...extra },
    },
  };
}

export async function describeJobs(batch: BatchClient, ids: string[]): Promise<JobDetail[]> {
  if (ids.length === 0) return [];
  return (await batch.send(new DescribeJobsCommand({ jobs: ids }))).jobs ?? [];
}

const ACTIVE = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING'] as const;

/** Jobs of `queue` still active (ListJobs per active status), with their run id tag. */
export async function activeJobs(batch: BatchClient, queue: string): Promise<{ jobId: string; status: string; runId: string | undefined }[]> {
  const ids: string[] = [];
  for (const jobStatus of ACTIVE) {
    const res = await batch.send(new ListJobsCommand({ jobQueue: queue, jobStatus }));
    for (const j of res.jobSummaryList ?? []) ids.push(j.jobId!);
  }
  return (await describeJobs(batch, ids)).map((d) => ({ jobId: d.jobId!, status: String(d.status), runId: d.tags?.[RUN_ID_TAG] }));
}

/** Job ids named in the 'launched' events' handles ("job <id>"). */
export function jobIdsOf(handles: string[]): string[] {
  return handles.map((h) => /^job (\S+)$/.exec(h)![1]!);
}
