/**
 * CW_NONE: the user function runs in this thread, one block at a time, with the caller's own
 * otherArgs.
 */
import type { BlockAssociations } from '../block.js';
import type { BlockCoords } from '../errors.js';
import type { Timings } from '../timings.js';
import type { UserFunction } from '../userfunction.js';
import { ReaderInfo, type InfoContext } from '../readerinfo.js';
import type { ComputeBackend, DispatchHook } from './backend.js';
import { callUserFunction } from './worker/runblock.js';

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
