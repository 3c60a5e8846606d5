/**
 * Every message of the data channel between the main process and an out-of-process compute
 * worker: one discriminated union, versioned by {@link PROTOCOL_VERSION}.
 *
 * On the wire a message is one frame (see framing.ts): a JSON header holding every field except
 * the binary ones, and raw payloads for the binary ones, in a fixed order per message type
 * (documented on each type). Pixel data is never JSON or base64. `otherArgs` crosses as
 * node:v8 structured-clone bytes, which decode to data only, never to code.
 *
 * Received pixel payloads are Uint8Arrays that own their whole ArrayBuffer (byteOffset 0), so
 * {@link blockFromWire} views them as the block's TypedArray without copying.
 */
import { serialize } from 'node:v8';
import type { TimingsData } from '../../timings.js';
import { Block, assembleBlocks, flattenBlocks, type AnyBlock, type BlockAssociations } from '../../block.js';
import { bytesPerElement, viewAs, type DataType } from '../../dtypes.js';
import { ChannelError, type BlockCoords, type SerializedError } from '../../errors.js';

/** Bumped on any change to a message's fields or payload order. */
export const PROTOCOL_VERSION = 3;

/** Plain JSON data. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * One block of pixels on the wire. Header fields travel in JSON; `data` is one raw payload
 * holding `bytesPerElement(dtype) × bands × rows × cols` bytes, band-major, little-endian.
 */
export interface WireBlock {
  /** Image name as the user function knows it (e.g. "image1"). */
  name: string;
  /** Position in the list when the name stands for a list of images, else null. */
  listIndex: number | null;
  dtype: DataType;
  bands: number;
  rows: number;
  cols: number;
  data: Uint8Array;
}

/** One block of work. Payloads: the `inputs` data in order. */
export interface TaskSpec {
  /** Unique per run; a re-queued block gets a new taskId (and a higher attempt). */
  taskId: number;
  /** How many times this block was handed out before (0 the first time). */
  attempt: number;
  /** The core block (without overlap); `block.index` is the block index. */
  block: BlockCoords;
  /** Overlap in pixels on each side. */
  overlap: number;
  /** Input blocks; empty when the worker reads its own inputs (computeWorkersRead). */
  inputs: WireBlock[];
}

/** An input file the worker opens itself when it reads (computeWorkersRead). */
export interface InputFileRef {
  name: string;
  listIndex: number | null;
  path: string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

// ---------------------------------------------------------------- worker -> main

/** First message after authentication. Sent by ChannelClient itself. No payloads. */
export interface HelloMessage {
  type: 'hello';
  protocolVersion: number;
  riotsVersion: string;
  workerId: number;
  pid: number;
  hostname: string;
}
/** The worker has loaded the user function from `setup` and takes tasks. No payloads. */
export interface ReadyMessage {
  type: 'ready';
}
/** A finished task. Payloads: the `outputs` data in order. */
export interface ResultMessage {
  type: 'result';
  taskId: number;
  blockIndex: number;
  attempt: number;
  outputs: WireBlock[];
  /** Time spent on this task by phase (reading, userfunction, ...). */
  timings: TimingsData;
}
/** The user function (or the worker's own reading) failed on a task. No payloads. */
export interface TaskErrorMessage {
  type: 'taskError';
  taskId: number;
  blockIndex: number;
  attempt: number;
  error: SerializedError;
}
/** The worker cannot work at all (e.g. the bundle failed to load). It closes after sending. No payloads. */
export interface WorkerErrorMessage {
  type: 'workerError';
  error: SerializedError;
}
/** Reply to `shutdown`: the worker's final otherArgs and total timings. Payload 0: otherArgs (v8). */
export interface FinishedMessage {
  type: 'finished';
  otherArgs: unknown;
  timings: TimingsData;
}
/** A line for the main process's log. No payloads. */
export interface LogMessage {
  type: 'log';
  level: LogLevel;
  text: string;
}

// ---------------------------------------------------------------- main -> worker

/**
 * The imports a user-function bundle leaves open (riots itself, npm packages, built-ins): the
 * code writes the n-th as the string `"<marker>:<n>"`; see workers/bundle.ts.
 */
export interface BundleImports {
  /** Random for each bundle: `riots-import-` and 24 hex digits. */
  marker: string;
  /** `riots-self:<module>` for riots' own modules, else the specifier as the user wrote it. */
  specs: string[];
}

/**
 * Everything the worker needs before its first task.
 * Payloads: 0 = the user-function bundle (ES module source, UTF-8), 1 = otherArgs (v8).
 */
export interface SetupMessage {
  type: 'setup';
  /** The bundle's source bytes. The channel never evaluates them; the caller decides. */
  bundle: Uint8Array;
  /** What the bundle's open imports stand for. */
  bundleImports: BundleImports;
  /** Name of the user function among the bundle's exports. */
  exportName: string;
  otherArgs: unknown;
  /** Controls and other settings the worker needs, as plain JSON. */
  settings: JsonObject;
  computeWorkersRead: boolean;
  /** Input files, when the worker reads (computeWorkersRead); else empty. */
  inputFiles: InputFileRef[];
  /** Files placed beside the bundle (defineUserFunction's `files`). Payloads: their bytes, after otherArgs. */
  files: ShippedFile[];
}
/** A file shipped with the bundle: its path relative to the user's module, and its bytes. */
export interface ShippedFile {
  path: string;
  data: Uint8Array;
}
/** One or more tasks in one frame. Payloads: every task's input data, task by task, in order. */
export interface TasksMessage {
  type: 'tasks';
  tasks: TaskSpec[];
}
/** Abandon a task if not started (its result would be discarded anyway). No payloads. */
export interface CancelMessage {
  type: 'cancel';
  taskId: number;
}
/** Finish: send `finished` and close. No payloads. */
export interface ShutdownMessage {
  type: 'shutdown';
  reason: string | null;
}

// ---------------------------------------------------------------- both ways

/** Liveness; sent and consumed by the channel itself. No payloads. */
export interface HeartbeatMessage {
  type: 'heartbeat';
  seq: number;
}

export type WorkerToMain =
  HelloMessage | ReadyMessage | ResultMessage | TaskErrorMessage | WorkerErrorMessage | FinishedMessage | LogMessage | HeartbeatMessage;

export type MainToWorker = SetupMessage | TasksMessage | CancelMessage | ShutdownMessage | HeartbeatMessage;

/** Every message of the protocol. */
export type Message = WorkerToMain | MainToWorker;
export type MessageType = Message['type'];

/** Which way a message travels: the receiver accepts only its own direction. */
export type Direction = 'toMain' | 'toWorker';

export const WORKER_TO_MAIN_TYPES: ReadonlySet<string> = new Set<WorkerToMain['type']>([
  'hello',
  'ready',
  'result',
  'taskError',
  'workerError',
  'finished',
  'log',
  'heartbeat',
]);
export const MAIN_TO_WORKER_TYPES: ReadonlySet<string> = new Set<MainToWorker['type']>(['setup', 'tasks', 'cancel', 'shutdown', 'heartbeat']);

/** A message split into its JSON header and raw payloads, ready for {@link encodeFrame}. */
export interface EncodedMessage {
  header: JsonObject;
  payloads: Uint8Array[];
}

/**
 * Serialise a structured-clone value (otherArgs) with node:v8.
 * @throws {ChannelError} when the value holds something that cannot be cloned (a function, a class instance with private state, ...).
 */
export function encodeStructured(value: unknown, what = 'otherArgs'): Uint8Array {
  try {
    return serialize(value);
  } catch (err) {
    throw new ChannelError(
      `${what} cannot be sent to a worker: ${(err as Error).message}. Use structured-clone data only (plain objects, arrays, numbers, strings, typed arrays, Map, Set, Date).`,
      { cause: err },
    );
  }
}

function blockHeader(b: WireBlock): JsonObject {
  return { name: b.name, listIndex: b.listIndex, dtype: b.dtype, bands: b.bands, rows: b.rows, cols: b.cols };
}

/** Split a message into its JSON header and payloads. Payloads are referenced, not copied. */
export function encodeMessage(msg: Message): EncodedMessage {
  switch (msg.type) {
    case 'result': {
      const { outputs, ...rest } = msg;
      return { header: { ...rest, timings: { ...rest.timings }, outputs: outputs.map(blockHeader) }, payloads: outputs.map((o) => o.data) };
    }
    case 'finished':
      return { header: { type: 'finished', timings: { ...msg.timings } }, payloads: [encodeStructured(msg.otherArgs)] };
    case 'setup': {
      const { bundle, otherArgs, files, ...rest } = msg;
      return {
        header: { ...rest, files: files.map((f) => ({ path: f.path })) } as unknown as JsonObject,
        payloads: [bundle, encodeStructured(otherArgs), ...files.map((f) => f.data)],
      };
    }
    case 'tasks': {
      const payloads: Uint8Array[] = [];
      const tasks = msg.tasks.map((t) => {
        for (const i of t.inputs) payloads.push(i.data);
        return { ...t, inputs: t.inputs.map(blockHeader) };
      });
      return { header: { type: 'tasks', tasks } as unknown as JsonObject, payloads };
    }
    default:
      return { header: msg as unknown as JsonObject, payloads: [] };
  }
}

/** Bytes a block of this shape holds. */
export function blockByteLength(dtype: DataType, bands: number, rows: number, cols: number): number {
  return bytesPerElement(dtype) * bands * rows * cols;
}

/** A Block's pixels as a WireBlock, without copying. */
export function blockToWire(name: string, listIndex: number | null, block: AnyBlock): WireBlock {
  const d = block.data;
  return {
    name,
    listIndex,
    dtype: block.dtype,
    bands: block.bands,
    rows: block.rows,
    cols: block.cols,
    data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength),
  };
}

/**
 * A received WireBlock as a Block. Views the payload without copying when it is aligned for the
 * data type (always so for payloads from {@link FrameParser}); copies otherwise.
 */
export function blockFromWire(w: WireBlock): AnyBlock {
  const n = w.bands * w.rows * w.cols;
  const size = bytesPerElement(w.dtype);
  let bytes = w.data;
  if (bytes.byteOffset % size !== 0) bytes = new Uint8Array(bytes);
  return new Block<DataType>(w.dtype, w.bands, w.rows, w.cols, viewAs(w.dtype, bytes.buffer, bytes.byteOffset, n));
}

/** Block associations as wire blocks (no copy of pixels). */
export function associationsToWire(a: BlockAssociations): WireBlock[] {
  return flattenBlocks(a).map((nb) => blockToWire(nb.name, nb.listIndex, nb.block));
}

/**
 * Wire blocks back as block associations (no copy of aligned pixels).
 * @throws {ProtocolError} when a name comes twice or a list has gaps.
 */
export function wireToAssociations(blocks: readonly WireBlock[]): BlockAssociations {
  return assembleBlocks(blocks.map((w) => ({ name: w.name, listIndex: w.listIndex, block: blockFromWire(w) })));
}
