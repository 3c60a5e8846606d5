/**
 * ConcurrencyStyle: how reading and computing are spread, checked on construction.
 */
import os from 'node:os';
import { ControlsError } from './errors.js';
import { checkKnownKeys } from './settings.js';

export const CW_NONE = 'CW_NONE';
export const CW_THREADS = 'CW_THREADS';
export const CW_SUBPROC = 'CW_SUBPROC';
export const CW_AWSBATCH = 'CW_AWSBATCH';
export const CW_ECS = 'CW_ECS';
export const CW_SLURM = 'CW_SLURM';
export const CW_PBS = 'CW_PBS';

export type ComputeWorkerKind = typeof CW_NONE | typeof CW_THREADS | typeof CW_SUBPROC | typeof CW_AWSBATCH | typeof CW_ECS | typeof CW_SLURM | typeof CW_PBS;

export const COMPUTE_WORKER_KINDS: readonly ComputeWorkerKind[] = [CW_NONE, CW_THREADS, CW_SUBPROC, CW_AWSBATCH, CW_ECS, CW_SLURM, CW_PBS];

/** Kinds whose workers run outside this machine's process tree and talk over the data channel. */
export const REMOTE_KINDS: readonly ComputeWorkerKind[] = [CW_AWSBATCH, CW_ECS, CW_SLURM, CW_PBS];

export interface ConcurrencyStyleInit {
  /**
   * Block reads kept in flight ahead of computation: by the main process, or with
   * computeWorkersRead by each compute worker for itself. Compute workers that do not read need
   * at least 1. Not given: one read at a time, except that a main process that resamples or
   * rasterizes an input reads on every core (see readSetsFor in reader/readpool.ts); 0 or 1
   * given keeps one read at a time whatever the inputs.
   */
  numReadWorkers?: number;
  /** Compute workers. Default 0; a computeWorkerKind other than CW_NONE needs at least 1 (or singleBlockComputeWorkers). */
  numComputeWorkers?: number;
  computeWorkerKind?: ComputeWorkerKind;
  /** Extra parameters for the worker kind (e.g. SLURM sbatch options, ECS task settings). */
  computeWorkerExtraParams?: Record<string, unknown>;
  /**
   * Workers read their own inputs. Default: false for threads and subproc, true for remote kinds.
   * Reading workers each keep `numReadWorkers` reads in flight ahead of their computation.
   */
  computeWorkersRead?: boolean;
  /** One short-lived worker per block instead of a fixed pool. */
  singleBlockComputeWorkers?: boolean;
  /** Main and workers share a temporary folder (a shared filesystem). */
  haveSharedTemp?: boolean;
  /** Seconds; null means wait for ever. */
  readBufferInsertTimeout?: number | null;
  readBufferPopTimeout?: number | null;
  computeBufferInsertTimeout?: number | null;
  computeBufferPopTimeout?: number | null;
  computeBarrierTimeout?: number | null;
}

const INIT_KEYS: readonly (keyof ConcurrencyStyleInit)[] = [
  'numReadWorkers',
  'numComputeWorkers',
  'computeWorkerKind',
  'computeWorkerExtraParams',
  'computeWorkersRead',
  'singleBlockComputeWorkers',
  'haveSharedTemp',
  'readBufferInsertTimeout',
  'readBufferPopTimeout',
  'computeBufferInsertTimeout',
  'computeBufferPopTimeout',
  'computeBarrierTimeout',
];

function checkBoolean(init: ConcurrencyStyleInit, k: 'computeWorkersRead' | 'singleBlockComputeWorkers' | 'haveSharedTemp'): void {
  const v = init[k];
  if (v !== undefined && typeof v !== 'boolean') throw new ControlsError(`${k} must be true or false (got ${String(v)})`);
}

/**
 * How reading and computing are spread (RIOS's ConcurrencyStyle).
 *
 * @example
 * ```ts
 * const concurrency = new ConcurrencyStyle({ numReadWorkers: 2, computeWorkerKind: CW_THREADS, numComputeWorkers: 2 });
 * await apply(fn, infiles, outfiles, { controls: { concurrency } });
 * ```
 */
export class ConcurrencyStyle {
  readonly numReadWorkers: number;
  /** Whether numReadWorkers was given (not given, riots chooses by the inputs: readSetsFor). */
  readonly numReadWorkersGiven: boolean;
  readonly numComputeWorkers: number;
  readonly computeWorkerKind: ComputeWorkerKind;
  readonly computeWorkerExtraParams: Readonly<Record<string, unknown>>;
  readonly computeWorkersRead: boolean;
  readonly singleBlockComputeWorkers: boolean;
  readonly haveSharedTemp: boolean;
  readonly readBufferInsertTimeout: number | null;
  readonly readBufferPopTimeout: number | null;
  readonly computeBufferInsertTimeout: number | null;
  readonly computeBufferPopTimeout: number | null;
  readonly computeBarrierTimeout: number | null;

  /** @throws {ControlsError} for settings that make no sense together. */
  constructor(init: ConcurrencyStyleInit = {}) {
    if (init === null || typeof init !== 'object' || Array.isArray(init)) throw new ControlsError('concurrency must be an object of settings');
    checkKnownKeys(init, INIT_KEYS, 'concurrency', 'concurrency');
    for (const k of ['computeWorkersRead', 'singleBlockComputeWorkers', 'haveSharedTemp'] as const) checkBoolean(init, k);
    const extra = init.computeWorkerExtraParams;
    if (extra !== undefined && (extra === null || typeof extra !== 'object' || Array.isArray(extra))) {
      throw new ControlsError('computeWorkerExtraParams must be an object of settings for the worker kind');
    }
    const kind = init.computeWorkerKind ?? CW_NONE;
    if (!COMPUTE_WORKER_KINDS.includes(kind)) {
      throw new ControlsError(`computeWorkerKind must be one of ${COMPUTE_WORKER_KINDS.join(', ')} (got ${String(kind)})`);
    }
    const nRead = init.numReadWorkers ?? 0;
    if (!Number.isInteger(nRead) || nRead < 0) throw new ControlsError(`numReadWorkers must be a non-negative integer (got ${String(nRead)})`);
    const single = init.singleBlockComputeWorkers ?? false;
    // The checks below accept and refuse what RIOS's ConcurrencyStyle does (rios/structures.py),
    // in its order, plus riots' own type checks and the settings riots would otherwise ignore.
    if (single && init.numComputeWorkers !== undefined && init.numComputeWorkers !== 0) {
      throw new ControlsError('singleBlockComputeWorkers starts one worker per block: do not also give numComputeWorkers');
    }
    if (single && nRead > 0) {
      throw new ControlsError('singleBlockComputeWorkers needs numReadWorkers 0: each worker handles one block, so there is nothing to read ahead');
    }
    const nCompute = init.numComputeWorkers ?? 0;
    if (!Number.isInteger(nCompute) || nCompute < 0) throw new ControlsError(`numComputeWorkers must be a non-negative integer (got ${String(nCompute)})`);
    const remote = REMOTE_KINDS.includes(kind);
    const workersRead = init.computeWorkersRead ?? remote;
    if (kind === CW_THREADS && workersRead) {
      throw new ControlsError('CW_THREADS workers cannot read: GDAL only runs on the main thread (set computeWorkersRead false)');
    }
    if (single && kind === CW_THREADS) throw new ControlsError('singleBlockComputeWorkers is for process or job workers, not CW_THREADS');
    if (kind === CW_NONE && (nCompute > 0 || single)) {
      throw new ControlsError('compute workers need a computeWorkerKind other than CW_NONE');
    }
    if (kind !== CW_NONE && nCompute === 0 && !single) {
      throw new ControlsError(`computeWorkerKind ${kind} needs numComputeWorkers >= 1 (there is no default count)`);
    }
    if (nCompute > 0 && !workersRead && nRead === 0) {
      throw new ControlsError(
        `${nCompute} compute worker(s) that do not read, with numReadWorkers 0: the main process reads their blocks, so give numReadWorkers >= 1 ` +
          '(one read worker reads ahead while they compute)',
      );
    }
    if (kind === CW_AWSBATCH && single) {
      throw new ControlsError('CW_AWSBATCH workers are not for singleBlockComputeWorkers: a Batch job per block spends longer starting than computing');
    }
    if (kind === CW_THREADS && nCompute > os.availableParallelism()) {
      throw new ControlsError(`numComputeWorkers ${nCompute} is more than the ${os.availableParallelism()} CPUs for CW_THREADS`);
    }
    if (kind === CW_NONE && init.computeWorkersRead) throw new ControlsError('computeWorkersRead needs compute workers');

    const timeout = (name: keyof ConcurrencyStyleInit, dflt: number): number | null => {
      const v = init[name];
      if (v === undefined) return dflt;
      if (v === null) return null;
      if (typeof v !== 'number' || !(v > 0)) throw new ControlsError(`${name} must be a positive number of seconds or null (got ${String(v)})`);
      return v;
    };
    this.numReadWorkers = nRead;
    this.numReadWorkersGiven = init.numReadWorkers !== undefined;
    this.numComputeWorkers = nCompute;
    this.computeWorkerKind = kind;
    this.computeWorkerExtraParams = Object.freeze({ ...(init.computeWorkerExtraParams ?? {}) });
    this.computeWorkersRead = workersRead;
    this.singleBlockComputeWorkers = single;
    this.haveSharedTemp = init.haveSharedTemp ?? false;
    this.readBufferInsertTimeout = timeout('readBufferInsertTimeout', 10);
    this.readBufferPopTimeout = timeout('readBufferPopTimeout', 10);
    this.computeBufferInsertTimeout = timeout('computeBufferInsertTimeout', 10);
    this.computeBufferPopTimeout = timeout('computeBufferPopTimeout', 20);
    this.computeBarrierTimeout = timeout('computeBarrierTimeout', 600);
    Object.freeze(this);
  }

  static from(c: ConcurrencyStyle | ConcurrencyStyleInit | undefined): ConcurrencyStyle {
    return c instanceof ConcurrencyStyle ? c : new ConcurrencyStyle(c ?? {});
  }

  get usesComputeWorkers(): boolean {
    return this.computeWorkerKind !== CW_NONE;
  }
}
