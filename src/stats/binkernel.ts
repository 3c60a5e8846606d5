/**
 * The linear-histogram binning loop of {@link LayoutBinner} in WebAssembly, for float data.
 *
 * A float output's histogram is binned once its minimum and maximum are known, after its last
 * block: every value again, on the main thread, while nothing else is left to do (W1: 36 million
 * values, 0.15–0.25 s of a 2.6 s run in JavaScript at 4–6 ns a value). The same arithmetic in
 * WebAssembly runs at 2.7–3.8 ns a value, and for Float32 data, two lanes of float64 at a time
 * (SIMD, four values a step), at about 2 ns.
 *
 * Exactly the same bins as the JavaScript loop: a value v (Float32 widened to double) counts
 * unless it equals the ignore value, is NaN or lies outside [histMin, histMax]; its bin is
 * floor((v − histMin) / width), the last bin for anything above. The division is replaced by a
 * multiplication with 1 / width, whose result differs from the division's by less than
 * numBins · 2⁻⁵² (two roundings of a quotient at most numBins); where that result lies within
 * 10⁻⁹ of a whole number, the bin is taken from the division itself, so a bin never differs.
 *
 * The module is built here from its instructions (there is no build step for it); the text
 * format of each instruction is written beside it. Counts are 32-bit in the module's memory,
 * folded into the caller's float64 counts after each piece of at most {@link PIECE_BYTES}, so
 * they cannot overflow.
 */
import { compileModule, f64Bytes, instantiate, moduleBytes, op, simd, type } from './wasm.js';

/** Bytes of values binned per call into the module (copied into its memory first). */
export const PIECE_BYTES = 1 << 20;
/** Most bins the module counts (its counts take the first 64 KiB page; values outside the bins count in one more slot). */
export const MAX_KERNEL_BINS = 16384;
const DATA_AT = 65536 + 64;
const PAGES = Math.ceil((DATA_AT + PIECE_BYTES) / 65536);

// parameters, then locals, by index
const PTR = 0,
  N = 1,
  LO = 2,
  HI = 3,
  W = 4,
  INV = 5,
  LAST = 6,
  SKIP = 7,
  END_AT = 8,
  V = 9,
  D = 10,
  T = 11,
  TF = 12,
  F = 13,
  B = 14;

/** bin(ptr, n, lo, hi, width, 1/width, last, skip): count n values of `bytes` bytes at ptr. */
function binBody(bytes: 4 | 8): number[] {
  const { localGet: get, localSet: set } = op;
  const load = bytes === 4 ? [op.f32Load, 2, 0, op.f64PromoteF32] : [op.f64Load, 3, 0];
  return [
    ...[get, PTR, get, N, op.i32Const, bytes === 4 ? 2 : 3, op.i32Shl, op.i32Add, set, END_AT], // end = ptr + n * bytes
    ...[op.block, op.void, op.loop, op.void],
    ...[get, PTR, get, END_AT, op.i32GeU, op.brIf, 1], // ptr >= end: done
    ...[get, PTR, ...load, set, V], // v = value at ptr
    ...[get, PTR, op.i32Const, bytes, op.i32Add, set, PTR], // ptr += bytes
    ...[get, V, get, SKIP, op.f64Eq, op.brIf, 0], // v == skip: next
    ...[get, V, get, LO, op.f64Ge, get, V, get, HI, op.f64Le, op.i32And, op.i32Eqz, op.brIf, 0], // !(lo <= v <= hi), NaN too: next
    ...[get, V, get, LO, op.f64Sub, set, D], // d = v - lo
    ...[get, D, get, INV, op.f64Mul, set, T], // t = d * (1/w)
    ...[get, T, op.f64Floor, set, TF], // tf = floor(t)
    ...[get, T, get, TF, op.f64Sub, set, F], // f = t - tf
    ...[get, F, op.f64Const, ...f64Bytes(1e-9), op.f64Lt, get, F, op.f64Const, ...f64Bytes(1 - 1e-9), op.f64Gt, op.i32Or], // near a whole number?
    ...[op.if, op.void, get, D, get, W, op.f64Div, op.f64Floor, set, TF, op.end], // then tf = floor(d / w)
    ...[get, TF, op.i32TruncF64S, set, B], // b = tf
    ...[get, B, get, LAST, op.i32GtS, op.if, op.void, get, LAST, set, B, op.end], // b = min(b, last)
    ...[get, B, op.i32Const, 2, op.i32Shl, op.localTee, B], // address of counts[b]
    ...[get, B, op.i32Load, 2, 0, op.i32Const, 1, op.i32Add, op.i32Store, 2, 0], // counts[b] += 1
    ...[op.br, 0, op.end, op.end], // next; end loop; end block
  ];
}

// binF32x4's locals after the parameters (N counts groups of four there)
const A = 9,
  VV = 10,
  H = 11,
  OK = 12,
  DD = 13,
  TT = 14,
  TTF = 15,
  NEAR = 16,
  BL = 17,
  OKL = 18,
  BV = 19,
  LO2 = 20,
  HI2 = 21,
  W2 = 22,
  INV2 = 23,
  SKIP2 = 24,
  EPS = 25,
  EPS1 = 26,
  LAST4 = 27,
  DUMP4 = 28;

/**
 * binF32x4(ptr, n4, lo, hi, width, 1/width, last, skip): the n4 groups of four float32 at ptr, the
 * arithmetic of {@link binBody} two lanes of float64 at a time. A value that does not count goes to
 * the slot after the last bin (`last + 1`), which is never read.
 */
function binF32x4Body(): number[] {
  const { localGet: get, localSet: set } = op;
  const splat64 = (from: number, to: number): number[] => [get, from, ...simd.f64x2Splat, set, to];
  /** ok, d, t, tf and near of the two lanes in H, as binBody computes them for one value. */
  const half = (): number[] => [
    ...[get, H, get, SKIP2, ...simd.f64x2Ne, get, H, get, LO2, ...simd.f64x2Ge, get, H, get, HI2, ...simd.f64x2Le], // h != skip, h >= lo, h <= hi
    ...[...simd.v128And, ...simd.v128And, set, OK], // ok: all three (NaN: none)
    ...[get, H, get, LO2, ...simd.f64x2Sub, set, DD], // d = h - lo
    ...[get, DD, get, INV2, ...simd.f64x2Mul, set, TT], // t = d * (1/w)
    ...[get, TT, ...simd.f64x2Floor, set, TTF], // tf = floor(t)
    ...[get, TT, get, TTF, ...simd.f64x2Sub, get, EPS, ...simd.f64x2Lt], // t - tf < 1e-9
    ...[get, TT, get, TTF, ...simd.f64x2Sub, get, EPS1, ...simd.f64x2Gt, ...simd.v128Or, set, NEAR], // or > 1 - 1e-9: near
    ...[get, NEAR, ...simd.v128AnyTrue, op.if, op.void], // if any lane is near a whole number
    ...[get, DD, get, W2, ...simd.f64x2Div, ...simd.f64x2Floor, get, TTF, get, NEAR, ...simd.v128Bitselect, set, TTF, op.end], // tf = near ? floor(d / w) : tf
  ];
  const count = (lane: number): number[] => [
    ...[get, BV, ...simd.i32x4ExtractLane, lane, set, A], // a = address of lane's bin
    ...[get, A, get, A, op.i32Load, 2, 0, op.i32Const, 1, op.i32Add, op.i32Store, 2, 0], // counts[a] += 1
  ];
  return [
    ...[get, PTR, get, N, op.i32Const, 4, op.i32Shl, op.i32Add, set, END_AT], // end = ptr + n4 * 16
    ...splat64(LO, LO2),
    ...splat64(HI, HI2),
    ...splat64(W, W2),
    ...splat64(INV, INV2),
    ...splat64(SKIP, SKIP2),
    ...[op.f64Const, ...f64Bytes(1e-9), ...simd.f64x2Splat, set, EPS],
    ...[op.f64Const, ...f64Bytes(1 - 1e-9), ...simd.f64x2Splat, set, EPS1],
    ...[get, LAST, ...simd.i32x4Splat, set, LAST4],
    ...[get, LAST, op.i32Const, 1, op.i32Add, ...simd.i32x4Splat, set, DUMP4], // the slot after the last bin
    ...[op.block, op.void, op.loop, op.void],
    ...[get, PTR, get, END_AT, op.i32GeU, op.brIf, 1], // ptr >= end: done
    ...[get, PTR, ...simd.v128Load, 4, 0, set, VV], // v = four values at ptr
    ...[get, PTR, op.i32Const, 16, op.i32Add, set, PTR], // ptr += 16
    ...[get, VV, ...simd.f64x2PromoteLowF32x4, set, H], // lanes 0, 1 as float64
    ...half(),
    ...[get, TTF, ...simd.i32x4TruncSatF64x2SZero, set, BL, get, OK, set, OKL], // their bins and ok
    ...[get, VV, get, VV, ...simd.i8x16Shuffle, ...[8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]],
    ...[...simd.f64x2PromoteLowF32x4, set, H], // lanes 2, 3 as float64
    ...half(),
    ...[get, BL, get, TTF, ...simd.i32x4TruncSatF64x2SZero, ...simd.i8x16Shuffle, ...[0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23], set, BV], // four bins
    ...[get, OKL, get, OK, ...simd.i8x16Shuffle, ...[0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27], set, OK], // four oks
    ...[get, BV, get, LAST4, ...simd.i32x4MinS, get, DUMP4, get, OK, ...simd.v128Bitselect], // min(b, last), or the slot after where not ok
    ...[op.i32Const, 2, ...simd.i32x4Shl, set, BV], // byte addresses
    ...count(0),
    ...count(1),
    ...count(2),
    ...count(3),
    ...[op.br, 0, op.end, op.end], // next; end loop; end block
  ];
}

const BIN_PARAMS = [type.i32, type.i32, type.f64, type.f64, type.f64, type.f64, type.i32, type.f64];
const BIN_LOCALS: [number, number][] = [
  [1, type.i32],
  [5, type.f64],
  [1, type.i32],
];

function kernelBytes(): Uint8Array {
  return moduleBytes(PAGES, [
    { name: 'binF32', params: BIN_PARAMS, results: [], locals: BIN_LOCALS, code: binBody(4) },
    { name: 'binF64', params: BIN_PARAMS, results: [], locals: BIN_LOCALS, code: binBody(8) },
    {
      name: 'binF32x4',
      params: BIN_PARAMS,
      results: [],
      locals: [
        [2, type.i32],
        [19, type.v128],
      ],
      code: binF32x4Body(),
    },
  ]);
}

type BinFn = (ptr: number, n: number, lo: number, hi: number, w: number, inv: number, last: number, skip: number) => void;
interface BinExports {
  binF32: BinFn;
  binF64: BinFn;
  binF32x4: BinFn;
}

let compiled: object | null | undefined;

/** The compiled module, or null where there is no WebAssembly (node --jitless): the JavaScript loop bins. */
function kernelModule(): object | null {
  if (compiled === undefined) compiled = compileModule(kernelBytes());
  return compiled;
}

/** One instance of the module: bins float values into the caller's counts. */
export class BinKernel {
  private readonly bytes: Uint8Array;
  private readonly counts32: Int32Array;
  private readonly fns: { f32: BinFn; f64: BinFn; f32x4: BinFn };

  private constructor(
    ex: BinExports & { mem: { buffer: ArrayBuffer } },
    private readonly lo: number,
    private readonly hi: number,
    private readonly w: number,
    private readonly numBins: number,
    private readonly skip: number,
  ) {
    this.bytes = new Uint8Array(ex.mem.buffer);
    this.counts32 = new Int32Array(ex.mem.buffer, 0, numBins);
    this.fns = { f32: ex.binF32, f64: ex.binF64, f32x4: ex.binF32x4 };
  }

  /**
   * A kernel for linear bins of `width` from `lo` to `hi` (numBins of them), skipping `skip`
   * (NaN: nothing); null where the JavaScript loop must bin (no WebAssembly, a zero, infinite or
   * subnormal width, an infinite bound, more than {@link MAX_KERNEL_BINS} bins).
   */
  static create(lo: number, hi: number, width: number, numBins: number, skip: number): BinKernel | null {
    const ok = Number.isFinite(lo) && Number.isFinite(hi) && width > 0 && Number.isFinite(1 / width) && numBins >= 1 && numBins <= MAX_KERNEL_BINS;
    const mod = ok ? kernelModule() : null;
    if (!mod) return null;
    return new BinKernel(instantiate<BinExports>(mod), lo, hi, width, numBins, skip);
  }

  /** Add the bins of `data` to `counts` (numBins long). */
  add(data: Float32Array | Float64Array, counts: Float64Array): void {
    const f32 = data instanceof Float32Array;
    const src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const step = data.BYTES_PER_ELEMENT;
    const { lo, hi, w, skip } = this;
    const inv = 1 / w;
    const last = this.numBins - 1;
    for (let at = 0; at < src.length; at += PIECE_BYTES) {
      const piece = src.subarray(at, at + PIECE_BYTES);
      this.bytes.set(piece, DATA_AT);
      const n = piece.length / step;
      if (f32) {
        const groups = n >>> 2;
        this.fns.f32x4(DATA_AT, groups, lo, hi, w, inv, last, skip);
        this.fns.f32(DATA_AT + groups * 16, n & 3, lo, hi, w, inv, last, skip);
      } else this.fns.f64(DATA_AT, n, lo, hi, w, inv, last, skip);
      const c32 = this.counts32;
      for (let b = 0; b < c32.length; b++) counts[b]! += c32[b]!;
      c32.fill(0);
    }
  }
}
