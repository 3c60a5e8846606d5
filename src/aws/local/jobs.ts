/**
 * The job runner of the local endpoint: each Batch job is a local process running its image's
 * ENTRYPOINT (read from the Dockerfile mapped to the image's repository), with the job's command
 * and environment overrides. Statuses follow AWS: SUBMITTED -> RUNNABLE -> (start delay)
 * STARTING -> RUNNING -> SUCCEEDED | FAILED. A job that cannot be placed stays RUNNABLE with a
 * statusReason. Output (stdout and stderr) goes to <stateDir>/jobs/<jobId>.log.
 *
 * ECS tasks run the same way: PROVISIONING -> (start delay) PENDING -> RUNNING -> STOPPED, with
 * the container's command and environment overrides; a cluster held by a test keeps its tasks
 * PROVISIONING, and a task whose image has no Dockerfile stops with TaskFailedToStart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync, chmodSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { later, type JobControl, type LocalContext } from './context.js';
import { jobArgv, readDockerfile, type ImageSpec } from './dockerfile.js';
import type { EcsTask, Job, Repository } from './state.js';
import { settleWithin } from '../../timeout.js';

export interface JobRunnerOptions {
  /** Delay from RUNNABLE to STARTING, in milliseconds. */
  startDelayMs: number;
  /** The endpoint's URL, given to jobs as AWS_ENDPOINT_URL. */
  url: string;
  stateDir: string;
  /** Dockerfile of the worker repository (`*ecr`): aws/Dockerfile of this checkout by default. */
  workerDockerfile: string;
  /** Build context of the worker image (the riots checkout, as `riots batch build-image` uses). */
  workerContext: string;
  /** Dockerfile of the main repository (`*ecrmain`), from `--main-dockerfile`. */
  mainDockerfile?: string | undefined;
  /** The argv that stands for the `riots` command inside images. */
  riotsCommand: string[];
  /** Extra environment for every job (after the endpoint's own variables). */
  jobEnv: Record<string, string>;
  /** Time between SIGTERM and SIGKILL when a running job is terminated. */
  killGraceMs: number;
}

const RECHECK_MS = 500;

/** Per-service endpoint variables of the services this endpoint stands for: a container must reach it, not them (S3's stays). */
const LOCAL_SERVICE_ENDPOINT_VARS = ['BATCH', 'CLOUDFORMATION', 'ECR', 'EC2', 'ECS'].map((s) => `AWS_ENDPOINT_URL_${s}`);

export class JobRunner implements JobControl {
  private readonly procs = new Map<string, ChildProcess>();
  private readonly exited = new Map<string, Promise<void>>();
  /** Every process group started, killed again on close (children a job left behind). */
  private readonly groups = new Set<number>();
  /** Dockerfiles mapped to repositories by the JS API, by repository name. */
  readonly imageMap = new Map<string, string>();
  private readonly binDir: string;

  constructor(
    private readonly ctx: LocalContext,
    private readonly opts: JobRunnerOptions,
  ) {
    mkdirSync(join(opts.stateDir, 'jobs'), { recursive: true });
    this.binDir = join(opts.stateDir, 'bin');
    mkdirSync(this.binDir, { recursive: true });
    // For shell-form ENTRYPOINTs: `riots` on PATH runs this checkout's CLI.
    const shim = join(this.binDir, 'riots');
    writeFileSync(shim, `#!/bin/sh\nexec ${opts.riotsCommand.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')} "$@"\n`);
    chmodSync(shim, 0o755);
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
    return this.dockerfileFor(repo);
  }

  /** The Dockerfile standing for a repository's image, if there is one. */
  dockerfileFor(repo: Repository): string | undefined {
    const mapped = this.imageMap.get(repo.name);
    if (mapped) return mapped;
    if (repo.name.endsWith('ecrmain')) return this.opts.mainDockerfile;
    if (repo.name.endsWith('ecr')) return existsSync(this.opts.workerDockerfile) ? this.opts.workerDockerfile : undefined;
    return undefined;
  }

  /** Why a RUNNABLE job cannot start now (it stays RUNNABLE), or undefined when it can. */
  private blocker(job: Job): { reason: string | undefined; spec?: ImageSpec } {
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
    const repo = state.findRepositoryForImage(job.image);
    const dockerfile = repo ? this.dockerfileFor(repo) : undefined;
    if (!dockerfile) {
      return {
        reason: `CannotPullContainerError: the local endpoint has no Dockerfile for image ${job.image} (main images need 'riots batch local --main-dockerfile PATH')`,
      };
    }
    try {
      return { reason: undefined, spec: this.imageSpec(dockerfile) };
    } catch (e) {
      return { reason: `CannotPullContainerError: cannot read ${dockerfile}: ${(e as Error).message}` };
    }
  }

  /** What a Dockerfile says to run (a main image's `FROM riots` builds on the worker image). */
  private imageSpec(dockerfile: string): ImageSpec {
    const worker = (): ImageSpec => readDockerfile(this.opts.workerDockerfile, undefined, this.opts.workerContext);
    return dockerfile === this.opts.workerDockerfile
      ? worker()
      : readDockerfile(dockerfile, (from) => (from === 'riots' && existsSync(this.opts.workerDockerfile) ? worker() : undefined));
  }

  private tryStart(jobId: string): void {
    const job = this.ctx.state.jobs.get(jobId);
    if (!job || job.status !== 'RUNNABLE') return;
    const { reason, spec } = this.blocker(job);
    if (!spec) {
      if (reason !== undefined) job.statusReason = reason;
      later(this.ctx, RECHECK_MS, () => this.tryStart(jobId));
      return;
    }
    delete job.statusReason;
    job.status = 'STARTING';
    this.launch(job, spec);
  }

  /**
   * A container's environment before its own: the endpoint's (less the endpoint variables of the
   * services it stands for, the profile and Batch's job variables), the image's ENV, then this
   * endpoint with its region and, when none are set, dummy credentials.
   */
  private baseEnvironment(spec: ImageSpec): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (LOCAL_SERVICE_ENDPOINT_VARS.includes(k) || k.startsWith('AWS_BATCH_') || k === 'AWS_PROFILE') delete env[k];
    Object.assign(env, spec.env);
    env.PATH = `${this.binDir}:${env.PATH ?? '/usr/bin:/bin'}`;
    env.AWS_ENDPOINT_URL = this.opts.url;
    env.AWS_REGION = this.ctx.region;
    env.AWS_DEFAULT_REGION = this.ctx.region;
    if (!env.AWS_ACCESS_KEY_ID) {
      env.AWS_ACCESS_KEY_ID = 'test';
      env.AWS_SECRET_ACCESS_KEY = 'test';
    }
    return env;
  }

  /** A job's environment: the base, Batch's job variables, jobEnv, then the job's own. */
  private environment(job: Job, spec: ImageSpec): NodeJS.ProcessEnv {
    const env = this.baseEnvironment(spec);
    const queue = this.ctx.state.findQueue(job.jobQueue);
    env.AWS_BATCH_JOB_ID = job.jobId;
    env.AWS_BATCH_JOB_ATTEMPT = '1';
    if (queue) env.AWS_BATCH_JQ_NAME = queue.name;
    if (queue?.computeEnvironments[0]) env.AWS_BATCH_CE_NAME = queue.computeEnvironments[0].slice(queue.computeEnvironments[0].lastIndexOf('/') + 1);
    Object.assign(env, this.opts.jobEnv);
    for (const e of job.environment) env[e.name] = e.value;
    return env;
  }

  /** The argv of a container: the image's ENTRYPOINT/CMD with the command, `riots` and `node` made local. */
  private argvFor(spec: ImageSpec, command: string[]): string[] {
    const argv = jobArgv(spec, command);
    if (argv[0] === 'riots') return [...this.opts.riotsCommand, ...argv.slice(1)];
    if (argv[0] === 'node') return [process.execPath, ...argv.slice(1)];
    return argv;
  }

  /**
   * Start one container's process in a process group of its own, output appended to `logBase`
   * .log (stdout and stderr). `started` runs once it runs, `exited` when it ends; `failed`
   * when it could not start at all. Job ids and task ids share the process table (they never
   * collide: UUIDs and 32-hex ids).
   */
  private spawnContainer(
    key: string,
    argv: string[],
    cwd: string,
    env: NodeJS.ProcessEnv,
    logPath: string,
    cb: { started(pid: number): void; exited(exitCode: number, signal: NodeJS.Signals | null): void; failed(message: string): void },
  ): void {
    // stdout and stderr in one file, in the order written, as in a CloudWatch log stream
    const out = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', out, out], detached: true });
    } catch (e) {
      cb.failed(`CannotStartContainerError: ${(e as Error).message} (running ${argv.join(' ')})`);
      return;
    } finally {
      closeSync(out);
    }
    this.procs.set(key, child);
    let resolveExit!: () => void;
    this.exited.set(key, new Promise((r) => (resolveExit = r)));
    child.once('spawn', () => {
      this.groups.add(child.pid!);
      cb.started(child.pid!);
    });
    child.once('error', (e) => {
      if (child.pid !== undefined) return; // errors after spawn are followed by 'exit'
      this.procs.delete(key);
      cb.failed(`CannotStartContainerError: ${e.message} (running ${argv.join(' ')})`);
      resolveExit();
    });
    child.once('exit', (code, signal) => {
      this.procs.delete(key);
      cb.exited(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0), signal);
      resolveExit();
    });
  }

  private launch(job: Job, spec: ImageSpec): void {
    const argv = this.argvFor(spec, job.command);
    job.logPath = join(this.opts.stateDir, 'jobs', `${job.jobId}.log`);
    if (argv.length === 0) {
      this.stop(job, 'FAILED', `CannotStartContainerError: ${spec.dockerfile} has no ENTRYPOINT or CMD and the job has no command`);
      return;
    }
    this.spawnContainer(job.jobId, argv, spec.context, this.environment(job, spec), job.logPath, {
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
    const repo = state.findRepositoryForImage(task.container.image);
    const dockerfile = repo ? this.dockerfileFor(repo) : undefined;
    if (!dockerfile)
      return this.taskStopped(task, 'TaskFailedToStart', `CannotPullContainerError: the local endpoint has no Dockerfile for image ${task.container.image}`);
    let spec: ImageSpec;
    try {
      spec = this.imageSpec(dockerfile);
    } catch (e) {
      return this.taskStopped(task, 'TaskFailedToStart', `CannotPullContainerError: cannot read ${dockerfile}: ${(e as Error).message}`);
    }
    const argv = this.argvFor(spec, task.container.command);
    if (argv.length === 0)
      return this.taskStopped(task, 'TaskFailedToStart', `CannotStartContainerError: ${spec.dockerfile} has no ENTRYPOINT or CMD and the task has no command`);
    task.lastStatus = 'PENDING';
    task.logPath = join(this.opts.stateDir, 'jobs', `${task.taskId}.log`);
    this.spawnContainer(task.taskId, argv, spec.context, this.taskEnvironment(task, spec), task.logPath, {
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

  /** A task's environment: the base, jobEnv, then the container's own. */
  private taskEnvironment(task: EcsTask, spec: ImageSpec): NodeJS.ProcessEnv {
    const env = this.baseEnvironment(spec);
    Object.assign(env, this.opts.jobEnv);
    for (const e of task.container.environment) env[e.name] = e.value;
    return env;
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
    const child = this.procs.get(taskId);
    if (!child) {
      // not started yet (PROVISIONING), or starting: a process about to start is stopped when it runs
      if (task.lastStatus === 'PROVISIONING') this.taskStopped(task, stopCode, reason);
      return;
    }
    task.lastStatus = 'STOPPING';
    this.killGroup(child, 'SIGTERM');
    later(this.ctx, this.opts.killGraceMs, () => {
      if (this.procs.get(taskId) === child) this.killGroup(child, 'SIGKILL');
    });
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
    const child = this.procs.get(jobId);
    if (!child) {
      if (job.status !== 'STARTING') this.stop(job, 'FAILED', reason);
      return;
    }
    this.killGroup(child, 'SIGTERM');
    later(this.ctx, this.opts.killGraceMs, () => {
      if (this.procs.get(jobId) === child) this.killGroup(child, 'SIGKILL');
    });
  }

  private killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      try {
        child.kill(signal);
      } catch {
        /* already gone */
      }
    }
  }

  /** Process ids of the jobs still running. */
  runningPids(): number[] {
    return [...this.procs.values()].map((c) => c.pid).filter((p): p is number => p !== undefined);
  }

  /** SIGKILL every job's process group, now (synchronous: also usable as the process exits). */
  killAll(): void {
    for (const [jobId, child] of this.procs) {
      const job = this.ctx.state.jobs.get(jobId);
      if (job) job.terminateReason ??= 'Local endpoint closed';
      this.killGroup(child, 'SIGKILL');
    }
    for (const pgid of this.groups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* group already empty */
      }
    }
  }

  /** Kill every job's process group and wait for them to exit (at most `timeoutMs`). */
  async close(timeoutMs = 5000): Promise<void> {
    this.killAll();
    await settleWithin(Promise.all([...this.exited.values()]), timeoutMs);
  }
}
