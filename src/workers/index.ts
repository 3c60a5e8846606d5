/**
 * The compute backend for a run's computeWorkerKind. Each kind lives in its own module under
 * kinds/ (exporting `createBackend(run)` and the table of its computeWorkerExtraParams) and is
 * loaded only when used, so cloud SDKs load only for their kind; the applier sees only
 * {@link ComputeBackend}.
 */
import type { ComputeWorkerKind } from '../concurrency.js';
import { checkKnownKeys, type SettingsTable } from '../settings.js';
import type { ComputeBackend, RunDescription } from './backend.js';

interface KindModule {
  /** Every computeWorkerExtraParams the kind takes. */
  EXTRA_PARAMS: SettingsTable;
  createBackend(run: RunDescription): Promise<ComputeBackend>;
}

/** The module of each kind, in kinds/. */
const KIND_MODULES: Record<Exclude<ComputeWorkerKind, 'CW_NONE'>, () => Promise<KindModule>> = {
  CW_THREADS: () => import('./kinds/threads.js'),
  CW_SUBPROC: () => import('./kinds/subproc.js'),
  CW_AWSBATCH: () => import('./kinds/awsbatch.js'),
  CW_ECS: () => import('./kinds/ecs.js'),
  CW_SLURM: () => import('./kinds/slurm.js'),
  CW_PBS: () => import('./kinds/pbs.js'),
};

/** The table of computeWorkerExtraParams of a kind (for docs and checks). */
export async function extraParamsOf(kind: Exclude<ComputeWorkerKind, 'CW_NONE'>): Promise<SettingsTable> {
  return (await KIND_MODULES[kind]()).EXTRA_PARAMS;
}

/**
 * The backend of `run.concurrency.computeWorkerKind` (not CW_NONE: that is the sequential
 * backend), once its computeWorkerExtraParams are known to be its own.
 * @throws {ControlsError} for a key of computeWorkerExtraParams the kind does not take.
 */
export async function createWorkerBackend(run: RunDescription): Promise<ComputeBackend> {
  const kind = run.concurrency.computeWorkerKind;
  if (kind === 'CW_NONE') throw new TypeError('createWorkerBackend: CW_NONE runs in this thread (SequentialBackend)');
  const mod = await KIND_MODULES[kind]();
  checkKnownKeys(run.concurrency.computeWorkerExtraParams, Object.keys(mod.EXTRA_PARAMS), 'computeWorkerExtraParams', kind);
  return mod.createBackend(run);
}
