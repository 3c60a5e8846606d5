/**
 * Histograms, with median and mode taken from them.
 *
 * Layout (as RIOS users know it):
 * - Byte and thematic layers: one bin per integer value from 0 (or from the minimum, if it is
 *   negative) to the maximum — 'direct'.
 * - Other integer types: one bin per value from min to max when max − min < 256 — 'direct';
 *   otherwise 256 equal bins from min to max — 'linear'.
 * - Float types: 256 equal bins from min to max — 'linear'.
 *
 * Linear bin of a value v: floor((v − histMin) / width), width = (histMax − histMin) / numBins,
 * and the maximum goes in the last bin. A bin's value (for median and mode) is the integer
 * itself for direct bins and the bin's centre, histMin + (i + ½)·width, for linear bins.
 * Median: the bin holding the lower median, i.e. the first bin where the running count reaches
 * ceil(total / 2). Mode: the fullest bin, the lowest one on a tie.
 */
import { asNumbers, isIntegerType, type AnyTypedArray, type DataType, type NumberTypedArray } from '../dtypes.js';
import { effectiveNodata } from './basic.js';
import { BinKernel } from './binkernel.js';

export type BinFunction = 'direct' | 'linear';

export interface HistogramLayout {
  histMin: number;
  histMax: number;
  numBins: number;
  binFunction: BinFunction;
}

export interface Histogram extends HistogramLayout {
  counts: Float64Array;
}

/** Most direct bins riots makes. */
export const MAX_DIRECT_BINS = 1 << 21;
/** Widest range of 32-bit values counted per value while writing (8 MB of counts per band). */
export const MAX_COUNTED_RANGE = 1 << 20;
/** Bins of a linear histogram. */
export const LINEAR_BINS = 256;

/** The histogram layout for a band of `dtype` whose valid pixels span [min, max]. */
export function chooseHistogramLayout(dtype: DataType, thematic: boolean, min: number, max: number): HistogramLayout {
  if (isIntegerType(dtype)) {
    if (dtype === 'Byte' || thematic) {
      const lo = Math.min(0, min);
      if (max - lo + 1 <= MAX_DIRECT_BINS) return { histMin: lo, histMax: max, numBins: max - lo + 1, binFunction: 'direct' };
    } else if (max - min < 256) {
      return { histMin: min, histMax: max, numBins: max - min + 1, binFunction: 'direct' };
    }
  }
  return { histMin: min, histMax: max, numBins: LINEAR_BINS, binFunction: 'linear' };
}

/** Width of one bin (1 for direct bins; 0 when min = max). */
export function binWidth(l: HistogramLayout): number {
  return l.binFunction === 'direct' ? 1 : (l.histMax - l.histMin) / l.numBins;
}

/** The bin a value falls in (no range check below histMin). */
export function binIndex(l: HistogramLayout, v: number): number {
  if (l.binFunction === 'direct') return v - l.histMin;
  const w = binWidth(l);
  if (w === 0) return 0;
  const i = Math.floor((v - l.histMin) / w);
  return i >= l.numBins ? l.numBins - 1 : i;
}

/** The value a bin stands for: the integer for direct bins, the centre for linear ones. */
export function binValue(l: HistogramLayout, i: number): number {
  return l.binFunction === 'direct' ? l.histMin + i : l.histMin + (i + 0.5) * binWidth(l);
}

/**
 * Median and mode from a histogram, or null when it is empty. Direct (one value per bin):
 * the lower median and the lowest fullest value. Linear (wide bins): the median and mode
 * interpolated within their bin as for grouped data, so that they come within a fraction of a
 * bin of the exact values, where the bin's centre (or RIOS's lower edge) is off by up to a bin;
 * for `integerData` (an integer band with wide bins) rounded to the nearest integer.
 */
export function medianAndMode(h: Histogram, integerData = false): { median: number; mode: number } | null {
  const c = h.counts;
  let total = 0;
  let modeBin = 0;
  for (let i = 0; i < c.length; i++) {
    total += c[i]!;
    if (c[i]! > c[modeBin]!) modeBin = i;
  }
  if (total === 0) return null;
  if (h.binFunction === 'direct') {
    // integers: the lower median and the lowest fullest value, exactly
    const half = Math.ceil(total / 2);
    let cum = 0;
    let medBin = 0;
    for (; medBin < c.length; medBin++) {
      cum += c[medBin]!;
      if (cum >= half) break;
    }
    return { median: binValue(h, medBin), mode: binValue(h, modeBin) };
  }
  // wide bins: placed within their bin as for grouped data (values spread evenly in a bin)
  const w = binWidth(h);
  const half = total / 2;
  let before = 0;
  let medBin = 0;
  for (; medBin < c.length - 1 && before + c[medBin]! < half; medBin++) before += c[medBin]!;
  const inBin = c[medBin]! > 0 ? Math.min(1, Math.max(0, (half - before) / c[medBin]!)) : 0.5;
  const d1 = c[modeBin]! - (modeBin > 0 ? c[modeBin - 1]! : 0);
  const d2 = c[modeBin]! - (modeBin < c.length - 1 ? c[modeBin + 1]! : 0);
  const modeIn = d1 + d2 > 0 ? d1 / (d1 + d2) : 0.5;
  const median = h.histMin + (medBin + inBin) * w;
  const mode = h.histMin + (modeBin + modeIn) * w;
  // integer data: the nearest integer, which the data's median and mode are (as RIOS writes them)
  return integerData ? { median: Math.round(median), mode: Math.round(mode) } : { median, mode };
}

/**
 * Counts of every integer value, for integer data while it is written. 8- and 16-bit types use
 * a fixed dense table; 32- and 64-bit types a dense table over the range seen so far, given up (see
 * {@link IntValueCounter.overflowed}) once that range passes {@link MAX_COUNTED_RANGE}.
 */
export class IntValueCounter {
  private counts: Float64Array | null;
  private base: number;
  private readonly skip: number;
  private readonly wide: boolean;
  overflowed = false;

  constructor(dtype: DataType, nodata: number | null) {
    if (!isIntegerType(dtype)) throw new TypeError(`IntValueCounter: ${dtype} is not an integer type`);
    const nd = effectiveNodata(dtype, nodata);
    this.skip = nd === null ? NaN : nd;
    this.wide = dtype === 'Int32' || dtype === 'UInt32' || dtype === 'Int64' || dtype === 'UInt64';
    this.base = dtype === 'Int16' ? -32768 : dtype === 'Int8' ? -128 : 0;
    this.counts = this.wide ? null : new Float64Array(dtype === 'Byte' || dtype === 'Int8' ? 256 : 65536);
  }

  add(raw: AnyTypedArray): void {
    if (this.overflowed) return;
    const data = asNumbers(raw);
    const skip = this.skip;
    const len = data.length;
    if (this.wide && !this.ensureRange(data)) return;
    const counts = this.counts!;
    const base = this.base;
    for (let i = 0; i < len; i++) {
      const v = data[i]!;
      if (v === skip) continue;
      counts[v - base]!++;
    }
  }

  /** Grow the 32-bit table to cover this block; false (and forget everything) if too wide. */
  private ensureRange(data: NumberTypedArray): boolean {
    const skip = this.skip;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v === skip) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo > hi) return true;
    const old = this.counts;
    const oldLo = this.base;
    const oldHi = old ? oldLo + old.length - 1 : -Infinity;
    if (old && lo >= oldLo && hi <= oldHi) return true;
    const newLo = old ? Math.min(lo, oldLo) : lo;
    const newHi = old ? Math.max(hi, oldHi) : hi;
    if (newHi - newLo + 1 > MAX_COUNTED_RANGE) {
      this.overflowed = true;
      this.counts = null;
      return false;
    }
    // Leave room to grow (up to the cap), so a slowly widening range does not copy every block.
    const span = newHi - newLo + 1;
    const room = Math.min(MAX_COUNTED_RANGE, Math.max(span, old ? old.length * 2 : span));
    const extra = room - span;
    const growLo = old && lo < oldLo ? extra : 0;
    const lo2 = newLo - growLo;
    const next = new Float64Array(room);
    if (old) next.set(old, oldLo - lo2);
    this.counts = next;
    this.base = lo2;
    return true;
  }

  /**
   * The histogram in a layout whose range lies within the values counted.
   * @throws {Error} when the counter overflowed (the caller must bin from the file instead).
   */
  histogram(l: HistogramLayout): Histogram {
    if (this.overflowed || (this.counts === null && this.wide === false)) throw new Error('IntValueCounter: counts were given up');
    const out = new Float64Array(l.numBins);
    const counts = this.counts;
    if (counts === null) return { ...l, counts: out };
    const base = this.base;
    const from = Math.max(l.histMin, base);
    const to = Math.min(l.histMax, base + counts.length - 1);
    for (let v = from; v <= to; v++) {
      const c = counts[v - base]!;
      if (c !== 0) out[binIndex(l, v)]! += c;
    }
    return { ...l, counts: out };
  }
}

/**
 * Counts into linear (or direct) bins of a known layout, for values replayed from a scratch copy
 * or read back from a file. Float values in linear bins are binned by a WebAssembly kernel
 * (./binkernel.ts) where it can run, with the same result as the loop here.
 */
export class LayoutBinner {
  readonly counts: Float64Array;
  private readonly skip: number;
  private readonly kernel: BinKernel | null;

  constructor(
    readonly layout: HistogramLayout,
    dtype: DataType,
    nodata: number | null,
  ) {
    this.counts = new Float64Array(layout.numBins);
    const nd = effectiveNodata(dtype, nodata);
    this.skip = nd === null ? NaN : nd;
    const float = dtype === 'Float32' || dtype === 'Float64';
    this.kernel =
      float && layout.binFunction === 'linear' ? BinKernel.create(layout.histMin, layout.histMax, binWidth(layout), layout.numBins, this.skip) : null;
  }

  add(raw: AnyTypedArray): void {
    if (this.kernel && (raw instanceof Float32Array || raw instanceof Float64Array)) {
      this.kernel.add(raw, this.counts);
      return;
    }
    const data = asNumbers(raw);
    const { histMin, histMax, numBins } = this.layout;
    const counts = this.counts;
    const skip = this.skip;
    const len = data.length;
    const w = binWidth(this.layout);
    const last = numBins - 1;
    for (let i = 0; i < len; i++) {
      const v = data[i]!;
      if (v === skip || v !== v || v < histMin || v > histMax) continue;
      let b = w === 0 ? 0 : Math.floor((v - histMin) / w);
      if (b > last) b = last;
      counts[b]!++;
    }
  }

  histogram(): Histogram {
    return { ...this.layout, counts: this.counts };
  }
}
