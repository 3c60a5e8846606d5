/**
 * Compute-worker kinds behind one interface. Importing this module registers the factory the
 * applier uses; each kind lives in its own module and is loaded only when used.
 */
import { registerWorkerBackendFactory, type RunDescription } from '../applier/apply.js';
import type { ComputeBackend } from '../applier/compute.js';
import { ControlsError } from '../errors.js';
import type { ComputeWorkerKind } from './concurrency.js';

type KindModule = { createBackend(run: RunDescription): Promise<ComputeBackend> };

const KIND_MODULES: Partial<Record<ComputeWorkerKind, () => Promise<KindModule>>> = {};

/** Register a kind's module loader (each kind module calls this from src/workers/kinds.ts). */
export function registerKind(kind: ComputeWorkerKind, load: () => Promise<KindModule>): void {
  KIND_MODULES[kind] = load;
}

registerWorkerBackendFactory(async (run) => {
  const kind = run.concurrency.computeWorkerKind;
  const load = KIND_MODULES[kind];
  if (!load) {
    const have = Object.keys(KIND_MODULES);
    throw new ControlsError(`computeWorkerKind ${kind} is not available in this version of riots (available: ${have.length ? have.join(', ') : 'none'})`);
  }
  const mod = await load();
  return mod.createBackend(run);
});
