/**
 * The WebAssembly binning kernel (src/stats/binkernel.ts) counts every value in the bin the
 * JavaScript formula gives, floor((v − histMin) / width) clamped to the last bin, including values
 * a few units in the last place from a bin edge, where its multiplication by 1 / width must fall
 * back to the division. Float32 arrays go four values at a time (SIMD), the last `length % 4` one
 * at a time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BinKernel, MAX_KERNEL_BINS, PIECE_BYTES } from '../../../src/stats/binkernel.js';

/** The JavaScript loop of LayoutBinner, the reference. */
function reference(data: ArrayLike<number>, lo: number, hi: number, numBins: number, skip: number): Float64Array {
  const w = (hi - lo) / numBins;
  const counts = new Float64Array(numBins);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v === skip || v !== v || v < lo || v > hi) continue;
    let b = Math.floor((v - lo) / w);
    if (b > numBins - 1) b = numBins - 1;
    counts[b]!++;
  }
  return counts;
}

/** The double `steps` units in the last place from x (positive x). */
function ulps(x: number, steps: number): number {
  const f = new Float64Array([x]);
  const i = new BigInt64Array(f.buffer);
  i[0] = i[0]! + BigInt(steps);
  return f[0]!;
}

/** Values at, and a few units in the last place around, every bin edge, plus NaN, the ignore value and values outside. */
function edgeValues(lo: number, hi: number, numBins: number, skip: number): number[] {
  const w = (hi - lo) / numBins;
  const out = [NaN, skip, lo - w, hi + w, lo, hi];
  for (let k = 0; k <= numBins; k++) {
    const e = lo + k * w;
    out.push(e, Math.fround(e));
    for (const s of [-3, -2, -1, 1, 2, 3]) if (e > 0) out.push(ulps(e, s), Math.fround(ulps(e, s * 2 ** 29)));
  }
  return out;
}

function kernelFor(lo: number, hi: number, numBins: number, skip: number): BinKernel {
  const k = BinKernel.create(lo, hi, (hi - lo) / numBins, numBins, skip);
  assert.ok(k, `a kernel for [${lo}, ${hi}] in ${numBins} bins`);
  return k;
}

test('bin edges and their neighbours land where the division puts them, Float64 and Float32', () => {
  for (const [lo, hi, numBins] of [
    [0, 1, 256],
    [0.1, 0.7, 256],
    [-3.3, 1e4 / 3, 256],
    [1e-3, 1.000001e-3, 256],
    [12345.678, 98765.4321, 7],
    [0, 3, 3],
  ] as [number, number, number][]) {
    const skip = Math.fround(lo + (hi - lo) / 3);
    const values = edgeValues(lo, hi, numBins, skip);
    for (const data of [Float64Array.from(values), Float32Array.from(values)]) {
      const got = new Float64Array(numBins);
      kernelFor(lo, hi, numBins, skip).add(data, got);
      assert.deepEqual(Array.from(got), Array.from(reference(data, lo, hi, numBins, skip)), `[${lo}, ${hi}] ${numBins} bins, ${data.constructor.name}`);
    }
  }
});

test('any layout and any values: the same counts as the JavaScript loop', () => {
  fc.assert(
    fc.property(
      fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }),
      fc.double({ noNaN: true, noDefaultInfinity: true, min: 1e-6, max: 1e9 }),
      fc.integer({ min: 1, max: 600 }),
      fc.array(fc.oneof(fc.double({ noDefaultInfinity: true, min: -3e9, max: 3e9 }), fc.constantFrom(NaN, 0, -0)), { maxLength: 300 }),
      fc.boolean(),
      (lo, span, numBins, raw, f32) => {
        const hi = lo + span;
        const values = [...raw, ...edgeValues(lo, hi, Math.min(numBins, 40), NaN)];
        const data = f32 ? Float32Array.from(values) : Float64Array.from(values);
        const k = BinKernel.create(lo, hi, (hi - lo) / numBins, numBins, NaN);
        fc.pre(k !== null); // a subnormal width: the JavaScript loop bins (checked below)
        const got = new Float64Array(numBins);
        k.add(data, got);
        assert.deepEqual(Array.from(got), Array.from(reference(data, lo, hi, numBins, NaN)));
      },
    ),
    { numRuns: 300 },
  );
});

test('arrays longer than one piece of the module memory: every piece counted, counts folded', () => {
  const n = (PIECE_BYTES / 4) * 2 + 12345; // Float32: two whole pieces and a part
  const data = new Float32Array(n);
  let s = 7;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s / 2 ** 32) * 10 - 2;
  }
  data[17] = NaN;
  const k = kernelFor(-2, 8, 256, NaN);
  const got = new Float64Array(256);
  k.add(data, got);
  k.add(data.subarray(3, 1000), got); // a second call adds to the same counts
  const want = reference(data, -2, 8, 256, NaN);
  const more = reference(data.subarray(3, 1000), -2, 8, 256, NaN);
  assert.deepEqual(
    Array.from(got),
    Array.from(want, (c, i) => c + more[i]!),
  );
  assert.equal(
    got.reduce((a, b) => a + b, 0),
    n - 1 + 996, // all but the NaN, twice for the part added again
  );
});

test('Float32 four at a time: each value in every lane and in the tail, values that do not count land in no bin, with the most bins', () => {
  const numBins = MAX_KERNEL_BINS;
  const [lo, hi] = [-1, 3];
  const skip = Math.fround(0.5);
  const values = [...edgeValues(lo, hi, 64, skip).slice(0, 200), NaN, skip, -2, 4, Infinity, -Infinity];
  for (let shift = 0; shift < 4; shift++) {
    for (const extra of [0, 1, 2, 3]) {
      const data = Float32Array.from([...Array<number>(shift).fill(1), ...values, ...Array<number>(extra).fill(2.5)]);
      const got = new Float64Array(numBins);
      kernelFor(lo, hi, numBins, skip).add(data, got);
      assert.deepEqual(Array.from(got), Array.from(reference(data, lo, hi, numBins, skip)), `shifted by ${shift}, ${extra} more`);
    }
  }
});

test('no kernel where the multiplication could not stand in for the division', () => {
  assert.equal(BinKernel.create(1, 1, 0, 256, NaN), null, 'zero width');
  assert.equal(BinKernel.create(0, Infinity, Infinity, 256, NaN), null, 'infinite bound');
  assert.equal(BinKernel.create(0, 1e-310, 1e-310 / 256, 256, NaN), null, 'subnormal width (1 / width is infinite)');
  assert.equal(BinKernel.create(0, 1, 1 / (MAX_KERNEL_BINS + 1), MAX_KERNEL_BINS + 1, NaN), null, 'too many bins');
  assert.notEqual(BinKernel.create(0, 1, 1 / MAX_KERNEL_BINS, MAX_KERNEL_BINS, NaN), null);
});
