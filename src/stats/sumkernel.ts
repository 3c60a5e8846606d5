/**
 * The per-pixel pass of basic statistics for Float32 blocks, in WebAssembly SIMD: four values at
 * a time, where the JavaScript loop of src/stats/basic.ts takes one (0.7 against 1.8–2.3 ns a
 * value, every value of every float output passes here once).
 *
 * The same quantities as that loop, over the values that are neither NaN nor the skip value: their
 * count, Σ(v − shift) and Σ(v − shift)² in float64 (each value widened to float64 before the
 * subtraction, as there), their minimum and maximum (a value replaces the running one only when
 * strictly below or above it, as there). The sums are kept in four lanes (values 4k, 4k+1, 4k+2,
 * 4k+3) and added in a fixed order, so they can differ from the loop's in the last bits, never
 * from one run to another.
 *
 * Values are copied into the module's memory a piece of at most {@link PIECE_BYTES} at a time;
 * the last `length % 4` values of a block go through the JavaScript loop.
 */
import { compileModule, f32Bytes, instantiate, leb, moduleBytes, op, simd, sleb, type } from './wasm.js';

/** Bytes of values summed per call into the module. */
export const PIECE_BYTES = 1 << 20;
/** Where the module leaves its lanes: counts, minima, maxima, Σ of lanes 0–1 and 2–3, Σ² likewise. */
const RESULT_AT = 0;
const DATA_AT = 128;
const PAGES = Math.ceil((DATA_AT + PIECE_BYTES) / 65536);

// parameters, then locals, by index
const PTR = 0,
  N4 = 1,
  SKIP = 2,
  SHIFT = 3,
  END_AT = 4,
  V = 5,
  OK = 6,
  CNT = 7,
  LO = 8,
  HI = 9,
  S1A = 10,
  S1B = 11,
  S2A = 12,
  S2B = 13,
  DA = 14,
  DB = 15,
  SK = 16,
  SH = 17,
  INF = 18,
  NINF = 19;

const { localGet: get, localSet: set } = op;
const memarg = [4, 0]; // 16-byte alignment, offset 0
/** Lanes 2 and 3 of a f32x4 moved to 0 and 1. */
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];

/** sum32(ptr, n4, skip, shift): the n4 groups of four float32 at ptr. */
function sumBody(): number[] {
  const sumInto = (s: number, d: number): number[] => [get, s, get, d, ...simd.f64x2Add, set, s];
  const squareInto = (s: number, d: number): number[] => [get, s, get, d, get, d, ...simd.f64x2Mul, ...simd.f64x2Add, set, s];
  const store = (at: number, local: number): number[] => [op.i32Const, ...sleb(RESULT_AT), get, local, ...simd.v128Store, 4, ...leb(at)];
  return [
    ...[get, PTR, get, N4, op.i32Const, 4, op.i32Shl, op.i32Add, set, END_AT], // end = ptr + n4 * 16
    ...[get, SKIP, ...simd.f32x4Splat, set, SK], // sk = splat(skip)
    ...[get, SHIFT, ...simd.f64x2Splat, set, SH], // sh = splat(shift)
    ...[op.f32Const, ...f32Bytes(Infinity), ...simd.f32x4Splat, set, INF],
    ...[op.f32Const, ...f32Bytes(-Infinity), ...simd.f32x4Splat, set, NINF],
    ...[get, INF, set, LO, get, NINF, set, HI], // lo = +inf, hi = -inf
    ...[op.block, op.void, op.loop, op.void],
    ...[get, PTR, get, END_AT, op.i32GeU, op.brIf, 1], // ptr >= end: done
    ...[get, PTR, ...simd.v128Load, ...memarg, set, V], // v = four values at ptr
    ...[get, PTR, op.i32Const, 16, op.i32Add, set, PTR], // ptr += 16
    ...[get, V, get, V, ...simd.f32x4Eq, get, V, get, SK, ...simd.f32x4Ne, ...simd.v128And, set, OK], // ok = v == v && v != skip
    ...[get, CNT, get, OK, ...simd.i32x4Sub, set, CNT], // cnt -= ok (all ones: −1)
    ...[get, LO, get, V, get, INF, get, OK, ...simd.v128Bitselect, ...simd.f32x4Pmin, set, LO], // lo = pmin(lo, ok ? v : +inf)
    ...[get, HI, get, V, get, NINF, get, OK, ...simd.v128Bitselect, ...simd.f32x4Pmax, set, HI], // hi = pmax(hi, ok ? v : −inf)
    ...[get, V, ...simd.f64x2PromoteLowF32x4, get, SH, ...simd.f64x2Sub], // lanes 0, 1 widened, − shift
    ...[get, OK, ...simd.i64x2ExtendLowI32x4S, ...simd.v128And, set, DA], // zero where not ok
    ...[get, V, get, V, ...simd.i8x16Shuffle, ...HIGH_HALF, ...simd.f64x2PromoteLowF32x4, get, SH, ...simd.f64x2Sub], // lanes 2, 3
    ...[get, OK, ...simd.i64x2ExtendHighI32x4S, ...simd.v128And, set, DB],
    ...sumInto(S1A, DA),
    ...sumInto(S1B, DB),
    ...squareInto(S2A, DA),
    ...squareInto(S2B, DB),
    ...[op.br, 0, op.end, op.end], // next; end loop; end block
    ...store(0, CNT),
    ...store(16, LO),
    ...store(32, HI),
    ...store(48, S1A),
    ...store(64, S1B),
    ...store(80, S2A),
    ...store(96, S2B),
  ];
}

type SumFn = (ptr: number, n4: number, skip: number, shift: number) => void;

let compiled: object | null | undefined;
let kernel: SumKernel | null | undefined;

/** The process's kernel, or null where WebAssembly SIMD cannot run (then the JavaScript loop sums). */
export function sumKernel(): SumKernel | null {
  if (kernel === undefined) {
    compiled ??= compileModule(
      moduleBytes(PAGES, [
        {
          name: 'sum32',
          params: [type.i32, type.i32, type.f32, type.f64],
          results: [],
          locals: [
            [1, type.i32],
            [15, type.v128],
          ],
          code: sumBody(),
        },
      ]),
    );
    kernel = compiled ? new SumKernel(compiled) : null;
  }
  return kernel;
}

export class SumKernel {
  private readonly bytes: Uint8Array;
  private readonly counts: Int32Array;
  private readonly extremes: Float32Array;
  private readonly sums: Float64Array;
  private readonly sum32: SumFn;

  constructor(module: object) {
    const ex = instantiate<{ sum32: SumFn }>(module);
    this.bytes = new Uint8Array(ex.mem.buffer);
    this.counts = new Int32Array(ex.mem.buffer, RESULT_AT, 4);
    this.extremes = new Float32Array(ex.mem.buffer, RESULT_AT + 16, 8);
    this.sums = new Float64Array(ex.mem.buffer, RESULT_AT + 48, 8);
    this.sum32 = ex.sum32;
  }

  /**
   * [count, Σ(v − shift), Σ(v − shift)², min, max] of the first `4 · floor(length / 4)` values
   * of `data` into `out`, skipping NaN and `skip` (NaN: nothing else); min +∞ and max −∞ when none counted.
   */
  sumGroups(data: Float32Array, skip: number, shift: number, out: Float64Array): void {
    const src = new Uint8Array(data.buffer, data.byteOffset, (data.length - (data.length % 4)) * 4);
    let n = 0;
    let s1 = 0;
    let s2 = 0;
    let lo = Infinity;
    let hi = -Infinity;
    const c = this.counts;
    const e = this.extremes;
    const s = this.sums;
    for (let at = 0; at < src.length; at += PIECE_BYTES) {
      const piece = src.subarray(at, at + PIECE_BYTES);
      this.bytes.set(piece, DATA_AT);
      this.sum32(DATA_AT, piece.length >>> 4, skip, shift);
      n += c[0]! + c[1]! + c[2]! + c[3]!;
      for (let k = 0; k < 4; k++) {
        if (e[k]! < lo) lo = e[k]!;
        if (e[4 + k]! > hi) hi = e[4 + k]!;
      }
      s1 += s[0]! + s[1]! + (s[2]! + s[3]!);
      s2 += s[4]! + s[5]! + (s[6]! + s[7]!);
    }
    out[0] = n;
    out[1] = s1;
    out[2] = s2;
    out[3] = lo;
    out[4] = hi;
  }
}
