/**
 * Validation of received messages: one hand-written check per message type. A check looks only
 * at the JSON header and the payload lengths, so a frame can be refused before its payloads are
 * read; it returns a builder that attaches the payloads once they arrive. Checked objects are
 * rebuilt from known fields only. Nothing is evaluated; otherArgs is decoded with v8.deserialize,
 * which yields data only.
 */
import { deserialize } from 'node:v8';
import type { TimingsData } from '../../timings.js';
import { isDataType } from '../../dtypes.js';
import { ProtocolError, type BlockCoords, type ErrorContext, type SerializedError } from '../../errors.js';
import { isShippablePath } from '../../userfunction.js';
import {
  blockByteLength,
  MAIN_TO_WORKER_TYPES,
  WORKER_TO_MAIN_TYPES,
  type Direction,
  type InputFileRef,
  type JsonObject,
  type Message,
  type TaskSpec,
  type WireBlock,
} from './protocol.js';

const I32 = 2 ** 31 - 1;
const MAX_NAME = 1024;
const MAX_PATH = 65536;
const MAX_TIMING_PHASES = 1024;
const MAX_ERROR_DEPTH = 8;

/** Turns the payloads of a checked frame into the message. */
export type MessageBuilder = (payloads: readonly Uint8Array[]) => Message;

type Obj = Record<string, unknown>;

function fail(path: string, what: string): never {
  throw new ProtocolError(`invalid message: ${path} ${what}`);
}
function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object');
  return v as Obj;
}
function arr(v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v)) fail(path, 'must be an array');
  if (v.length > max) fail(path, `has ${v.length} items, more than ${max}`);
  return v;
}
function str(o: Obj, k: string, path: string, max = Infinity): string {
  const v = o[k];
  if (typeof v !== 'string') fail(`${path}.${k}`, 'must be a string');
  if (v.length > max) fail(`${path}.${k}`, `is longer than ${max} characters`);
  return v;
}
function optStr(o: Obj, k: string, path: string): string | undefined {
  return o[k] === undefined ? undefined : str(o, k, path);
}
function int(o: Obj, k: string, path: string, min: number, max: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`${path}.${k}`, `must be an integer in ${min}..${max}`);
  return v;
}
function bool(o: Obj, k: string, path: string): boolean {
  const v = o[k];
  if (typeof v !== 'boolean') fail(`${path}.${k}`, 'must be a boolean');
  return v;
}
function listIndex(o: Obj, path: string): number | null {
  return o.listIndex === null ? null : int(o, 'listIndex', path, 0, I32);
}

function blockCoords(v: unknown, path: string): BlockCoords {
  const o = obj(v, path);
  return {
    index: int(o, 'index', path, 0, Number.MAX_SAFE_INTEGER),
    xoff: int(o, 'xoff', path, 0, I32),
    yoff: int(o, 'yoff', path, 0, I32),
    xsize: int(o, 'xsize', path, 0, I32),
    ysize: int(o, 'ysize', path, 0, I32),
  };
}
function timings(v: unknown, path: string): TimingsData {
  const o = obj(v, path);
  const keys = Object.keys(o);
  if (keys.length > MAX_TIMING_PHASES) fail(path, `has more than ${MAX_TIMING_PHASES} phases`);
  const entries = keys.map((k): [string, { seconds: number; count: number }] => {
    if (k.length > 256) fail(path, 'has a phase name longer than 256 characters');
    const t = obj(o[k], `${path}[${JSON.stringify(k)}]`);
    const seconds = t.seconds;
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) fail(`${path}.${k}.seconds`, 'must be a finite number >= 0');
    return [k, { seconds, count: int(t, 'count', `${path}.${k}`, 0, Number.MAX_SAFE_INTEGER) }];
  });
  return Object.fromEntries(entries);
}

function serializedError(v: unknown, path: string, depth = 0): SerializedError {
  const o = obj(v, path);
  const out: SerializedError = { name: str(o, 'name', path, MAX_NAME), message: str(o, 'message', path) };
  const code = optStr(o, 'code', path);
  if (code !== undefined) out.code = code;
  const stack = optStr(o, 'stack', path);
  if (stack !== undefined) out.stack = stack;
  if (o.context !== undefined) {
    const c = obj(o.context, `${path}.context`);
    const cp = `${path}.context`;
    const ctx: ErrorContext = {};
    if (c.file !== undefined) ctx.file = str(c, 'file', cp, MAX_PATH);
    if (c.imageName !== undefined) ctx.imageName = str(c, 'imageName', cp, MAX_NAME);
    if (c.block !== undefined) ctx.block = blockCoords(c.block, `${cp}.block`);
    if (c.workerId !== undefined) ctx.workerId = int(c, 'workerId', cp, 0, I32);
    if (c.jobId !== undefined) ctx.jobId = str(c, 'jobId', cp, MAX_NAME);
    out.context = ctx;
  }
  if (o.cause !== undefined) {
    if (depth >= MAX_ERROR_DEPTH) fail(`${path}.cause`, `nests deeper than ${MAX_ERROR_DEPTH}`);
    out.cause = serializedError(o.cause, `${path}.cause`, depth + 1);
  }
  return out;
}

/** A block header whose payload (at `lengths[index]`) must hold exactly its pixels. */
function wireBlockHeader(v: unknown, path: string, length: number | undefined): Omit<WireBlock, 'data'> {
  const o = obj(v, path);
  const dtype = o.dtype;
  if (!isDataType(dtype)) fail(`${path}.dtype`, 'must be a riots data type');
  const b = {
    name: str(o, 'name', path, MAX_NAME),
    listIndex: listIndex(o, path),
    dtype: dtype,
    bands: int(o, 'bands', path, 1, 65535),
    rows: int(o, 'rows', path, 0, I32),
    cols: int(o, 'cols', path, 0, I32),
  };
  const want = blockByteLength(b.dtype, b.bands, b.rows, b.cols);
  if (length === undefined) fail(path, 'has no payload');
  if (want !== length) fail(path, `announces ${want} bytes of pixels but its payload holds ${length}`);
  return b;
}

function payloadCount(lengths: readonly number[], n: number, type: string): void {
  if (lengths.length !== n) throw new ProtocolError(`invalid message: ${type} carries ${lengths.length} payloads, expected ${n}`);
}

function structured(p: Uint8Array, what: string): unknown {
  try {
    return deserialize(p);
  } catch (err) {
    throw new ProtocolError(`invalid message: ${what} is not valid structured-clone data`, { cause: err });
  }
}

/**
 * Check a frame's JSON header and payload lengths as a message travelling in `direction`.
 * @returns a builder that attaches the payloads (which must have the checked lengths).
 * @throws {ProtocolError} on any field of the wrong type or range, an unknown or wrong-way type, or payloads that do not match.
 */
export function checkMessage(header: unknown, lengths: readonly number[], direction: Direction): MessageBuilder {
  const h = obj(header, 'header');
  const type = h.type;
  if (typeof type !== 'string') fail('header.type', 'must be a string');
  const allowed = direction === 'toMain' ? WORKER_TO_MAIN_TYPES : MAIN_TO_WORKER_TYPES;
  if (!allowed.has(type))
    throw new ProtocolError(
      `invalid message: type ${JSON.stringify(type.slice(0, 64))} is not accepted ${direction === 'toMain' ? 'by the main process' : 'by a worker'}`,
    );
  const p = type;
  const noPayloads = (m: Message): MessageBuilder => {
    payloadCount(lengths, 0, type);
    return () => m;
  };
  switch (type) {
    case 'hello':
      return noPayloads({
        type,
        protocolVersion: int(h, 'protocolVersion', p, 0, 65535),
        riotsVersion: str(h, 'riotsVersion', p, 256),
        workerId: int(h, 'workerId', p, 0, I32),
        pid: int(h, 'pid', p, 0, I32),
        hostname: str(h, 'hostname', p, MAX_NAME),
      });
    case 'ready':
      return noPayloads({ type });
    case 'heartbeat':
      return noPayloads({ type, seq: int(h, 'seq', p, 0, Number.MAX_SAFE_INTEGER) });
    case 'cancel':
      return noPayloads({ type, taskId: int(h, 'taskId', p, 0, Number.MAX_SAFE_INTEGER) });
    case 'shutdown':
      return noPayloads({ type, reason: h.reason === null ? null : str(h, 'reason', p, MAX_PATH) });
    case 'log': {
      const level = h.level;
      if (level !== 'debug' && level !== 'info' && level !== 'warn' && level !== 'error') fail(`${p}.level`, 'must be debug, info, warn or error');
      return noPayloads({ type, level, text: str(h, 'text', p) });
    }
    case 'taskError':
      return noPayloads({
        type,
        taskId: int(h, 'taskId', p, 0, Number.MAX_SAFE_INTEGER),
        blockIndex: int(h, 'blockIndex', p, 0, Number.MAX_SAFE_INTEGER),
        attempt: int(h, 'attempt', p, 0, I32),
        error: serializedError(h.error, `${p}.error`),
      });
    case 'workerError':
      return noPayloads({ type, error: serializedError(h.error, `${p}.error`) });
    case 'result': {
      const outs = arr(h.outputs, `${p}.outputs`, lengths.length);
      payloadCount(lengths, outs.length, type);
      const outputs = outs.map((o, i) => wireBlockHeader(o, `${p}.outputs[${i}]`, lengths[i]));
      const base = {
        type,
        taskId: int(h, 'taskId', p, 0, Number.MAX_SAFE_INTEGER),
        blockIndex: int(h, 'blockIndex', p, 0, Number.MAX_SAFE_INTEGER),
        attempt: int(h, 'attempt', p, 0, I32),
        timings: timings(h.timings, `${p}.timings`),
      } as const;
      return (payloads) => ({ ...base, outputs: outputs.map((o, i) => ({ ...o, data: payloads[i]! })) });
    }
    case 'finished': {
      payloadCount(lengths, 1, type);
      const t = timings(h.timings, `${p}.timings`);
      return (payloads) => ({ type, otherArgs: structured(payloads[0]!, 'finished.otherArgs'), timings: t });
    }
    case 'setup':
      return checkSetup(h, lengths);
    case 'tasks':
      return checkTasks(h, lengths);
    default:
      throw new ProtocolError(`invalid message: unhandled type ${type}`);
  }
}

/** The setup message: bundle and otherArgs as payloads, the rest in the header. */
function checkSetup(h: Record<string, unknown>, lengths: readonly number[]): MessageBuilder {
  const type = 'setup';
  const p = type;
  const files = arr(h.files, `${p}.files`, 10000).map((f, i): string => {
    const fp = `${p}.files[${i}]`;
    const path = str(obj(f, fp), 'path', fp, MAX_PATH);
    if (!isShippablePath(path)) fail(`${fp}.path`, 'is not a relative path inside the module folder');
    return path;
  });
  payloadCount(lengths, 2 + files.length, type);
  const settings = obj(h.settings, `${p}.settings`) as JsonObject;
  const inputFiles = arr(h.inputFiles, `${p}.inputFiles`, 100000).map((f, i): InputFileRef => {
    const fp = `${p}.inputFiles[${i}]`;
    const o = obj(f, fp);
    return { name: str(o, 'name', fp, MAX_NAME), listIndex: listIndex(o, fp), path: str(o, 'path', fp, MAX_PATH) };
  });
  const exportName = str(h, 'exportName', p, MAX_NAME);
  const computeWorkersRead = bool(h, 'computeWorkersRead', p);
  const bi = obj(h.bundleImports, `${p}.bundleImports`);
  const bundleImports = {
    marker: str(bi, 'marker', `${p}.bundleImports`, MAX_NAME),
    specs: arr(bi.specs, `${p}.bundleImports.specs`, 100000).map((v, i) => {
      if (typeof v !== 'string' || v.length > MAX_PATH) fail(`${p}.bundleImports.specs[${i}]`, 'is not a string of at most 65536 characters');
      return v;
    }),
  };
  return (payloads) => ({
    type,
    bundle: payloads[0]!,
    bundleImports,
    exportName,
    otherArgs: structured(payloads[1]!, 'setup.otherArgs'),
    settings,
    computeWorkersRead,
    inputFiles,
    files: files.map((path, i) => ({ path, data: payloads[2 + i]! })),
  });
}

/** A tasks message: each task's input blocks as payloads, in order. */
function checkTasks(h: Record<string, unknown>, lengths: readonly number[]): MessageBuilder {
  const type = 'tasks';
  const p = type;
  const list = arr(h.tasks, `${p}.tasks`, 65536);
  if (list.length === 0) fail(`${p}.tasks`, 'is empty');
  let next = 0;
  const tasks = list.map((t, i) => {
    const tp = `${p}.tasks[${i}]`;
    const o = obj(t, tp);
    const inputs = arr(o.inputs, `${tp}.inputs`, lengths.length - next).map((b, j) => wireBlockHeader(b, `${tp}.inputs[${j}]`, lengths[next++]));
    const spec: Omit<TaskSpec, 'inputs'> & { inputs: Omit<WireBlock, 'data'>[] } = {
      taskId: int(o, 'taskId', tp, 0, Number.MAX_SAFE_INTEGER),
      attempt: int(o, 'attempt', tp, 0, I32),
      block: blockCoords(o.block, `${tp}.block`),
      overlap: int(o, 'overlap', tp, 0, I32),
      inputs,
    };
    return spec;
  });
  payloadCount(lengths, next, type);
  return (payloads) => {
    let k = 0;
    return { type, tasks: tasks.map((t) => ({ ...t, inputs: t.inputs.map((b) => ({ ...b, data: payloads[k++]! })) })) };
  };
}

/** Check and build a message in one step. @throws {ProtocolError} */
export function decodeMessage(header: unknown, payloads: readonly Uint8Array[], direction: Direction): Message {
  return checkMessage(
    header,
    payloads.map((x) => x.byteLength),
    direction,
  )(payloads);
}
