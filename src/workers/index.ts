/**
 * The compute backend for a run's computeWorkerKind. Each kind lives in its own module under
 * kinds/ (exporting `createBackend(run)`) and is loaded only when used, so cloud SDKs load only
 * for their kind; the applier sees only {@link ComputeBackend}.
 */
import type { ComputeWorkerKind } from '../concurrency.js';
import type { ComputeBackend, RunDescription } from './backend.js';

type KindModule = { createBackend(run: RunDescription): Promise<ComputeBackend> };

/** The module of each kind, in kinds/. */
const KIND_MODULES: Record<Exclude<ComputeWorkerKind, 'CW_NONE'>, () => Promise<KindModule>> = {
  CW_THREADS: () => import('./kinds/threads.js'),
  CW_SUBPROC: () => import('./kinds/subproc.js'),
  CW_AWSBATCH: () => import('./kinds/awsbatch.js'),
  CW_ECS: () => import('./kinds/ecs.js'),
  CW_SLURM: () => import('./kinds/slurm.js'),
  CW_PBS: () => import('./kinds/pbs.js'),
};

/** The backend of `run.concurrency.computeWorkerKind` (not CW_NONE: that is the sequential backend). */
export async function createWorkerBackend(run: RunDescription): Promise<ComputeBackend> {
  const kind = run.concurrency.computeWorkerKind;
  if (kind === 'CW_NONE') throw new TypeError('createWorkerBackend: CW_NONE runs in this thread (SequentialBackend)');
  return (await KIND_MODULES[kind]()).createBackend(run);
}
