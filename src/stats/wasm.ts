/**
 * The few pieces riots' WebAssembly kernels (src/stats/binkernel.ts, src/stats/sumkernel.ts) are
 * written with: the binary encoding of a module, the opcodes they use, and compiling a module
 * where this process can (not under `node --jitless`). There is no build step and no .wasm file:
 * each kernel lists its instructions with their text format beside them.
 */

/** Opcodes of WebAssembly 1.0 used by the kernels. */
export const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  void: 0x40,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  f32Load: 0x2a,
  f64Load: 0x2b,
  i32Store: 0x36,
  i32Const: 0x41,
  f32Const: 0x43,
  f64Const: 0x44,
  i32Eqz: 0x45,
  i32GtS: 0x4a,
  i32GeU: 0x4f,
  f64Eq: 0x61,
  f64Lt: 0x63,
  f64Gt: 0x64,
  f64Le: 0x65,
  f64Ge: 0x66,
  i32Add: 0x6a,
  i32And: 0x71,
  i32Or: 0x72,
  i32Shl: 0x74,
  f64Floor: 0x9c,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  f64Div: 0xa3,
  i32TruncF64S: 0xaa,
  f64PromoteF32: 0xbb,
} as const;

/** Value types. */
export const type = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;

/** A fixed-width SIMD instruction: the 0xfd prefix, then its number as LEB128. */
const simdOp = (n: number): number[] => [0xfd, ...leb(n)];

/** SIMD instructions (the fixed-width SIMD proposal, in V8 since Node 16) used by the kernels. */
export const simd = {
  v128Load: simdOp(0x00),
  v128Store: simdOp(0x0b),
  i8x16Shuffle: simdOp(0x0d),
  i32x4Splat: simdOp(0x11),
  f32x4Splat: simdOp(0x13),
  f64x2Splat: simdOp(0x14),
  i32x4ExtractLane: simdOp(0x1b),
  f32x4Eq: simdOp(0x41),
  f32x4Ne: simdOp(0x42),
  f64x2Ne: simdOp(0x48),
  f64x2Lt: simdOp(0x49),
  f64x2Gt: simdOp(0x4a),
  f64x2Le: simdOp(0x4b),
  f64x2Ge: simdOp(0x4c),
  v128And: simdOp(0x4e),
  v128Or: simdOp(0x50),
  v128Bitselect: simdOp(0x52),
  v128AnyTrue: simdOp(0x53),
  f64x2PromoteLowF32x4: simdOp(0x5f),
  f64x2Floor: simdOp(0x75),
  i32x4Shl: simdOp(0xab),
  i32x4Sub: simdOp(0xb1),
  i32x4MinS: simdOp(0xb6),
  i64x2ExtendLowI32x4S: simdOp(0xc7),
  i64x2ExtendHighI32x4S: simdOp(0xc8),
  f32x4Pmin: simdOp(0xea),
  f32x4Pmax: simdOp(0xeb),
  f64x2Add: simdOp(0xf0),
  f64x2Sub: simdOp(0xf1),
  f64x2Mul: simdOp(0xf2),
  f64x2Div: simdOp(0xf3),
  i32x4TruncSatF64x2SZero: simdOp(0xfc),
} as const;

/** Unsigned LEB128. */
export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (the immediate of `i32.const`). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** The little-endian bytes of a float64 or float32 constant. */
export const f64Bytes = (x: number): number[] => [...new Uint8Array(new Float64Array([x]).buffer)];
export const f32Bytes = (x: number): number[] => [...new Uint8Array(new Float32Array([x]).buffer)];

const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const name = (s: string): number[] => [...leb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

/** A function: its parameter and result types, its locals as [count, type] runs, its code (without the final `end`). */
export interface WasmFunction {
  name: string;
  params: number[];
  results: number[];
  locals: [number, number][];
  code: number[];
}

/** A module of one memory of `pages` 64 KiB pages, exported as `mem`, and the functions, exported by name. */
export function moduleBytes(pages: number, fns: WasmFunction[]): Uint8Array {
  const signatures = fns.map((f) => [0x60, ...vec(f.params.map((p) => [p])), ...vec(f.results.map((r) => [r]))].join(','));
  const types = [...new Set(signatures)];
  const bodies = fns.map((f) => {
    const body = [...vec(f.locals.map(([n, t]) => [...leb(n), t])), ...f.code, op.end];
    return [...leb(body.length), ...body];
  });
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // \0asm, version 1
    ...section(1, vec(types.map((t) => t.split(',').map(Number)))), // types: one per distinct signature
    ...section(3, vec(signatures.map((t) => leb(types.indexOf(t))))), // functions: each one's type
    ...section(5, vec([[0x00, ...leb(pages)]])), // memory: `pages`, no maximum
    ...section(7, vec([[...name('mem'), 0x02, 0], ...fns.map((f, i) => [...name(f.name), 0x00, ...leb(i)])])), // exports
    ...section(10, vec(bodies)), // code
  ]);
}

/** The part of the WebAssembly JS API used here (the compiler's libraries here do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

/** Compile a module, or null where this process has no WebAssembly (`node --jitless`) or lacks an instruction it uses. */
export function compileModule(bytes: Uint8Array): object | null {
  try {
    return new (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly.Module(bytes);
  } catch {
    return null;
  }
}

/** A new instance of a compiled module: its exports (`mem` and the functions). */
export function instantiate<E>(module: object): E & { mem: { buffer: ArrayBuffer } } {
  return new (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly.Instance(module).exports as E & { mem: { buffer: ArrayBuffer } };
}
