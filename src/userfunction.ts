/**
 * Referencing the user function from another thread or process.
 *
 * A compute worker cannot receive a function object: it imports the module that defines the
 * function and takes one of its exports. {@link defineUserFunction} tags a function with its
 * module's URL (and, optionally, its export name); a `{ module, name }` object says the same
 * thing without tagging. Both are reduced to a plain {@link UserFunctionSpec}, which is what
 * travels to workers, and {@link resolveUserFunction} finds the function again in the module's
 * namespace on the other side.
 *
 * GDAL-free: compute worker threads import this module.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ControlsError } from './errors.js';
import { checkKnownKeys } from './settings.js';
import type { AnyAssociations, AnyBlock, Block, BlockAssociations } from './block.js';
import type { ReaderInfo } from './readerinfo.js';

/**
 * The user's function: reads `inputs`, sets `outputs`, may keep state in `otherArgs`; may be
 * async. Outputs take blocks of any type, 64-bit ones too; inputs are number blocks unless the
 * function declares them otherwise (`{ i64: Block<'Int64'> }`).
 */
export type UserFunction<I extends AnyAssociations = BlockAssociations, O extends AnyAssociations = AnyAssociations, A = unknown> = (
  info: ReaderInfo,
  inputs: I,
  outputs: O,
  otherArgs: A,
) => void | Promise<void>;

/** Where a user function lives: a module (file: URL or path) and the name of its export. */
export interface UserFunctionRef {
  module: string;
  name: string;
  /** As {@link DefineOptions.files}. */
  files?: string[];
}

/** Plain data that finds a user function again in another thread or process. */
export interface UserFunctionSpec {
  /** file: URL of the module that defines the function. */
  moduleUrl: string;
  /** The export that holds the function, when known. */
  exportName?: string;
  /** For functions made with defineUserFunction: the how-manyth call for this module (from 0). */
  ordinal?: number;
  /** The function's own `name`, for messages. */
  functionName?: string;
  /** Files shipped to process workers beside the bundle: paths relative to the module's folder. */
  files?: string[];
}

/** What defineUserFunction accepts besides the module and the function. */
export interface DefineOptions {
  /** The export that holds the function, when one module exports several. */
  exportName?: string;
  /**
   * Files the function reads relative to its module (`new URL('./lut.json', import.meta.url)`):
   * process workers (CW_SUBPROC, Batch, ECS, SLURM, PBS) run a bundle of the module from a
   * temporary folder, and these are placed beside it at the same relative paths.
   */
  files?: string[];
}

/** A path relative to the module's folder that stays inside it. */
export function isShippablePath(p: string): boolean {
  return typeof p === 'string' && p !== '' && !path.isAbsolute(p) && !p.split(/[\\/]/).some((s) => s === '..') && !p.includes('\0');
}

const TAG = Symbol.for('riots.userFunctionSpec');
const WORKER_FLAG = Symbol.for('riots.computeWorkerId');
const ordinals = new Map<string, number>();

function toModuleUrl(module: string, what: string): string {
  if (typeof module !== 'string' || module === '') throw new ControlsError(`${what}: the module must be a file: URL (import.meta.url) or a path`);
  if (module.startsWith('file:')) return new URL(module).href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) {
    throw new ControlsError(`${what}: module ${module} is not a local file; give import.meta.url or a file path`);
  }
  return pathToFileURL(path.resolve(module)).href;
}

/**
 * Mark `fn` as the user function exported by the module at `moduleUrl`, so that compute workers
 * (CW_THREADS, CW_SUBPROC, ...) can import it. Returns `fn` itself, unchanged apart from a
 * hidden tag; it still runs as a plain function in a sequential run.
 *
 * The result must be exported from that module. The export's name is found in the worker;
 * give `exportName` when one module exports several such functions and you want to be explicit.
 * Give `files` for data the function reads beside its module (`new URL('./lut.json',
 * import.meta.url)`): process workers get them beside the bundle they run.
 *
 * @example
 * ```ts
 * // ndvi.ts
 * import { defineUserFunction } from 'riots';
 * export const ndvi = defineUserFunction(import.meta.url, (info, inputs, outputs) => {
 *   outputs.ndvi = inputs.img.map((v) => v / 2, 'Float32');
 * });
 * ```
 * @throws {ControlsError} when `fn` is not a function or `moduleUrl` is not a local module.
 */
// An unannotated otherArgs is `any`, as in a plain JavaScript function; annotate it for checks.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function defineUserFunction<I extends AnyAssociations = Record<string, Block>, O extends AnyAssociations = Record<string, AnyBlock>, A = any>(
  moduleUrl: string,
  fn: UserFunction<I, O, A>,
  options?: string | DefineOptions,
): UserFunction<I, O, A> {
  if (typeof fn !== 'function') throw new ControlsError('defineUserFunction: the second argument must be the user function');
  const o: DefineOptions = typeof options === 'string' ? { exportName: options } : (options ?? {});
  if (typeof o !== 'object') throw new ControlsError('defineUserFunction: the third argument must be an export name or { exportName, files }');
  checkKnownKeys(o, ['exportName', 'files'], 'defineUserFunction options', 'defineUserFunction()');
  const { exportName, files } = o;
  if (exportName !== undefined && (typeof exportName !== 'string' || exportName === '')) {
    throw new ControlsError('defineUserFunction: exportName must be a non-empty string');
  }
  if (files !== undefined && !(Array.isArray(files) && files.every(isShippablePath))) {
    throw new ControlsError(`defineUserFunction: files must be a list of paths relative to the module's folder, inside it (got ${JSON.stringify(files)})`);
  }
  const url = toModuleUrl(moduleUrl, 'defineUserFunction');
  const existing = (fn as unknown as Record<symbol, UserFunctionSpec | undefined>)[TAG];
  if (existing) {
    if (existing.moduleUrl !== url) {
      throw new ControlsError(`defineUserFunction: this function is already defined for ${existing.moduleUrl}, not ${url}`);
    }
    return fn;
  }
  const ordinal = ordinals.get(url) ?? 0;
  ordinals.set(url, ordinal + 1);
  const spec: UserFunctionSpec = { moduleUrl: url, ordinal };
  if (exportName !== undefined) spec.exportName = exportName;
  if (files !== undefined && files.length > 0) spec.files = [...files];
  if (fn.name) spec.functionName = fn.name;
  Object.defineProperty(fn, TAG, { value: Object.freeze(spec), enumerable: false });
  return fn;
}

/** The spec of a function made with defineUserFunction or of a `{module, name}` object; undefined for a plain function. */
export function userFunctionSpecOf(f: unknown): UserFunctionSpec | undefined {
  if (typeof f === 'function') {
    const s = (f as unknown as Record<symbol, UserFunctionSpec | undefined>)[TAG];
    return s ? { ...s } : undefined;
  }
  if (isUserFunctionRef(f)) {
    const spec: UserFunctionSpec = { moduleUrl: toModuleUrl(f.module, 'userFunction'), exportName: f.name };
    if (f.files !== undefined) {
      if (!(Array.isArray(f.files) && f.files.every(isShippablePath))) {
        throw new ControlsError(`userFunction: files must be a list of paths relative to the module's folder, inside it (got ${JSON.stringify(f.files)})`);
      }
      if (f.files.length > 0) spec.files = [...f.files];
    }
    return spec;
  }
  return undefined;
}

export function isUserFunctionRef(f: unknown): f is UserFunctionRef {
  return typeof f === 'object' && f !== null && typeof (f as UserFunctionRef).module === 'string' && typeof (f as UserFunctionRef).name === 'string';
}

/** How to fix an inline function passed with compute workers, as shown in the error. */
export const INLINE_FUNCTION_FIX =
  'Define the function in a module, export it and tag it with its module URL:\n' +
  '    export const myFunction = defineUserFunction(import.meta.url, (info, inputs, outputs, otherArgs) => { ... });\n' +
  "then pass myFunction to apply() (or pass { module: import.meta.url, name: 'myFunction' } for a plain exported function).";

/**
 * Check the userFunction argument of apply() and return its spec when compute workers are used.
 * @throws {ControlsError} for something that is not a function or reference, for apply() called
 * inside a compute worker, and for an inline function with compute workers (saying how to fix it).
 */
export function checkUserFunctionArg(f: unknown, computeWorkerKind: string | undefined): UserFunctionSpec | undefined {
  if (isComputeWorker()) {
    throw new ControlsError(
      `apply() was called inside compute worker ${String(computeWorkerId())}: the module that defines the user function calls apply() when it is imported. ` +
        'Guard the call with `if (!isComputeWorker()) { await apply(...) }`, or move the user function to a module of its own.',
    );
  }
  if (typeof f !== 'function' && !isUserFunctionRef(f)) {
    throw new ControlsError('apply: userFunction must be a function, a function made with defineUserFunction, or a { module, name } reference');
  }
  if (computeWorkerKind === undefined) return undefined;
  const spec = userFunctionSpecOf(f);
  if (spec) noteCaller(f, spec);
  if (!spec) {
    const name = (f as { name?: string }).name;
    throw new ControlsError(
      `computeWorkerKind ${computeWorkerKind} runs the user function${name ? ` '${name}'` : ''} in other threads or processes, which cannot see a function defined inline. ` +
        INLINE_FUNCTION_FIX,
    );
  }
  return spec;
}

/**
 * Find the user function described by `spec` among a module's exports.
 * @throws {ControlsError} when the module has no such export, or when it is ambiguous.
 */
export function resolveUserFunction(namespace: Record<string, unknown>, spec: UserFunctionSpec): UserFunction {
  const where = spec.moduleUrl;
  if (spec.exportName !== undefined) {
    const v = namespace[spec.exportName];
    if (typeof v !== 'function') {
      throw new ControlsError(
        `module ${where} has no exported function '${spec.exportName}' (${v === undefined ? 'no such export' : `it is ${typeof v}`}); exports: ${Object.keys(namespace).join(', ') || 'none'}`,
      );
    }
    return v as UserFunction;
  }
  const tagged = Object.entries(namespace).filter(([, v]) => typeof v === 'function' && (v as unknown as Record<symbol, unknown>)[TAG] !== undefined) as [
    string,
    UserFunction,
  ][];
  const specOf = (v: UserFunction): UserFunctionSpec => (v as unknown as Record<symbol, UserFunctionSpec>)[TAG] as UserFunctionSpec;
  // the same definition (same module, same call) first; then a sole candidate
  const same = tagged.filter(([, v]) => specOf(v).ordinal === spec.ordinal && specOf(v).moduleUrl === spec.moduleUrl);
  const pick = same.length >= 1 ? same : tagged.length === 1 ? tagged : [];
  const unique = new Set(pick.map(([, v]) => v));
  if (unique.size === 1) return pick[0]![1];
  const byName = spec.functionName ? tagged.filter(([k, v]) => k === spec.functionName || v.name === spec.functionName) : [];
  if (new Set(byName.map(([, v]) => v)).size === 1) return byName[0]![1];
  if (tagged.length === 0) {
    throw new ControlsError(
      `module ${where} does not export the user function${spec.functionName ? ` '${spec.functionName}'` : ''}: export the value returned by defineUserFunction ` +
        `(export const myFunction = defineUserFunction(import.meta.url, ...)), or name the export with { module, name }`,
    );
  }
  throw new ControlsError(
    `module ${where} exports several user functions (${tagged.map(([k]) => k).join(', ')}) and riots cannot tell which one was meant: ` +
      "give its export name, defineUserFunction(import.meta.url, fn, 'exportName')",
  );
}

/** Functions whose module was still running its top-level code when apply() was called. */
const calledDuringEvaluation = new WeakSet<object>();

/**
 * Record whether apply() was called from the top-level code of the function's own module (the
 * one-file layout): that module is still evaluating, and import() of it would wait for ever.
 * V8 shows a module's top-level code as a frame without a function name.
 */
function noteCaller(f: object, spec: UserFunctionSpec): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Infinity;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  let file: string;
  try {
    file = fileURLToPath(spec.moduleUrl);
  } catch {
    return;
  }
  const esc = (t: string): string => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const top = new RegExp(`^\\s*at (?:async )?(?:<anonymous> \\()?(?:${esc(spec.moduleUrl)}|${esc(file)}):\\d+:\\d+\\)?$`, 'm');
  if (top.test(stack)) calledDuringEvaluation.add(f);
  else calledDuringEvaluation.delete(f);
}

/**
 * The name under which the function's module exports it, found in this (the main) thread, or
 * undefined when that cannot be done safely: when apply() was called from the module's own
 * top-level code, importing it would wait for ever; workers then find the function by its spec
 * ({@link resolveUserFunction}).
 */
export async function exportNameInMain(f: unknown): Promise<string | undefined> {
  const spec = userFunctionSpecOf(f);
  if (!spec) return undefined;
  if (spec.exportName !== undefined) return spec.exportName;
  if (typeof f !== 'function' || calledDuringEvaluation.has(f)) return undefined;
  let ns: Record<string, unknown>;
  try {
    ns = (await import(spec.moduleUrl)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  return Object.entries(ns).find(([, v]) => v === f)?.[0];
}

/** Import the user function's module (in this thread) and find the function. */
export async function loadUserFunction(spec: UserFunctionSpec): Promise<UserFunction> {
  let ns: Record<string, unknown>;
  try {
    ns = (await import(spec.moduleUrl)) as Record<string, unknown>;
  } catch (cause) {
    if (cause instanceof ControlsError) throw cause;
    throw new ControlsError(`importing the user function's module ${spec.moduleUrl} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
  return resolveUserFunction(ns, spec);
}

/** True when TypeScript needs a loader to import this module. */
export function isTypeScriptModule(moduleUrl: string): boolean {
  return /\.(?:ts|mts|cts|tsx)$/i.test(new URL(moduleUrl).pathname);
}

/** Mark this thread or process as compute worker `id` (called by worker entry points before importing user code). */
export function markComputeWorker(id: number): void {
  (globalThis as Record<symbol, unknown>)[WORKER_FLAG] = id;
}

/**
 * True inside a riots compute worker (thread or process). A module that both defines the user
 * function and calls apply() must guard the call with it, since workers import that module.
 *
 * @example
 * ```ts
 * export const double = defineUserFunction(import.meta.url, (info, inputs, outputs) => { ... });
 * if (!isComputeWorker()) await apply(double, { a: 'a.tif' }, { b: 'b.tif' }, { controls });
 * ```
 */
export function isComputeWorker(): boolean {
  return computeWorkerId() !== undefined;
}

/** The id of this compute worker, or undefined outside workers. */
export function computeWorkerId(): number | undefined {
  const v = (globalThis as Record<symbol, unknown>)[WORKER_FLAG];
  return typeof v === 'number' ? v : undefined;
}
