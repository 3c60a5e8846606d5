/**
 * What every protocol handler of the local endpoint shares: the state, the region and account,
 * timings, and the job runner (for the Batch and ECS calls, and for stacks deleting queues and
 * clusters).
 */
import type { LocalAwsState, Repository } from './state.js';

export interface JobControl {
  /** Start following a job just submitted (SUBMITTED -> RUNNABLE -> …). */
  submitted(jobId: string): void;
  /** Stop a job with this reason: kill its process, or fail it if it had not started. */
  terminate(jobId: string, reason: string): void;
  /** Start following an ECS task just created by RunTask (PROVISIONING -> … -> RUNNING). */
  taskCreated(taskId: string): void;
  /** Stop an ECS task: kill its process, or stop it before it starts. */
  stopTask(taskId: string, stopCode: 'UserInitiated' | 'ServiceSchedulerInitiated' | 'SpotInterruption', reason: string): void;
  /** The Dockerfile the endpoint runs for a repository's image when none was pushed, if any. */
  standIn(repo: Repository): string | undefined;
}

/** What ECR's API reads from the registry. */
export interface RegistryAccess {
  host: string;
  readBlob(digest: string): Buffer | undefined;
  blobExists(digest: string): boolean;
  /** A URL that downloads a blob without credentials (ECR hands out pre-signed S3 URLs). */
  presign(repositoryName: string, digest: string): string;
}

export interface LocalContext {
  state: LocalAwsState;
  region: string;
  accountId: string;
  /** The image registry, in container mode (repository URIs point to its host). */
  registry?: RegistryAccess | undefined;
  /** Delay between a stack operation and its *_COMPLETE status, in milliseconds. */
  stackDelayMs: number;
  jobs: JobControl;
  /** Timers the endpoint must clear on close. */
  timers: Set<NodeJS.Timeout>;
}

/** setTimeout that the endpoint's close() cancels. */
export function later(ctx: LocalContext, ms: number, fn: () => void): void {
  const t = setTimeout(() => {
    ctx.timers.delete(t);
    try {
      fn();
    } catch (e) {
      // A bug here must not take the endpoint (and the test or dry run using it) down.
      process.stderr.write(`riots local AWS endpoint: internal error: ${(e as Error).stack ?? String(e)}\n`);
    }
  }, ms);
  ctx.timers.add(t);
}
