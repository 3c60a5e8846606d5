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
import { Block, type BlockAssociations } from '../block.js';
import { errorToJSON, type BlockCoords, type SerializedError } from '../errors.js';
import type { AnyTypedArray } from '../dtypes.js';
import { callUserFunction, checkOutputs } from '../applier/compute.js';
import type { WireBlock } from './protocol.js';
import { ReaderInfo, type BlockSource, type InfoContext } from '../applier/readerinfo.js';
import { Timings, type TimingsData } from '../applier/timings.js';
import { loadUserFunction, markComputeWorker, type UserFunctionSpec } from './userfunction.js';

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
  const out: WireArray[] = [];
  const add = (name: string, listIndex: number | null, b: Block): void => {
    let data = b.data as AnyTypedArray;
    const buf = data.buffer;
    const owns = buf instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buf.byteLength && !listed.has(buf);
    if (!owns) data = data.slice();
    listed.add(data.buffer);
    transfer.push(data.buffer as ArrayBuffer);
    out.push({ name, listIndex, dtype: b.dtype, bands: b.bands, rows: b.rows, cols: b.cols, data });
  };
  for (const [name, v] of Object.entries(assoc)) {
    if (Array.isArray(v)) v.forEach((b, i) => add(name, i, b));
    else add(name, null, v);
  }
  return out;
}

/** Rebuild blocks from wire arrays; `onBlock` sees each one (to register its source). */
export function blocksFromWire(wires: WireArray[], onBlock?: (w: WireArray, b: Block) => void): BlockAssociations {
  const out: BlockAssociations = {};
  for (const w of wires) {
    const b = new Block(w.dtype, w.bands, w.rows, w.cols, w.data as never);
    onBlock?.(w, b);
    if (w.listIndex === null) out[w.name] = b;
    else {
      const list = (out[w.name] as Block[] | undefined) ?? [];
      list[w.listIndex] = b;
      out[w.name] = list;
    }
  }
  return out;
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
  const info = new ReaderInfo(d.infoContext);
  const sources = new Map(d.sources.map((s) => [`${s.imageName}\0${s.listIndex}`, s]));
  const otherArgs = d.otherArgs;
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
      const inputs = blocksFromWire(m.inputs, (w, b) => {
        const s = sources.get(`${w.name}\0${w.listIndex}`);
        if (s) info.registerBlock(b, s);
      });
      const outputs = await callUserFunction(fn, info, inputs, otherArgs, m.coords, timings, d.workerId);
      checkOutputs(outputs, d.outRefs, m.coords);
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
