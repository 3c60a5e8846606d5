/**
 * otherArgs with compute workers: every worker gets its own structured clone, so otherArgs must
 * hold only what survives structured cloning. Anything else is found before a worker starts,
 * with the path to the offending value.
 *
 * GDAL-free.
 */
import { ControlsError } from './errors.js';

/** Prototypes that structured clone keeps (or turns into themselves faithfully). */
const CLONEABLE_PROTOTYPES = new Set<object | null>([
  null,
  Object.prototype,
  Array.prototype,
  Date.prototype,
  RegExp.prototype,
  Map.prototype,
  Set.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  Boolean.prototype,
  Number.prototype,
  String.prototype,
  BigInt.prototype,
  Error.prototype,
  EvalError.prototype,
  RangeError.prototype,
  ReferenceError.prototype,
  SyntaxError.prototype,
  TypeError.prototype,
  URIError.prototype,
  ...(typeof SharedArrayBuffer === 'function' ? [SharedArrayBuffer.prototype] : []),
  ...[
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  ].map((C) => C.prototype),
]);

function key(p: string, k: string | number): string {
  return typeof k === 'number' ? `${p}[${k}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? `${p}.${k}` : `${p}[${JSON.stringify(k)}]`;
}

/** Path and reason of the first value in `v` that structured clone would refuse or damage, or undefined. */
export function findUncloneable(v: unknown, p = 'otherArgs', seen = new Set<object>()): { path: string; reason: string } | undefined {
  if (typeof v === 'function') return { path: p, reason: `it is a function${v.name ? ` (${v.name})` : ''}` };
  if (typeof v === 'symbol') return { path: p, reason: 'it is a symbol' };
  if (typeof v !== 'object' || v === null) return undefined;
  if (seen.has(v)) return undefined;
  seen.add(v);
  const proto = Object.getPrototypeOf(v) as object | null;
  if (!CLONEABLE_PROTOTYPES.has(proto)) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'an object with a custom prototype';
    if (v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet) return { path: p, reason: `it is a ${name}, which cannot be copied` };
    if (hasBehaviour(proto)) {
      return {
        path: p,
        reason: `it is an instance of class ${name}, whose methods would not survive the copy (pass plain data and rebuild it in the user function)`,
      };
    }
  }
  if (v instanceof Map) {
    let i = 0;
    for (const [k, val] of v) {
      const vp = typeof k === 'string' || typeof k === 'number' ? `${p}.get(${JSON.stringify(k)})` : `${p}<value ${i}>`;
      const r = findUncloneable(k, `${p}<key ${i}>`, seen) ?? findUncloneable(val, vp, seen);
      if (r) return r;
      i++;
    }
    return undefined;
  }
  if (v instanceof Set) {
    let i = 0;
    for (const val of v) {
      const r = findUncloneable(val, `${p}<item ${i++}>`, seen);
      if (r) return r;
    }
    return undefined;
  }
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return undefined;
  for (const k of Object.keys(v)) {
    const r = findUncloneable((v as Record<string, unknown>)[k], key(p, Array.isArray(v) && /^\d+$/.test(k) ? Number(k) : k), seen);
    if (r) return r;
  }
  for (const s of Object.getOwnPropertySymbols(v)) {
    if (Object.prototype.propertyIsEnumerable.call(v, s)) return { path: `${p}[${String(s)}]`, reason: 'symbol-keyed properties are dropped by the copy' };
  }
  return undefined;
}

/** A prototype chain (below Object.prototype) with methods or accessors. */
function hasBehaviour(proto: object | null): boolean {
  for (let o = proto; o && !CLONEABLE_PROTOTYPES.has(o); o = Object.getPrototypeOf(o) as object | null) {
    for (const k of Reflect.ownKeys(o)) if (k !== 'constructor') return true;
  }
  return false;
}

/**
 * Check that otherArgs can be copied to compute workers.
 * @throws {ControlsError} naming the path of the first value that cannot be copied.
 */
export function checkOtherArgs(otherArgs: unknown): void {
  const bad = findUncloneable(otherArgs);
  if (bad) {
    throw new ControlsError(
      `${bad.path} cannot be sent to compute workers: ${bad.reason}. otherArgs must hold structured-clone data (plain objects, arrays, numbers, strings, typed arrays, Map, Set, Date, ...)`,
    );
  }
  try {
    structuredClone(otherArgs);
  } catch (cause) {
    throw new ControlsError(`otherArgs cannot be sent to compute workers: ${(cause as Error).message}`, { cause });
  }
}

/** One independent copy of otherArgs per worker; the caller's object is never shared. */
export function cloneOtherArgs<A>(otherArgs: A): A {
  return structuredClone(otherArgs);
}
