/**
 * Where the user function runs. The applier only sees {@link ComputeBackend}; the sequential
 * backend runs it in this thread, worker kinds (src/workers/) run it elsewhere.
 */
import { Block, type BlockAssociations } from '../block.js';
import { OutputBlockError, UserFunctionError, describeBlock, type BlockCoords } from '../errors.js';
import { Timings } from './timings.js';
import { ReaderInfo, type InfoContext } from './readerinfo.js';
import type { BlockAllocator, ImageRef } from './inputs.js';

export type UserFunction<I extends BlockAssociations = BlockAssociations, O extends BlockAssociations = BlockAssociations, A = unknown> = (
  info: ReaderInfo,
  inputs: I,
  outputs: O,
  otherArgs: A,
) => void | Promise<void>;

/** See {@link ComputeBackend.compute}. `workerId` is undefined in the sequential backend. */
export type DispatchHook = (workerId: number | undefined) => void;

export interface ComputeResult {
  outputs: BlockAssociations;
}

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

/**
 * Check what the user function put in `outputs` against `outfiles`: every name present, lists
 * of the right length, every value a Block.
 */
export function checkOutputs(outputs: BlockAssociations, outRefs: ImageRef[], coords: BlockCoords): void {
  const expected = new Map<string, number | null>();
  for (const r of outRefs) {
    if (r.listIndex === null) expected.set(r.name, null);
    else expected.set(r.name, Math.max((expected.get(r.name) as number | undefined) ?? 0, r.listIndex + 1));
  }
  const where = describeBlock(coords);
  for (const [name, count] of expected) {
    const v = outputs[name];
    if (v === undefined) {
      throw new OutputBlockError(`output '${name}', ${where}: the user function did not set outputs.${name}`, { imageName: name, block: coords });
    }
    if (count === null) {
      if (!(v instanceof Block)) {
        throw new OutputBlockError(`output '${name}', ${where}: outputs.${name} must be a Block (got ${typeName(v)})`, { imageName: name, block: coords });
      }
    } else {
      if (!Array.isArray(v) || v.length !== count) {
        throw new OutputBlockError(`output '${name}', ${where}: outputs.${name} must be a list of ${count} Blocks (got ${typeName(v)})`, {
          imageName: name,
          block: coords,
        });
      }
      v.forEach((b, i) => {
        if (!(b instanceof Block)) {
          throw new OutputBlockError(`output '${name}[${i}]', ${where}: must be a Block (got ${typeName(b)})`, { imageName: name, block: coords });
        }
      });
    }
  }
  for (const name of Object.keys(outputs)) {
    if (!expected.has(name)) {
      throw new OutputBlockError(`${where}: the user function set outputs.${name}, which is not in outfiles`, { imageName: name, block: coords });
    }
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/** Call the user function for one block, turning a throw into a UserFunctionError. */
export async function callUserFunction(
  fn: UserFunction,
  info: ReaderInfo,
  inputs: BlockAssociations,
  otherArgs: unknown,
  coords: BlockCoords,
  timings: Timings,
  workerId?: number,
): Promise<BlockAssociations> {
  const outputs: BlockAssociations = {};
  info.setBlock(coords);
  const t0 = performance.now();
  try {
    await fn(info, inputs, outputs, otherArgs);
  } catch (cause) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    throw new UserFunctionError(
      `the user function failed on ${describeBlock(coords)}${workerId !== undefined ? ` in worker ${workerId}` : ''}: ${msg}`,
      { block: coords, cause, ...(workerId !== undefined ? { workerId } : {}) },
    );
  } finally {
    timings.add('userfunction', (performance.now() - t0) / 1000);
  }
  return outputs;
}

/** Runs the user function in this thread, one block at a time, with the caller's otherArgs. */
export class SequentialBackend implements ComputeBackend {
  readonly capacity = 1;
  private readonly fn: UserFunction;
  private readonly info: ReaderInfo;
  private readonly otherArgs: unknown;
  private readonly timings: Timings;

  constructor(fn: UserFunction, ctx: InfoContext | ReaderInfo, otherArgs: unknown, timings: Timings) {
    this.fn = fn;
    this.info = ctx instanceof ReaderInfo ? ctx : new ReaderInfo(ctx);
    this.otherArgs = otherArgs;
    this.timings = timings;
  }

  get readerInfo(): ReaderInfo {
    return this.info;
  }

  async start(): Promise<void> {}

  compute(coords: BlockCoords, inputs: BlockAssociations | undefined, onDispatch?: DispatchHook): Promise<BlockAssociations> {
    onDispatch?.(undefined);
    return callUserFunction(this.fn, this.info, inputs ?? {}, this.otherArgs, coords, this.timings);
  }

  async finish(): Promise<{ otherArgsList: unknown[]; workerTimings: Map<number, Timings> }> {
    return { otherArgsList: [this.otherArgs], workerTimings: new Map() };
  }

  async destroy(): Promise<void> {}
}
