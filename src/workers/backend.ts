/**
 * Where the user function runs. The applier only sees {@link ComputeBackend}: the sequential
 * backend (sequential.ts) runs it in this thread, each worker kind (kinds/) elsewhere. A backend
 * is made from a {@link RunDescription}.
 */
import type { BlockAssociations } from '../block.js';
import type { BlockCoords } from '../errors.js';
import type { ApplierControls } from '../controls.js';
import type { ConcurrencyStyle } from '../concurrency.js';
import type { PixelGrid } from '../grid.js';
import type { Timings } from '../timings.js';
import type { UserFunction, UserFunctionRef } from '../userfunction.js';
import type { BlockPlan } from '../blockplan.js';
import type { InfoContext } from '../readerinfo.js';
import type { BlockAllocator, ImageRef, InputSource } from '../reader/inputs.js';

/** What a backend learns once the inputs are open: the working grid and how it is read. */
export interface RunLayout {
  infoContext: InfoContext;
  plan: BlockPlan;
  sources: InputSource[];
  grid: PixelGrid;
}

/** Everything a compute backend needs to know about the run; plain data except the function. */
export interface RunDescription {
  /** A function made with defineUserFunction, or a { module, name } reference (see src/userfunction.ts). */
  userFunction: UserFunction | UserFunctionRef;
  inRefs: ImageRef[];
  outRefs: ImageRef[];
  controls: ApplierControls;
  concurrency: ConcurrencyStyle;
  otherArgs: unknown;
  timings: Timings;
  signal: AbortSignal;
  /**
   * The working grid, settled once the inputs are open. The backend is created and started
   * before that: workers take from a second (a process) to minutes (a Batch job) to start and
   * need nothing of the grid until they are set up, so they start while the main process loads
   * GDAL and opens the inputs. Rejects when the inputs cannot be used; the applier then destroys
   * the backend.
   */
  layout: Promise<RunLayout>;
}

/** See {@link ComputeBackend.compute}. `workerId` is undefined in the sequential backend. */
export type DispatchHook = (workerId: number | undefined) => void;

export interface ComputeBackend {
  /** How many blocks may be computing at once. */
  readonly capacity: number;
  /** Get ready to take blocks. Workers may still be starting (elastic start): blocks wait for the first one, bounded by computeBarrierTimeout. */
  start(): Promise<void>;
  /**
   * After start() is called: resolves once the workers' launch requests are out (processes
   * spawned, jobs submitted), before they are ready; rejects if start() fails before that. The
   * applier waits for it before it loads GDAL and opens the inputs.
   */
  launched?(): Promise<void>;
  /**
   * Until `until` settles (the first worker is ready), the applier may read up to `budgetBytes`
   * of input blocks ahead and hand them to compute() with their inputs, even when workers read.
   */
  readonly startupReadAhead?: { budgetBytes: number; until: Promise<unknown> };
  /**
   * Compute one block. `inputs` is undefined when workers read their own inputs.
   * `onDispatch` is called each time the block is handed to a worker that is ready (again when a
   * lost worker's block is handed out anew), with that worker's id: the pipeline's
   * computeBufferPopTimeout counts from there, never while the block waits for a worker to start.
   * Rejects with UserFunctionError (not retried) or a worker error.
   */
  compute(coords: BlockCoords, inputs: BlockAssociations | undefined, onDispatch?: DispatchHook): Promise<BlockAssociations>;
  /**
   * Where the applier should allocate the input block arrays it hands to compute(), when the
   * backend takes them back for reuse once it is done with them (worker processes: the blocks are
   * only sent, never seen by user code in this process).
   */
  readonly inputAllocator?: BlockAllocator;
  /**
   * Called once a block's outputs from compute() are written and nothing refers to them any more:
   * the backend may reuse the memory of the arrays it made.
   */
  releaseOutputs?(outputs: BlockAssociations): void;
  /** After the last block: each worker's final otherArgs and timings. */
  finish(): Promise<{ otherArgsList: unknown[]; workerTimings: Map<number, Timings> }>;
  /** Stop now (failure or interrupt): no worker left running. Safe to call more than once. */
  destroy(reason?: unknown): Promise<void>;
}
