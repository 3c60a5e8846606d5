/**
 * Compute-worker kinds behind one interface. Importing this module registers the factory the
 * applier uses; each kind lives in its own module (src/workers/<module>.ts, exporting
 * `createBackend(run)`) and is loaded only when used, so cloud SDKs load only for their kind.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { registerWorkerBackendFactory, type RunDescription } from '../applier/apply.js';
import type { ComputeBackend } from '../applier/compute.js';
import { ControlsError } from '../errors.js';
import type { ComputeWorkerKind } from './concurrency.js';

type KindModule = { createBackend(run: RunDescription): Promise<ComputeBackend> };

/** The module of each kind, relative to this folder. */
export const KIND_MODULES: Record<Exclude<ComputeWorkerKind, 'CW_NONE'>, string> = {
  CW_THREADS: 'threads',
  CW_SUBPROC: 'subproc',
  CW_AWSBATCH: 'awsbatch',
  CW_ECS: 'ecs',
  CW_SLURM: 'slurm',
  CW_PBS: 'pbs',
};

function moduleExists(name: string): boolean {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return existsSync(`${here}${name}.js`) || existsSync(`${here}${name}.ts`);
}

export async function loadKind(kind: ComputeWorkerKind): Promise<KindModule> {
  const name = kind === 'CW_NONE' ? undefined : KIND_MODULES[kind];
  if (name === undefined || !moduleExists(name)) {
    const have = Object.entries(KIND_MODULES)
      .filter(([, m]) => moduleExists(m))
      .map(([k]) => k);
    throw new ControlsError(`computeWorkerKind ${kind} is not available in this version of riots (available: ${have.join(', ') || 'none'})`);
  }
  return (await import(`./${name}.js`)) as KindModule;
}

registerWorkerBackendFactory(async (run) => (await loadKind(run.concurrency.computeWorkerKind)).createBackend(run));
