/**
 * `riots batch cleanup`: terminate riots' jobs (tagged riots-run-id) that are still active on the
 * stack's worker and main queues — what an interrupted run may leave behind. A CW_AWSBATCH run
 * whose process exits in the middle runs it at exit with its run id and job ids
 * (src/workers/awsbatch.ts).
 */
import type * as BatchSdk from '@aws-sdk/client-batch';
import { awsCall, batch, type Loaded } from '../aws/clients.js';
import { ACTIVE_JOB_STATUSES } from '../aws/jobs.js';
import { RUN_ID_TAG, getStackOutputs } from '../aws/stack.js';
import { STACK_HELP, STACK_OPTIONS, out, parseOptions, stackOpts, type BatchSubcommand } from './batch-common.js';


const options = {
  ...STACK_OPTIONS,
  'run-id': { type: 'string' },
  'job-id': { type: 'string', multiple: true },
  'dry-run': { type: 'boolean' },
} as const;

const help = `usage: riots batch cleanup [options]

Terminate every job riots started (tagged ${RUN_ID_TAG}) that is still ${ACTIVE_JOB_STATUSES.join(', ')}
on the stack's worker and main queues. Jobs without the tag are left alone.

options:
  --run-id ID            only the jobs of this run (the value of their ${RUN_ID_TAG} tag)
  --job-id ID            this job, if it is riots' and still active (repeatable); without
                         --run-id, only the jobs named so, and the queues are not listed
  --dry-run              list the jobs, terminate nothing
${STACK_HELP}`;

type BatchLoaded = Loaded<typeof BatchSdk, BatchSdk.BatchClient>;

export interface ActiveJob {
  jobId: string;
  jobName: string;
  queue: string;
  status: string;
  runId: string | undefined;
}

/** Every active job of the given queues, with its riots run id (undefined: not riots'). */
export async function activeJobs(b: BatchLoaded, queues: string[]): Promise<ActiveJob[]> {
  const found = new Map<string, ActiveJob>();
  for (const queue of queues) {
    for (const jobStatus of ACTIVE_JOB_STATUSES) {
      let nextToken: string | undefined;
      do {
        const res = await awsCall(`ListJobs of ${queue} (${jobStatus})`, () =>
          b.client.send(
            new b.sdk.ListJobsCommand({ jobQueue: queue, jobStatus, maxResults: 100, ...(nextToken ? { nextToken } : {}) }),
          ),
        );
        for (const j of res.jobSummaryList ?? []) {
          if (j.jobId && !found.has(j.jobId)) {
            found.set(j.jobId, { jobId: j.jobId, jobName: j.jobName ?? '', queue, status: jobStatus, runId: undefined });
          }
        }
        nextToken = res.nextToken;
      } while (nextToken);
    }
  }
  // A job may have ended between ListJobs and DescribeJobs.
  return describeActive(b, [...found.values()]);
}

/**
 * Of `jobs`, those DescribeJobs reports active, with their status and riots run id (jobs it does
 * not know are dropped).
 */
export async function describeActive(b: BatchLoaded, jobs: ActiveJob[]): Promise<ActiveJob[]> {
  const byId = new Map(jobs.map((j) => [j.jobId, j]));
  const ids = [...byId.keys()];
  const known: ActiveJob[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    const res = await awsCall('DescribeJobs', () => b.client.send(new b.sdk.DescribeJobsCommand({ jobs: chunk })));
    for (const d of res.jobs ?? []) {
      const job = d.jobId ? byId.get(d.jobId) : undefined;
      if (job === undefined) continue;
      job.runId = d.tags?.[RUN_ID_TAG];
      if (d.status) job.status = String(d.status);
      if (!job.jobName && d.jobName) job.jobName = d.jobName;
      if (!job.queue && d.jobQueue) job.queue = d.jobQueue.replace(/^.*:job-queue\//, '');
      known.push(job);
    }
  }
  return known.filter((j) => (ACTIVE_JOB_STATUSES as readonly string[]).includes(j.status));
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, options, help);
  if (!parsed) return 0;
  const v = parsed.values;
  const outputs = await getStackOutputs(stackOpts(v));
  const queues = [outputs.BatchProcessingJobQueueName];
  if (outputs.BatchProcessingJobQueueNameMain) queues.push(outputs.BatchProcessingJobQueueNameMain);
  const b = await batch(outputs.region);
  const named = v['job-id'] ?? [];
  const found = new Map<string, ActiveJob>();
  // named jobs first: a job submitted a moment ago may not be listed yet
  if (named.length > 0) {
    for (const j of await describeActive(b, named.map((jobId) => ({ jobId, jobName: '', queue: '', status: '', runId: undefined })))) found.set(j.jobId, j);
  }
  const listed = named.length === 0 || v['run-id'] !== undefined;
  if (listed) {
    for (const j of await activeJobs(b, queues)) if (!found.has(j.jobId)) found.set(j.jobId, j);
  }
  const jobs = [...found.values()].filter((j) => j.runId !== undefined && (v['run-id'] === undefined || j.runId === v['run-id']));
  const which = v['run-id'] === undefined ? (named.length > 0 ? `riots' jobs among the ${named.length} named` : "riots' jobs") : `jobs of run ${v['run-id']}`;
  if (jobs.length === 0) {
    out(`no active ${which}${listed ? ` on ${queues.join(', ')}` : ''}`);
    return 0;
  }
  for (const j of jobs) {
    const desc = `${j.jobId} ${j.jobName} (run ${j.runId}, ${j.status}, queue ${j.queue})`;
    if (v['dry-run'] === true) {
      out(`would terminate ${desc}`);
      continue;
    }
    await awsCall(`TerminateJob ${j.jobId}`, () =>
      b.client.send(new b.sdk.TerminateJobCommand({ jobId: j.jobId, reason: 'riots batch cleanup' })),
    );
    out(`terminated ${desc}`);
  }
  out(`${v['dry-run'] === true ? 'found' : 'terminated'} ${jobs.length} of ${which}`);
  return 0;
}

export const cleanup: BatchSubcommand = { summary: "terminate riots' jobs still active on the queues", help, run };
