/**
 * The job runner of the local endpoint: Batch jobs and ECS tasks follow AWS's statuses, and what
 * each runs is a local process or a container (./specs.ts decides what, the launcher given runs
 * it). Jobs: SUBMITTED -> RUNNABLE -> (start delay) STARTING -> RUNNING -> SUCCEEDED | FAILED; a
 * job that cannot be placed stays RUNNABLE with a statusReason. Tasks: PROVISIONING -> (start
 * delay) PENDING -> RUNNING -> STOPPED; a cluster held by a test keeps its tasks PROVISIONING,
 * and a task whose image cannot be had stops with TaskFailedToStart. Output (stdout and stderr)
 * goes to <stateDir>/jobs/<id>.log.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { later, type JobControl, type LocalContext } from './context.js';
import type { Launcher } from './launch.js';
import { SpecResolver, type RunRequest, type SpecOptions } from './specs.js';
import type { EcsTask, Job, Repository } from './state.js';

export interface JobRunnerOptions extends SpecOptions {
  /** Delay from RUNNABLE to STARTING, in milliseconds. */
  startDelayMs: number;
  /** Extra environment for every job (after the endpoint's own variables). */
  jobEnv: Record<string, string>;
  /** Time between SIGTERM and SIGKILL when a running job is terminated. */
  killGraceMs: number;
}

const RECHECK_MS = 500;

export class JobRunner implements JobControl {
  readonly specs: SpecResolver;

  constructor(
    private readonly ctx: LocalContext,
    private readonly opts: JobRunnerOptions,
    private readonly launcher: Launcher,
  ) {
    mkdirSync(join(opts.stateDir, 'jobs'), { recursive: true });
    this.specs = new SpecResolver(ctx, opts, launcher.kind);
  }

  submitted(jobId: string): void {
    later(this.ctx, 0, () => {
      const job = this.ctx.state.jobs.get(jobId);
      if (!job || job.status !== 'SUBMITTED') return;
      job.status = 'RUNNABLE';
      later(this.ctx, this.opts.startDelayMs, () => this.tryStart(jobId));
    });
  }

  standIn(repo: Repository): string | undefined {
    return this.launcher.kind === 'process' ? this.specs.dockerfileFor(repo) : undefined;
  }

  /** Why a RUNNABLE job cannot start now (it stays RUNNABLE; no reason while it waits for capacity). */
  private blocker(job: Job): { reason: string | undefined; ready?: true } {
    const { state } = this.ctx;
    const queue = state.findQueue(job.jobQueue);
    if (!queue) return { reason: 'Job queue no longer exists' };
    if (queue.holdReason !== undefined) return { reason: queue.holdReason };
    const ces = queue.computeEnvironments.map((c) => state.findComputeEnvironment(c)).filter((c) => c !== undefined);
    const usable = ces.filter((c) => c.state === 'ENABLED' && c.status === 'VALID');
    if (usable.length === 0)
      return { reason: 'MISCONFIGURATION:COMPUTE_ENVIRONMENT_DISABLED - no ENABLED and VALID compute environment is attached to the job queue.' };
    const maxv = Math.max(...usable.map((c) => c.maxvCpus));
    if (job.vcpus > maxv) {
      return {
        reason:
          'MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that can be met by the CE(s) attached to the job queue.',
      };
    }
    const used = [...state.jobs.values()]
      .filter((j) => j.jobQueue === job.jobQueue && (j.status === 'STARTING' || j.status === 'RUNNING'))
      .reduce((s, j) => s + j.vcpus, 0);
    if (used + job.vcpus > maxv) return { reason: undefined }; // waits for capacity, as on AWS
    return { reason: undefined, ready: true };
  }

  private request(job: Job): RunRequest {
    const variables: Record<string, string> = { AWS_BATCH_JOB_ID: job.jobId, AWS_BATCH_JOB_ATTEMPT: '1' };
    const queue = this.ctx.state.findQueue(job.jobQueue);
    if (queue) variables.AWS_BATCH_JQ_NAME = queue.name;
    const ce = queue?.computeEnvironments[0];
    if (ce) variables.AWS_BATCH_CE_NAME = ce.slice(ce.lastIndexOf('/') + 1);
    Object.assign(variables, this.opts.jobEnv);
    for (const e of job.environment) variables[e.name] = e.value;
    return { image: job.image, command: job.command, variables, cpus: job.vcpus, memoryMiB: job.memory };
  }

  /**
   * Start a RUNNABLE job when it can be placed. In process mode an image without a Dockerfile
   * keeps it RUNNABLE with the reason (the endpoint lacks a setting); in container mode an image
   * that was not pushed fails it with CannotPullContainerError, as Batch does.
   */
  private tryStart(jobId: string): void {
    const job = this.ctx.state.jobs.get(jobId);
    if (!job || job.status !== 'RUNNABLE') return;
    const { reason, ready } = this.blocker(job);
    const resolved = ready ? this.specs.resolve(this.request(job)) : undefined;
    if (!resolved || ('reason' in resolved && resolved.pull && this.launcher.kind === 'process')) {
      const why = resolved && 'reason' in resolved ? resolved.reason : reason;
      if (why !== undefined) job.statusReason = why;
      later(this.ctx, RECHECK_MS, () => this.tryStart(jobId));
      return;
    }
    delete job.statusReason;
    job.status = 'STARTING';
    job.logPath = join(this.opts.stateDir, 'jobs', `${job.jobId}.log`);
    if ('reason' in resolved) return this.stop(job, 'FAILED', resolved.reason);
    this.launcher.launch(job.jobId, resolved.spec, job.logPath, {
      started: (pid) => {
        job.pid = pid;
        if (job.status !== 'STARTING') return;
        job.status = 'RUNNING';
        job.startedAt = Date.now();
      },
      failed: (message) => this.stop(job, 'FAILED', job.terminateReason ?? message),
      exited: (exitCode, signal) => {
        job.exitCode = exitCode;
        if (signal) job.reason = `killed by ${signal}`;
        if (job.terminateReason !== undefined) this.stop(job, 'FAILED', job.terminateReason);
        else this.stop(job, job.exitCode === 0 ? 'SUCCEEDED' : 'FAILED', 'Essential container in task exited');
      },
    });
  }

  // ---- ECS tasks ----

  taskCreated(taskId: string): void {
    later(this.ctx, this.opts.startDelayMs, () => this.tryStartTask(taskId));
  }

  /** Start a PROVISIONING task, or keep it waiting while its cluster is held; a task whose image cannot be had stops (as ECS does). */
  private tryStartTask(taskId: string): void {
    const { state } = this.ctx;
    const task = state.tasks.get(taskId);
    if (!task || task.lastStatus !== 'PROVISIONING' || task.desiredStatus === 'STOPPED') return;
    const cluster = state.findCluster(task.clusterArn);
    if (!cluster) return this.taskStopped(task, 'TaskFailedToStart', 'Cluster no longer exists');
    if (cluster.holdReason !== undefined) {
      later(this.ctx, RECHECK_MS, () => this.tryStartTask(taskId));
      return;
    }
    const variables: Record<string, string> = { ...this.opts.jobEnv };
    for (const e of task.container.environment) variables[e.name] = e.value;
    const { image, command } = task.container;
    // Fargate's cpu is in units of 1/1024 vCPU, its memory in MiB
    const resolved = this.specs.resolve({ image, command, variables, cpus: Number(task.cpu) / 1024 || 1, memoryMiB: Number(task.memory) || 2048 });
    if ('reason' in resolved) return this.taskStopped(task, 'TaskFailedToStart', resolved.reason);
    task.lastStatus = 'PENDING';
    task.logPath = join(this.opts.stateDir, 'jobs', `${task.taskId}.log`);
    this.launcher.launch(task.taskId, resolved.spec, task.logPath, {
      started: (pid) => {
        task.pid = pid;
        if (task.lastStatus !== 'PENDING') return;
        task.lastStatus = 'RUNNING';
        task.startedAt = Date.now();
      },
      failed: (message) => this.taskStopped(task, 'TaskFailedToStart', message),
      exited: (exitCode, signal) => {
        task.container.exitCode = exitCode;
        if (signal) task.container.reason = `killed by ${signal}`;
        if (task.stopCode !== undefined) this.taskStopped(task, task.stopCode, task.stoppedReason ?? '');
        else this.taskStopped(task, 'EssentialContainerExited', 'Essential container in task exited');
      },
    });
  }

  private taskStopped(task: EcsTask, stopCode: NonNullable<EcsTask['stopCode']>, reason: string): void {
    task.lastStatus = 'STOPPED';
    task.desiredStatus = 'STOPPED';
    task.stopCode = stopCode;
    task.stoppedReason = reason;
    task.stoppingAt ??= Date.now();
    task.stoppedAt = Date.now();
  }

  stopTask(taskId: string, stopCode: 'UserInitiated' | 'ServiceSchedulerInitiated' | 'SpotInterruption', reason: string): void {
    const task = this.ctx.state.tasks.get(taskId);
    if (!task || task.lastStatus === 'STOPPED' || task.desiredStatus === 'STOPPED') return;
    task.desiredStatus = 'STOPPED';
    task.stopCode = stopCode;
    task.stoppedReason = reason;
    task.stoppingAt = Date.now();
    if (!this.launcher.has(taskId)) {
      // not started yet (PROVISIONING), or starting: a process about to start is stopped when it runs
      if (task.lastStatus === 'PROVISIONING') this.taskStopped(task, stopCode, reason);
      return;
    }
    task.lastStatus = 'STOPPING';
    this.launcher.stop(taskId, this.opts.killGraceMs);
  }

  private stop(job: Job, status: 'SUCCEEDED' | 'FAILED', reason: string): void {
    job.status = status;
    job.statusReason = reason;
    job.stoppedAt = Date.now();
    job.startedAt ??= job.stoppedAt;
  }

  terminate(jobId: string, reason: string): void {
    const job = this.ctx.state.jobs.get(jobId);
    if (!job || job.status === 'SUCCEEDED' || job.status === 'FAILED') return;
    job.terminateReason = reason;
    if (!this.launcher.has(jobId)) {
      if (job.status !== 'STARTING') this.stop(job, 'FAILED', reason);
      return;
    }
    this.launcher.stop(jobId, this.opts.killGraceMs);
  }

  /** The endpoint is closing: jobs still running fail with that reason once their process or container ends. */
  closing(): void {
    for (const job of this.ctx.state.jobs.values()) if (this.launcher.has(job.jobId)) job.terminateReason ??= 'Local endpoint closed';
  }
}
