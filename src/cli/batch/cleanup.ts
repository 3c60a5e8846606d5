/**
 * `riots batch cleanup`: terminate riots' jobs (tagged riots-run-id) that are still active on the
 * stack's worker and main queues, and stop riots' ECS tasks (the same tag) still running in the
 * stack's cluster — what an interrupted run may leave behind. A CW_AWSBATCH or CW_ECS run whose
 * process exits in the middle runs it at exit with its run id and job or task ids
 * (src/workers/awsrun.ts).
 */
import type * as BatchSdk from '@aws-sdk/client-batch';
import { awsCall, batch, ecs, type Loaded } from '../../aws/clients.js';
import { ACTIVE_JOB_STATUSES } from '../../aws/jobs.js';
import { RUN_ID_TAG, getStackOutputs, type BatchStackOutputs } from '../../aws/stack.js';
import type { EcsLoaded } from '../../aws/tasks.js';
import { cleanRunResources } from './cleanupecs.js';
import { STACK_HELP, STACK_OPTIONS, UsageError, out, parseOptions, stackOpts, type BatchSubcommand } from './common.js';

const options = {
  ...STACK_OPTIONS,
  'run-id': { type: 'string' },
  'job-id': { type: 'string', multiple: true },
  'task-id': { type: 'string', multiple: true },
  cluster: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'wait-seconds': { type: 'string' },
} as const;

const help = `usage: riots batch cleanup [options]

Terminate every job riots started (tagged ${RUN_ID_TAG}) that is still ${ACTIVE_JOB_STATUSES.join(', ')}
on the stack's worker and main queues, stop every ECS task riots started (the same tag) that
has not stopped in the stack's ECS cluster (CW_ECS), and remove what CW_ECS runs made for
themselves (the same tag): their tasks stopped, task definitions deregistered, EC2 instances
terminated, clusters deleted. Nothing without the tag is touched.

options:
  --run-id ID            only the jobs of this run (the value of their ${RUN_ID_TAG} tag)
  --job-id ID            this job, if it is riots' and still active (repeatable); without
                         --run-id, only the jobs named so, and the queues are not listed
  --task-id ARN          this ECS task, if it is riots' and not stopped (repeatable); without
                         --run-id, only the tasks named so (and no jobs)
  --cluster NAME         ECS tasks only, in this cluster instead of the stack's (a CW_ECS run
                         with a cluster of its own); the stack is not read, no jobs are looked at
                         (with --run-id, the run's own cluster, instances and task definition
                         are removed too)
  --wait-seconds N       how long instances may take to leave a cluster before it is deleted
                         (default 300)
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
          b.client.send(new b.sdk.ListJobsCommand({ jobQueue: queue, jobStatus, maxResults: 100, ...(nextToken ? { nextToken } : {}) })),
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

export interface ActiveTask {
  taskArn: string;
  status: string;
  runId: string | undefined;
}

/**
 * Of the given task ARNs, those DescribeTasks reports not STOPPED, with their riots run id.
 * `stopping`: also those already told to stop (desired STOPPED) that have not yet stopped.
 */
export async function describeTasks(e: EcsLoaded, cluster: string, arns: string[], stopping = false): Promise<ActiveTask[]> {
  const found: ActiveTask[] = [];
  for (let i = 0; i < arns.length; i += 100) {
    const chunk = arns.slice(i, i + 100);
    const res = await awsCall(`DescribeTasks in cluster ${cluster}`, () =>
      e.client.send(new e.sdk.DescribeTasksCommand({ cluster, tasks: chunk, include: ['TAGS'] })),
    );
    for (const t of res.tasks ?? []) {
      if (!t.taskArn || t.lastStatus === 'STOPPED' || (t.desiredStatus === 'STOPPED' && !stopping)) continue;
      found.push({ taskArn: t.taskArn, status: String(t.lastStatus), runId: t.tags?.find((x) => x.key === RUN_ID_TAG)?.value });
    }
  }
  return found;
}

/** The task ARNs of `cluster` with this desired status (ListTasks, every page). */
export async function listTaskArns(e: EcsLoaded, cluster: string, desiredStatus: 'RUNNING' | 'STOPPED', startedBy?: string): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const res = await awsCall(`ListTasks of cluster ${cluster}`, () =>
      e.client.send(
        new e.sdk.ListTasksCommand({ cluster, desiredStatus, maxResults: 100, ...(startedBy ? { startedBy } : {}), ...(nextToken ? { nextToken } : {}) }),
      ),
    );
    arns.push(...(res.taskArns ?? []));
    nextToken = res.nextToken;
  } while (nextToken);
  return arns;
}

/** Tasks of `cluster` not stopped and not told to stop, described. */
export async function activeTasks(e: EcsLoaded, cluster: string, startedBy?: string): Promise<ActiveTask[]> {
  return describeTasks(e, cluster, await listTaskArns(e, cluster, 'RUNNING', startedBy));
}

/** The ECS half: riots' tasks to stop in one cluster. Returns how many were found. */
async function cleanTasks(
  cluster: string,
  region: string | undefined,
  runId: string | undefined,
  named: string[],
  listed: boolean,
  dryRun: boolean,
): Promise<number> {
  const e = await ecs(region);
  try {
    const found = new Map<string, ActiveTask>();
    if (named.length > 0) for (const t of await describeTasks(e, cluster, named)) found.set(t.taskArn, t);
    if (listed) for (const t of await activeTasks(e, cluster, runId)) if (!found.has(t.taskArn)) found.set(t.taskArn, t);
    const tasks = [...found.values()].filter((t) => t.runId !== undefined && (runId === undefined || t.runId === runId));
    for (const t of tasks) {
      const desc = `task ${t.taskArn} (run ${t.runId}, ${t.status}, cluster ${cluster})`;
      if (dryRun) {
        out(`would stop ${desc}`);
        continue;
      }
      await awsCall(`StopTask ${t.taskArn}`, () => e.client.send(new e.sdk.StopTaskCommand({ cluster, task: t.taskArn, reason: 'riots batch cleanup' })));
      out(`stopped ${desc}`);
    }
    return tasks.length;
  } finally {
    e.client.destroy();
  }
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, options, help);
  if (!parsed) return 0;
  const v = parsed.values;
  const runId = v['run-id'];
  const dryRun = v['dry-run'] === true;
  const namedJobs = v['job-id'] ?? [];
  const namedTasks = v['task-id'] ?? [];
  // without --run-id, naming jobs or tasks limits the clean-up to them (and lists nothing)
  const listAll = runId !== undefined || (namedJobs.length === 0 && namedTasks.length === 0);
  const whose = runId === undefined ? 'riots' : `run ${runId}`;
  const tasksIn = async (cluster: string, region: string | undefined): Promise<void> => {
    const n = await cleanTasks(cluster, region, runId, namedTasks, listAll, dryRun);
    out(n > 0 ? `${dryRun ? 'found' : 'stopped'} ${n} ECS task(s) of ${whose}` : `no ECS tasks of ${whose} running in cluster ${cluster}`);
  };
  const resources = async (region: string | undefined): Promise<void> => {
    const n = await cleanRunResources(region, runId, dryRun, waitSeconds, (c) => tasksIn(c, region));
    if (n === 0) out(`no clusters, task definitions or instances of ${whose}`);
  };
  const waitSeconds = Number(v['wait-seconds'] ?? 300);
  if (!Number.isFinite(waitSeconds) || waitSeconds <= 0) throw new UsageError(`--wait-seconds must be a positive number (got ${v['wait-seconds']})`);
  if (v.cluster !== undefined) {
    if (namedJobs.length > 0) throw new UsageError('--cluster cleans ECS tasks only: it cannot go with --job-id');
    await tasksIn(v.cluster, v.region);
    // a run with a cluster of its own may have made it, its instances and its task definition
    if (runId !== undefined) await resources(v.region);
    return 0;
  }
  const outputs = await getStackOutputs(stackOpts(v));
  if (namedJobs.length > 0 || listAll) await cleanJobs(outputs, runId, namedJobs, listAll, dryRun);
  if (namedTasks.length > 0 || listAll) {
    if (outputs.EcsClusterName !== undefined) await tasksIn(outputs.EcsClusterName, outputs.region);
    else if (namedTasks.length > 0)
      out(`stack '${outputs.stackName}' has no ECS cluster (output EcsClusterName): the named tasks are left alone (name their cluster with --cluster)`);
  }
  if (listAll) await resources(outputs.region);
  return 0;
}

/** The Batch half: riots' jobs to terminate on the stack's queues. Returns how many were found. */
async function cleanJobs(outputs: BatchStackOutputs, runId: string | undefined, named: string[], listed: boolean, dryRun: boolean): Promise<number> {
  const queues = [outputs.BatchProcessingJobQueueName];
  if (outputs.BatchProcessingJobQueueNameMain) queues.push(outputs.BatchProcessingJobQueueNameMain);
  const b = await batch(outputs.region);
  try {
    const found = new Map<string, ActiveJob>();
    // named jobs first: a job submitted a moment ago may not be listed yet
    if (named.length > 0) {
      for (const j of await describeActive(
        b,
        named.map((jobId) => ({ jobId, jobName: '', queue: '', status: '', runId: undefined })),
      ))
        found.set(j.jobId, j);
    }
    if (listed) {
      for (const j of await activeJobs(b, queues)) if (!found.has(j.jobId)) found.set(j.jobId, j);
    }
    const jobs = [...found.values()].filter((j) => j.runId !== undefined && (runId === undefined || j.runId === runId));
    const which = runId === undefined ? (named.length > 0 && !listed ? `riots' jobs among the ${named.length} named` : "riots' jobs") : `jobs of run ${runId}`;
    if (jobs.length === 0) {
      out(`no active ${which}${listed ? ` on ${queues.join(', ')}` : ''}`);
      return 0;
    }
    for (const j of jobs) {
      const desc = `${j.jobId} ${j.jobName} (run ${j.runId}, ${j.status}, queue ${j.queue})`;
      if (dryRun) {
        out(`would terminate ${desc}`);
        continue;
      }
      await awsCall(`TerminateJob ${j.jobId}`, () => b.client.send(new b.sdk.TerminateJobCommand({ jobId: j.jobId, reason: 'riots batch cleanup' })));
      out(`terminated ${desc}`);
    }
    out(`${dryRun ? 'found' : 'terminated'} ${jobs.length} of ${which}`);
    return jobs.length;
  } finally {
    b.client.destroy();
  }
}

export const cleanup: BatchSubcommand = { summary: "terminate riots' jobs still active on the queues, stop its ECS tasks", help, run };
