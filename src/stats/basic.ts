/**
 * Basic statistics (min, max, mean, population stddev) accumulated block by block.
 *
 * Each block is summarised in float64 (its count, min, max, mean, and the sum of squared
 * deviations from its mean, exact to ~1e-10 relative or better, see `add`), and block summaries
 * are combined with Chan's parallel formula. This keeps the result within rounding of a one-shot float64 computation
 * whatever the number of pixels, and lets blocks arrive in any order.
 */
import { asNumbers, isIntegerType, typeRange, type AnyTypedArray, type DataType, type NumberTypedArray } from '../dtypes.js';
import { sumKernel, type SumKernel } from './sumkernel.js';

export interface BasicStats {
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation (divides by n), as GDAL computes it. */
  stddev: number;
  /** Pixels counted (not nodata, not NaN). */
  count: number;
  /** All pixels seen, nodata included. */
  total: number;
}

/**
 * The value to skip, as it compares against the stored pixels: null when nothing is to be
 * skipped (no nodata, or a nodata value the data type cannot hold), rounded to float32 for
 * Float32 data. NaN pixels of float data are always skipped, whatever the nodata value.
 */
export function effectiveNodata(dtype: DataType, nodata: number | null): number | null {
  if (nodata === null || Number.isNaN(nodata)) return null;
  if (isIntegerType(dtype)) {
    const [lo, hi] = typeRange(dtype);
    return Number.isInteger(nodata) && nodata >= lo && nodata <= hi ? nodata : null;
  }
  return dtype === 'Float32' ? Math.fround(nodata) : nodata;
}

/**
 * The per-pixel pass of {@link BasicStatsAccumulator.add}, alone in a small function so that the
 * optimizing compiler sees only the loop: inlined in `add`, the code around it (taken once per
 * accumulator, or never) sent the optimized loop back to the interpreter on every block once a
 * process had a second accumulator (measured: 7.4 against 1.6 ns a pixel).
 * `out` gets [count, Σ(v − shift), Σ(v − shift)², min, max] over the pixels not skipped.
 */
function sumBlock(data: NumberTypedArray, skip: number, shift: number, out: Float64Array): void {
  let n = 0;
  let s1 = 0;
  let s2 = 0;
  let lo = Infinity;
  let hi = -Infinity;
  const len = data.length;
  for (let i = 0; i < len; i++) {
    const v = data[i]!;
    // v !== v is true for NaN only.
    if (v === skip || v !== v) continue;
    n++;
    const d = v - shift;
    s1 += d;
    s2 += d * d;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  out[0] = n;
  out[1] = s1;
  out[2] = s2;
  out[3] = lo;
  out[4] = hi;
}

/** {@link sumBlock} for Float32 data, four values at a time in WebAssembly, the last `length % 4` here. */
function sumFloat32(kernel: SumKernel, data: Float32Array, skip: number, shift: number, out: Float64Array, tail: Float64Array): void {
  kernel.sumGroups(data, skip, shift, out);
  const rest = data.length & 3;
  if (rest === 0) return;
  sumBlock(data.subarray(data.length - rest), skip, shift, tail);
  out[0]! += tail[0]!;
  out[1]! += tail[1]!;
  out[2]! += tail[2]!;
  if (tail[3]! < out[3]!) out[3] = tail[3]!;
  if (tail[4]! > out[4]!) out[4] = tail[4]!;
}

export class BasicStatsAccumulator {
  private n = 0;
  private mean = 0;
  private m2 = 0;
  private lo = Infinity;
  private hi = -Infinity;
  private seen = 0;
  /** Skip value as compared with pixels; NaN when there is none (NaN !== anything). */
  private readonly skip: number;

  /** {@link sumBlock}'s results for the block being added. */
  private readonly sums = new Float64Array(5);
  private readonly tail = new Float64Array(5);
  /** The WebAssembly pass for Float32 blocks, where this process can run it. */
  private readonly kernel: SumKernel | null;

  constructor(dtype: DataType, nodata: number | null) {
    const nd = effectiveNodata(dtype, nodata);
    this.skip = nd === null ? NaN : nd;
    this.kernel = dtype === 'Float32' ? sumKernel() : null;
  }

  /**
   * Add the pixels of one block (any length, any order of blocks). One pass sums deviations
   * from a shift (the mean so far, or the block's first value); when that shift is far from the
   * block's values compared with their spread, a second, exact pass around the block mean is made.
   */
  add(raw: AnyTypedArray): void {
    const data = asNumbers(raw);
    const len = data.length;
    this.seen += len;
    const skip = this.skip;
    let shift = this.mean;
    if (this.n === 0) {
      let i = 0;
      while (i < len && (data[i] === skip || data[i] !== data[i])) i++;
      if (i === len) return;
      shift = data[i]!;
    }
    const out = this.sums;
    if (this.kernel && data instanceof Float32Array) sumFloat32(this.kernel, data, skip, shift, out, this.tail);
    else sumBlock(data, skip, shift, out);
    const n = out[0]!;
    const s1 = out[1]!;
    const s2 = out[2]!;
    // + 0: a zero minimum or maximum is +0, whichever zero came first (the kernel's lanes see them in another order).
    const lo = out[3]! + 0;
    const hi = out[4]! + 0;
    if (n === 0) return;
    const bmean = shift + s1 / n;
    let m2 = s2 - (s1 * s1) / n;
    // Cancellation loses about log10(s2 / m2) digits: keep at least ~10 of float64's ~16.
    if (!(m2 > 0 && s2 <= 1e6 * m2)) m2 = this.exactM2(data, bmean);
    this.combine(n, bmean, m2, lo, hi);
  }

  private exactM2(data: NumberTypedArray, mean: number): number {
    const skip = this.skip;
    let m2 = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v === skip || v !== v) continue;
      const d = v - mean;
      m2 += d * d;
    }
    return m2;
  }

  /** Fold in another accumulator's totals (e.g. from another worker). */
  merge(other: BasicStatsAccumulator): void {
    this.seen += other.seen;
    if (other.n > 0) this.combine(other.n, other.mean, other.m2, other.lo, other.hi);
  }

  private combine(nb: number, meanb: number, m2b: number, lo: number, hi: number): void {
    const na = this.n;
    const n = na + nb;
    const delta = meanb - this.mean;
    this.mean += (delta * nb) / n;
    this.m2 += m2b + (delta * delta * na * nb) / n;
    this.n = n;
    if (lo < this.lo) this.lo = lo;
    if (hi > this.hi) this.hi = hi;
  }

  /** The statistics so far, or null when no pixel counted (all nodata, or nothing seen). */
  result(): BasicStats | null {
    if (this.n === 0) return null;
    return {
      min: this.lo,
      max: this.hi,
      mean: this.mean,
      stddev: Math.sqrt(Math.max(0, this.m2 / this.n)),
      count: this.n,
      total: this.seen,
    };
  }
}
