/**
 * The WebAssembly pass of basic statistics for Float32 blocks (src/stats/sumkernel.ts) against the
 * JavaScript loop it stands in for: the same count, minimum and maximum exactly, the same sums to
 * within float64 rounding, over values with NaN, the skip value, infinities and signed zeros, for
 * every length around its groups of four and across the pieces it copies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { PIECE_BYTES, sumKernel } from '../../../src/stats/sumkernel.js';
import { BasicStatsAccumulator } from '../../../src/stats/basic.js';

/** The loop of src/stats/basic.ts over the first 4 · floor(length / 4) values, the reference. */
function reference(data: Float32Array, skip: number, shift: number): number[] {
  let n = 0;
  let s1 = 0;
  let s2 = 0;
  let a1 = 0;
  let a2 = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < (data.length & ~3); i++) {
    const v = data[i]!;
    if (v === skip || v !== v) continue;
    n++;
    const d = v - shift;
    s1 += d;
    s2 += d * d;
    a1 += Math.abs(d);
    a2 += d * d;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [n, s1, s2, lo, hi, a1, a2];
}

function check(data: Float32Array, skip: number, shift: number): void {
  const k = sumKernel()!;
  const out = new Float64Array(5);
  k.sumGroups(data, skip, shift, out);
  const [n, s1, s2, lo, hi, a1, a2] = reference(data, skip, shift);
  assert.equal(out[0], n, 'count');
  // + 0: which zero is the minimum when both signs occur depends on the order seen (BasicStatsAccumulator reports +0)
  assert.equal(out[3]! + 0, lo! + 0, 'min');
  assert.equal(out[4]! + 0, hi! + 0, 'max');
  const close = (got: number, want: number, scale: number, what: string): void => {
    if (!Number.isFinite(want)) assert.ok(Object.is(got, want), `${what}: ${got} against ${want}`);
    else assert.ok(Math.abs(got - want) <= 1e-12 * scale + 1e-300, `${what}: ${got} against ${want}`);
  };
  close(out[1]!, s1!, a1!, 'sum');
  close(out[2]!, s2!, a2!, 'sum of squares');
}

test('the kernel runs here (a wrong encoding would fall back to the loop unseen)', () => {
  assert.ok(sumKernel(), 'WebAssembly SIMD module did not compile');
});

test('count, min, max exactly and sums to rounding, on random values with NaN, skip, infinities, signed zeros', () => {
  const special = fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, Math.fround(-3.5), Math.fround(1e-40), Math.fround(3.4e38));
  const value = fc.oneof({ weight: 6, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }) }, { weight: 1, arbitrary: special });
  fc.assert(
    fc.property(
      fc.array(value, { maxLength: 70 }),
      fc.constantFrom(NaN, Math.fround(-3.5), 0, Infinity),
      fc.double({ noNaN: true, min: -1e3, max: 1e3 }),
      (vals, skip, shift) => {
        check(Float32Array.from(vals), skip, shift);
      },
    ),
    { numRuns: 2000 },
  );
});

test('every length around the groups of four, and blocks spanning several pieces', () => {
  for (let len = 0; len <= 9; len++)
    check(
      Float32Array.from({ length: len }, (_, i) => i - 4),
      NaN,
      0,
    );
  const big = new Float32Array(PIECE_BYTES / 4 + PIECE_BYTES / 8 + 7);
  for (let i = 0; i < big.length; i++) big[i] = Math.sin(i) * 1000;
  big[PIECE_BYTES / 4 - 1] = -5000; // the last value of the first piece
  big[PIECE_BYTES / 4] = 5000; // the first of the second
  check(big, NaN, 12.5);
  check(big, big[17]!, 0);
});

test("a zero minimum is +0 whatever the order of the zeros (the loop keeps the first, the kernel each lane's first)", () => {
  const a = new Float32Array([5, -0, 7, 8, 0, 9, 10, 11]);
  const out = new Float64Array(5);
  sumKernel()!.sumGroups(a, NaN, 0, out);
  assert.ok(Object.is(out[3], 0), 'the kernel: lane 0 holds +0, lane 1 −0, lane 0 comes first');
  assert.ok(Object.is(reference(a, NaN, 0)[3], -0), 'the loop: −0 came first');
  for (const dtype of ['Float32', 'Float64'] as const) {
    const acc = new BasicStatsAccumulator(dtype, null);
    acc.add(dtype === 'Float32' ? a : Float64Array.from(a));
    assert.ok(Object.is(acc.result()!.min, 0), dtype);
  }
});

test('all values skipped: nothing counted, min +∞, max −∞', () => {
  const out = new Float64Array(5);
  sumKernel()!.sumGroups(new Float32Array([NaN, 7, NaN, 7, 7, 7, 7, 7]), 7, 0, out);
  assert.deepEqual([...out], [0, 0, 0, Infinity, -Infinity]);
});

test('a Float32 accumulator (kernel and loop for the tail) agrees with a Float64 one (loop) on the same values', () => {
  const f32 = new BasicStatsAccumulator('Float32', -1);
  const f64 = new BasicStatsAccumulator('Float64', -1);
  for (const len of [65536, 1001, 3, 4096 * 3 + 2]) {
    const a = new Float32Array(len);
    for (let i = 0; i < len; i++) a[i] = i % 97 === 0 ? -1 : i % 89 === 0 ? NaN : Math.fround(250 + 40 * Math.cos(i * 0.37));
    f32.add(a);
    f64.add(Float64Array.from(a));
  }
  const x = f32.result()!;
  const y = f64.result()!;
  assert.equal(x.count, y.count);
  assert.equal(x.total, y.total);
  assert.equal(x.min, y.min);
  assert.equal(x.max, y.max);
  assert.ok(Math.abs(x.mean - y.mean) <= 1e-12 * Math.abs(y.mean), `mean ${x.mean} against ${y.mean}`);
  assert.ok(Math.abs(x.stddev - y.stddev) <= 1e-10 * y.stddev, `stddev ${x.stddev} against ${y.stddev}`);
});

test('without WebAssembly (node --jitless) both kernels step aside and the loops give the same statistics and bins', () => {
  const root = path.join(import.meta.dirname, '..', '..', '..');
  const src = (f: string): string => pathToFileURL(path.join(root, 'src', 'stats', f)).href;
  const script = `
    import { sumKernel } from '${src('sumkernel.ts')}';
    import { BinKernel } from '${src('binkernel.ts')}';
    import { BasicStatsAccumulator } from '${src('basic.ts')}';
    import { LayoutBinner, chooseHistogramLayout } from '${src('histogram.ts')}';
    const acc = new BasicStatsAccumulator('Float32', 0);
    const data = Float32Array.from({ length: 70001 }, (_, i) => (i % 13 === 0 ? 0 : Math.sin(i) * 40 + 3));
    acc.add(data);
    const r = acc.result();
    const binner = new LayoutBinner(chooseHistogramLayout('Float32', false, r.min, r.max), 'Float32', 0);
    binner.add(data);
    console.log(JSON.stringify({ kernels: [sumKernel() !== null, BinKernel.create(0, 1, 1 / 256, 256, NaN) !== null], stats: r, bins: Array.from(binner.counts) }));`;
  const run = (flags: string[]): { kernels: boolean[]; stats: Record<string, number>; bins: number[] } =>
    JSON.parse(
      execFileSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    ) as {
      kernels: boolean[];
      stats: Record<string, number>;
      bins: number[];
    };
  const jit = run([]);
  const jitless = run(['--jitless']);
  assert.deepEqual(jit.kernels, [true, true]);
  assert.deepEqual(jitless.kernels, [false, false]);
  for (const k of ['count', 'total', 'min', 'max']) assert.equal(jitless.stats[k], jit.stats[k], k);
  for (const k of ['mean', 'stddev']) assert.ok(Math.abs(jitless.stats[k]! - jit.stats[k]!) <= 1e-12 * Math.abs(jit.stats[k]!), k);
  assert.deepEqual(jitless.bins, jit.bins);
});
