/**
 * AWS Batch on the local endpoint (REST-JSON: POST /v1/<operation>, errors as
 * `x-amzn-errortype: ClientException` with a JSON message).
 */
import { randomUUID } from 'node:crypto';
import type { LocalContext } from './context.js';
import { ACTIVE_STATUSES, type Job, type JobStatus } from './state.js';
import { AwsApiError, jsonReply, type Reply } from './wire.js';

type Body = Record<string, unknown>;
const client = (message: string): AwsApiError => new AwsApiError('ClientException', message);
const strList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const STATUSES: JobStatus[] = [...ACTIVE_STATUSES, 'SUCCEEDED', 'FAILED'];

export class BatchService {
  /** Tags of queues, compute environments and job definitions, by ARN (jobs keep theirs). */
  private readonly tags = new Map<string, Record<string, string>>();

  constructor(private readonly ctx: LocalContext) {}

  handle(method: string, path: string, query: URLSearchParams, body: Body): Reply {
    const op = path.replace(/^\/v1\//, '');
    if (op.startsWith('tags/')) return this.tagOps(method, decodeURIComponent(op.slice(5)), query, body);
    switch (op) {
      case 'submitjob':
        return jsonReply(this.submitJob(body));
      case 'describejobs':
        return jsonReply({
          jobs: strList(body.jobs)
            .map((id) => this.ctx.state.jobs.get(id))
            .filter((j) => j !== undefined)
            .map(jobDetail),
        });
      case 'listjobs':
        return jsonReply(this.listJobs(body));
      case 'terminatejob':
      case 'canceljob': {
        const job = this.ctx.state.jobs.get(String(body.jobId ?? ''));
        if (!job) throw client(`Job ${String(body.jobId)} not found`);
        if (body.reason === undefined) throw client('reason is required');
        if (op === 'terminatejob' || ['SUBMITTED', 'PENDING', 'RUNNABLE'].includes(job.status)) this.ctx.jobs.terminate(job.jobId, String(body.reason));
        return jsonReply({});
      }
      case 'describejobqueues':
        return jsonReply({ jobQueues: this.describeQueues(strList(body.jobQueues)) });
      case 'describecomputeenvironments':
        return jsonReply({ computeEnvironments: this.describeComputeEnvironments(strList(body.computeEnvironments)) });
      case 'describejobdefinitions':
        return jsonReply({ jobDefinitions: this.describeJobDefinitions(body) });
      case 'updatejobqueue': {
        const q = this.ctx.state.findQueue(String(body.jobQueue ?? ''));
        if (!q) throw client(`JobQueue ${String(body.jobQueue)} not found`);
        if (body.state === 'ENABLED' || body.state === 'DISABLED') q.state = body.state;
        if (typeof body.priority === 'number') q.priority = body.priority;
        return jsonReply({ jobQueueName: q.name, jobQueueArn: q.arn });
      }
      case 'updatecomputeenvironment': {
        const c = this.ctx.state.findComputeEnvironment(String(body.computeEnvironment ?? ''));
        if (!c) throw client(`ComputeEnvironment ${String(body.computeEnvironment)} not found`);
        if (body.state === 'ENABLED' || body.state === 'DISABLED') c.state = body.state;
        const cr = body.computeResources as Body | undefined;
        if (typeof cr?.maxvCpus === 'number') c.maxvCpus = cr.maxvCpus;
        return jsonReply({ computeEnvironmentName: c.name, computeEnvironmentArn: c.arn });
      }
      default:
        throw new AwsApiError('UnknownOperationException', `The local endpoint does not implement Batch ${method} ${path}`, 404);
    }
  }

  private submitJob(body: Body): Body {
    const { state } = this.ctx;
    const jobName = String(body.jobName ?? '');
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(jobName)) {
      throw client(
        'Job name should be up to 128 letters (uppercase and lowercase), numbers, hyphens, and underscores, and should start with an alphanumeric character',
      );
    }
    const queueRef = String(body.jobQueue ?? '');
    const queue = state.findQueue(queueRef);
    if (!queue) throw client(`JobQueue ${queueRef} not found`);
    if (queue.state !== 'ENABLED') throw client(`Job queue ${queue.arn} is in DISABLED state and can not accept new jobs`);
    if (queue.status !== 'VALID') throw client(`Job queue ${queue.arn} is not VALID`);
    const defRef = String(body.jobDefinition ?? '');
    const def = state.findJobDefinition(defRef);
    if (!def) throw client(`JobDefinition ${defRef} not found`);
    const overrides = (body.containerOverrides ?? {}) as Body;
    const env = Array.isArray(overrides.environment)
      ? (overrides.environment as Body[]).map((e) => ({ name: String(e.name), value: String(e.value ?? '') }))
      : [];
    const reserved = env.find((e) => e.name.startsWith('AWS_BATCH'));
    if (reserved) throw client(`Environment variable ${reserved.name}: names starting with AWS_BATCH are reserved`);
    const merged = new Map(def.environment.map((e) => [e.name, e.value]));
    for (const e of env) merged.set(e.name, e.value);
    const req = Array.isArray(overrides.resourceRequirements) ? (overrides.resourceRequirements as Body[]) : [];
    const reqValue = (t: string): number | undefined => {
      const r = req.find((x) => x.type === t);
      return r === undefined ? undefined : Number(r.value);
    };
    const jobId = randomUUID();
    const job: Job = {
      jobId,
      jobArn: `arn:aws:batch:${this.ctx.region}:${this.ctx.accountId}:job/${jobId}`,
      jobName,
      jobQueue: queue.arn,
      jobDefinition: def.arn,
      status: 'SUBMITTED',
      createdAt: Date.now(),
      tags: { ...((body.tags ?? {}) as Record<string, string>) },
      parameters: { ...((body.parameters ?? {}) as Record<string, string>) },
      image: def.image,
      command: Array.isArray(overrides.command) ? strList(overrides.command) : def.command,
      environment: [...merged].map(([name, value]) => ({ name, value })),
      vcpus: reqValue('VCPU') ?? (typeof overrides.vcpus === 'number' ? overrides.vcpus : def.vcpus),
      memory: reqValue('MEMORY') ?? (typeof overrides.memory === 'number' ? overrides.memory : def.memory),
    };
    state.jobs.set(jobId, job);
    this.ctx.jobs.submitted(jobId);
    return { jobArn: job.jobArn, jobName, jobId };
  }

  private listJobs(body: Body): Body {
    const { state } = this.ctx;
    const queueRef = body.jobQueue === undefined ? undefined : String(body.jobQueue);
    const queue = queueRef === undefined ? undefined : state.findQueue(queueRef);
    if (queueRef !== undefined && !queue) throw client(`JobQueue ${queueRef} not found`);
    if (queueRef === undefined && body.arrayJobId === undefined && body.multiNodeJobId === undefined) {
      throw client('one of jobQueue, arrayJobId or multiNodeJobId is required');
    }
    const filters = Array.isArray(body.filters) ? (body.filters as Body[]) : [];
    let jobs = [...state.jobs.values()].filter((j) => queue === undefined || j.jobQueue === queue.arn);
    if (filters.length > 0) {
      for (const f of filters) {
        const values = strList(f.values);
        const v = values[0] ?? '';
        const glob = (s: string): boolean => (v.endsWith('*') ? s.startsWith(v.slice(0, -1)) : s === v);
        switch (f.name) {
          case 'JOB_NAME':
            jobs = jobs.filter((j) => glob(j.jobName));
            break;
          case 'JOB_DEFINITION':
            jobs = jobs.filter((j) => glob(j.jobDefinition) || glob(j.jobDefinition.slice(j.jobDefinition.lastIndexOf('/') + 1).replace(/:\d+$/, '')));
            break;
          case 'BEFORE_CREATED_AT':
            jobs = jobs.filter((j) => j.createdAt < Number(v));
            break;
          case 'AFTER_CREATED_AT':
            jobs = jobs.filter((j) => j.createdAt > Number(v));
            break;
          default:
            throw client(`Unsupported filter name ${String(f.name)}`);
        }
      }
    } else {
      const status = String(body.jobStatus ?? 'RUNNING');
      if (!STATUSES.includes(status as JobStatus)) throw client(`Invalid jobStatus ${status}`);
      jobs = jobs.filter((j) => j.status === status);
    }
    jobs.sort((a, b) => b.createdAt - a.createdAt);
    const start = body.nextToken === undefined ? 0 : Number(body.nextToken);
    const max = typeof body.maxResults === 'number' && body.maxResults > 0 ? body.maxResults : 100;
    const page = jobs.slice(start, start + max);
    const out: Body = {
      jobSummaryList: page.map((j) => ({
        jobArn: j.jobArn,
        jobId: j.jobId,
        jobName: j.jobName,
        createdAt: j.createdAt,
        status: j.status,
        statusReason: j.statusReason,
        startedAt: j.startedAt,
        stoppedAt: j.stoppedAt,
        container: j.exitCode === undefined && j.reason === undefined ? undefined : { exitCode: j.exitCode, reason: j.reason },
        jobDefinition: j.jobDefinition,
      })),
    };
    if (start + max < jobs.length) out.nextToken = String(start + max);
    return out;
  }

  private describeQueues(refs: string[]): Body[] {
    const all = [...this.ctx.state.jobQueues.values()];
    const queues = refs.length === 0 ? all : all.filter((q) => refs.includes(q.name) || refs.includes(q.arn));
    return queues.map((q) => ({
      jobQueueName: q.name,
      jobQueueArn: q.arn,
      state: q.state,
      status: q.status,
      statusReason: q.status === 'VALID' ? 'JobQueue Healthy' : undefined,
      priority: q.priority,
      computeEnvironmentOrder: q.computeEnvironments.map((c, i) => ({ order: i + 1, computeEnvironment: c })),
      tags: this.tags.get(q.arn) ?? {},
      jobQueueType: 'ECS',
    }));
  }

  private describeComputeEnvironments(refs: string[]): Body[] {
    const all = [...this.ctx.state.computeEnvironments.values()];
    const ces = refs.length === 0 ? all : all.filter((c) => refs.includes(c.name) || refs.includes(c.arn));
    return ces.map((c) => ({
      computeEnvironmentName: c.name,
      computeEnvironmentArn: c.arn,
      ecsClusterArn: `arn:aws:ecs:${this.ctx.region}:${this.ctx.accountId}:cluster/${c.name}`,
      tags: this.tags.get(c.arn) ?? {},
      type: 'MANAGED',
      state: c.state,
      status: c.status,
      statusReason: c.status === 'VALID' ? 'ComputeEnvironment Healthy' : undefined,
      computeResources: {
        type: 'EC2',
        minvCpus: 0,
        maxvCpus: c.maxvCpus,
        desiredvCpus: 0,
        instanceTypes: c.instanceTypes,
        subnets: c.subnets,
        securityGroupIds: c.securityGroupIds,
      },
      containerOrchestrationType: 'ECS',
    }));
  }

  private describeJobDefinitions(body: Body): Body[] {
    const refs = strList(body.jobDefinitions);
    let defs = [...this.ctx.state.jobDefinitions.values()];
    if (refs.length > 0) defs = defs.filter((d) => refs.some((r) => r === d.name || r === d.arn || r === `${d.name}:${d.revision}`));
    if (typeof body.jobDefinitionName === 'string') defs = defs.filter((d) => d.name === body.jobDefinitionName);
    return defs.map((d) => ({
      jobDefinitionName: d.name,
      jobDefinitionArn: d.arn,
      revision: d.revision,
      status: 'ACTIVE',
      type: 'container',
      containerProperties: {
        image: d.image,
        command: d.command,
        environment: d.environment,
        resourceRequirements: [
          { type: 'VCPU', value: String(d.vcpus) },
          { type: 'MEMORY', value: String(d.memory) },
        ],
      },
      platformCapabilities: ['EC2'],
      tags: this.tags.get(d.arn) ?? {},
    }));
  }

  private tagOps(method: string, arn: string, query: URLSearchParams, body: Body): Reply {
    const job = [...this.ctx.state.jobs.values()].find((j) => j.jobArn === arn);
    const current = job ? job.tags : (this.tags.get(arn) ?? {});
    if (method === 'GET') return jsonReply({ tags: current });
    if (method === 'POST') Object.assign(current, (body.tags ?? {}) as Record<string, string>);
    else if (method === 'DELETE') for (const k of query.getAll('tagKeys')) delete current[k];
    if (!job) this.tags.set(arn, current);
    return jsonReply({});
  }
}

function jobDetail(j: Job): Body {
  return {
    jobArn: j.jobArn,
    jobName: j.jobName,
    jobId: j.jobId,
    jobQueue: j.jobQueue,
    status: j.status,
    statusReason: j.statusReason,
    attempts:
      j.startedAt === undefined
        ? []
        : [
            {
              startedAt: j.startedAt,
              stoppedAt: j.stoppedAt,
              statusReason: j.stoppedAt === undefined ? undefined : j.statusReason,
              container: { exitCode: j.exitCode, reason: j.reason },
            },
          ],
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    stoppedAt: j.stoppedAt,
    dependsOn: [],
    jobDefinition: j.jobDefinition,
    parameters: j.parameters,
    container: {
      image: j.image,
      command: j.command,
      environment: j.environment,
      resourceRequirements: [
        { type: 'VCPU', value: String(j.vcpus) },
        { type: 'MEMORY', value: String(j.memory) },
      ],
      exitCode: j.exitCode,
      reason: j.reason,
      logStreamName: j.logPath,
    },
    tags: j.tags,
    platformCapabilities: ['EC2'],
  };
}
