/**
 * The CW_THREADS worker: runs in a worker_threads thread, imports the user function's module,
 * rebuilds each block's inputs and ReaderInfo from plain data, calls the user function with its
 * own copy of otherArgs and sends the outputs back, transferring every buffer.
 *
 * This module (and everything it imports) never loads gdal-async: GDAL stays in the main thread.
 * It also exports the wire helpers and message types that src/workers/threads.ts uses; its
 * worker code runs only inside a riots worker thread.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Block, assembleBlocks, flattenBlocks, type BlockAssociations } from '../../block.js';
import { errorToJSON, type BlockCoords, type SerializedError } from '../../errors.js';
import type { AnyTypedArray, DataType } from '../../dtypes.js';
import { runBlock, sourceKey, type BlockRunner } from './runblock.js';
import type { WireBlock } from '../channel/protocol.js';
import { ReaderInfo, type BlockSource, type InfoContext } from '../../readerinfo.js';
import { Timings, type TimingsData } from '../../timings.js';
import { loadUserFunction, markComputeWorker, type UserFunctionSpec } from '../../userfunction.js';

/** One block of one image on its way to or from a worker thread: the channel's WireBlock, with its typed array moved by transfer. */
export type WireArray = Omit<WireBlock, 'data'> & { data: AnyTypedArray };

/** What each worker thread is started with (structured-cloned per worker). */
export interface ThreadWorkerData {
  riotsThreadWorker: true;
  workerId: number;
  spec: UserFunctionSpec;
  otherArgs: unknown;
  infoContext: InfoContext;
  /** Where every input block comes from, for getFilenameFor / getNoDataValueFor. */
  sources: BlockSource[];
  /** Output names (and list positions) the user function must set. */
  outRefs: { name: string; listIndex: number | null; path: string }[];
}

export type MainToThread = { type: 'task'; taskId: number; coords: BlockCoords; inputs: WireArray[] } | { type: 'finish' };

export type ThreadToMain =
  | { type: 'ready' }
  | { type: 'startupError'; error: SerializedError }
  | { type: 'result'; taskId: number; outputs: WireArray[] }
  | { type: 'taskError'; taskId: number; error: SerializedError }
  | { type: 'finished'; otherArgs: unknown; timings: TimingsData }
  | { type: 'finishError'; error: SerializedError };

/**
 * Flatten blocks for postMessage, adding their buffers to `transfer`. A buffer is transferred
 * as it is when the array owns all of it; a view into a larger or already-listed buffer is
 * copied first (transferring it would detach memory that is not this block's).
 */
export function blocksToWire(assoc: BlockAssociations, transfer: ArrayBuffer[]): WireArray[] {
  const listed = new Set<ArrayBufferLike>(transfer);
  return flattenBlocks(assoc).map(({ name, listIndex, block: b }) => {
    let data = b.data as AnyTypedArray;
    const buf = data.buffer;
    const owns = buf instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buf.byteLength && !listed.has(buf);
    if (!owns) data = data.slice();
    listed.add(data.buffer);
    transfer.push(data.buffer as ArrayBuffer);
    return { name, listIndex, dtype: b.dtype, bands: b.bands, rows: b.rows, cols: b.cols, data };
  });
}

/**
 * Rebuild blocks from wire arrays.
 * @throws {ProtocolError} when a name comes twice or a list has gaps.
 */
export function blocksFromWire(wires: readonly WireArray[]): BlockAssociations {
  return assembleBlocks(
    wires.map((w) => ({ name: w.name, listIndex: w.listIndex, block: new Block<DataType>(w.dtype, w.bands, w.rows, w.cols, w.data as never) })),
  );
}

async function runWorker(d: ThreadWorkerData): Promise<void> {
  const port = parentPort!;
  const post = (m: ThreadToMain, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  markComputeWorker(d.workerId);
  let fn;
  try {
    fn = await loadUserFunction(d.spec);
  } catch (e) {
    post({ type: 'startupError', error: errorToJSON(e) });
    return;
  }
  const timings = new Timings();
  const otherArgs = d.otherArgs;
  const runner: BlockRunner = {
    fn,
    info: new ReaderInfo(d.infoContext),
    otherArgs,
    outRefs: d.outRefs,
    sources: new Map(d.sources.map((s) => [sourceKey(s.imageName, s.listIndex), s])),
    workerId: d.workerId,
  };
  let chain: Promise<void> = Promise.resolve();
  // idle time between blocks, so the report shows a starved worker
  let idleSince = performance.now();
  const handle = async (m: MainToThread): Promise<void> => {
    if (m.type === 'finish') {
      try {
        post({ type: 'finished', otherArgs, timings: timings.toJSON() });
      } catch (e) {
        post({ type: 'finishError', error: errorToJSON(e) });
      }
      return;
    }
    timings.add('wait:tasks', (performance.now() - idleSince) / 1000);
    try {
      const outputs = await runBlock(runner, m.coords, blocksFromWire(m.inputs), timings);
      const transfer: ArrayBuffer[] = [];
      const wires = blocksToWire(outputs, transfer);
      post({ type: 'result', taskId: m.taskId, outputs: wires }, transfer);
    } catch (e) {
      const err = errorToJSON(e);
      err.context = { ...(err.context ?? {}), workerId: d.workerId, block: m.coords };
      post({ type: 'taskError', taskId: m.taskId, error: err });
    } finally {
      idleSince = performance.now();
    }
  };
  port.on('message', (m: MainToThread) => {
    chain = chain.then(() => handle(m));
  });
  post({ type: 'ready' });
}

const data = workerData as Partial<ThreadWorkerData> | null;
if (!isMainThread && data?.riotsThreadWorker === true && parentPort) void runWorker(data as ThreadWorkerData);
