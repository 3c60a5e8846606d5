/**
 * Statistics and histograms of outputs, written through OutputStatsWriter block by block, checked
 * against GDAL (ComputeStatistics on a copy stripped of stored statistics) and numpy.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { makeTestRaster, oracleStats, storedMetadata, type TestRasterSpec } from '../../helpers/oracle.js';
import { copyWithStats } from '../../helpers/statsdriver.js';
import { BasicStatsAccumulator, effectiveNodata } from '../../../src/stats/basic.js';
import { IntValueCounter, LayoutBinner, binIndex, chooseHistogramLayout, medianAndMode, MAX_COUNTED_RANGE } from '../../../src/stats/histogram.js';
import { parseStatsMetadata } from '../../../src/stats/metadata.js';

const dir = mkdtempSync(path.join(tmpdir(), 'riots-stats-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function close(actual: number, expected: number, rel: number, what: string): void {
  const tol = rel * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tolerance ${tol})`);
}

interface Case {
  name: string;
  spec: Omit<TestRasterSpec, 'path'>;
  thematic?: boolean;
  binFunction: 'direct' | 'linear';
}

const CASES: Case[] = [
  {
    name: 'Byte',
    spec: { cols: 1000, rows: 777, dtype: 'Byte', expr: 'rng.binomial(200, 0.4, (rows, cols))', nodata: 0, nodataFraction: 0.05 },
    binFunction: 'direct',
  },
  {
    name: 'Int16 narrow range (direct from min)',
    spec: { cols: 1000, rows: 777, dtype: 'Int16', expr: 'rng.integers(-120, 100, (rows, cols))', nodata: -999, nodataFraction: 0.1 },
    binFunction: 'direct',
  },
  {
    name: 'Int16 wide range (linear)',
    spec: { cols: 1000, rows: 777, dtype: 'Int16', expr: '(rng.normal(0, 3000, (rows, cols))).clip(-32000, 32000)', nodata: -32768, nodataFraction: 0.02 },
    binFunction: 'linear',
  },
  {
    name: 'UInt16',
    spec: { cols: 777, rows: 1000, dtype: 'UInt16', expr: '(r * 37 + c * 11) % 60000', nodata: 0 },
    binFunction: 'linear',
  },
  {
    name: 'Int32 wide range (counts given up, binned after writing)',
    spec: { cols: 1000, rows: 777, dtype: 'Int32', expr: 'rng.integers(-2_000_000_000, 2_000_000_000, (rows, cols))', nodata: -1, nodataFraction: 0.03 },
    binFunction: 'linear',
  },
  {
    name: 'Int32 moderate range (counted while writing, re-binned)',
    spec: { cols: 1000, rows: 777, dtype: 'Int32', expr: 'rng.integers(-50_000, 150_000, (rows, cols))', nodata: 7, nodataFraction: 0.0 },
    binFunction: 'linear',
  },
  {
    name: 'UInt32 narrow',
    spec: { cols: 600, rows: 401, dtype: 'UInt32', expr: '3_000_000_000 + rng.integers(0, 200, (rows, cols))', nodata: null },
    binFunction: 'direct',
  },
  {
    name: 'Float32 with nodata',
    spec: { cols: 1000, rows: 777, dtype: 'Float32', expr: 'rng.normal(100, 20, (rows, cols)).astype(np.float32)', nodata: -9999, nodataFraction: 0.1 },
    binFunction: 'linear',
  },
  {
    name: 'Float64 with NaN and no nodata',
    spec: {
      cols: 513,
      rows: 300,
      dtype: 'Float64',
      expr: 'np.where(rng.random((rows, cols)) < 0.01, np.nan, rng.gamma(2.0, 1e6, (rows, cols)))',
      nodata: null,
    },
    binFunction: 'linear',
  },
  {
    name: 'thematic Int16 classes',
    spec: { cols: 1000, rows: 777, dtype: 'Int16', expr: '(r // 50 + c // 70) % 13', nodata: 0 },
    thematic: true,
    binFunction: 'direct',
  },
  {
    name: 'thematic Int32 with ~1.5 million classes (too wide to count while writing; direct bins from the file)',
    spec: { cols: 300, rows: 200, dtype: 'Int32', expr: 'rng.integers(1, 1_500_000, (rows, cols))', nodata: 0 },
    thematic: true,
    binFunction: 'direct',
  },
];

describe('OutputStatsWriter: statistics and histograms against GDAL and numpy', () => {
  for (const cs of CASES) {
    test(cs.name, async () => {
      const base = path.join(dir, cs.name.replace(/[^A-Za-z0-9]+/g, '_'));
      const src = base + '_src.tif';
      const out = base + '_out.tif';
      makeTestRaster({ ...cs.spec, path: src, seed: 42 });
      const nodata = cs.spec.nodata ?? null;
      await copyWithStats(src, out, { nodata, thematic: cs.thematic ?? false, omitPyramids: true });
      const md = storedMetadata(out)[0]!;
      const oc = oracleStats(out, base + '_copy.tif', nodata, cs.thematic ?? false)[0]!;
      assert.ok(oc.copyHadNoStats, 'the GDAL copy must carry no stored statistics');
      const np = oc.numpy!;
      const g = oc.gdal!;
      // Basic statistics: min and max exact, mean and stddev within rounding.
      assert.equal(Number(md.STATISTICS_MINIMUM), np.min);
      assert.equal(Number(md.STATISTICS_MAXIMUM), np.max);
      assert.equal(Number(md.STATISTICS_MINIMUM), g[0]);
      assert.equal(Number(md.STATISTICS_MAXIMUM), g[1]);
      close(Number(md.STATISTICS_MEAN), np.mean, 1e-9, 'mean vs numpy');
      close(Number(md.STATISTICS_MEAN), g[2], 1e-9, 'mean vs GDAL');
      close(Number(md.STATISTICS_STDDEV), np.std, 1e-9, 'stddev vs numpy');
      close(Number(md.STATISTICS_STDDEV), g[3], 1e-9, 'stddev vs GDAL');
      close(Number(md.STATISTICS_VALID_PERCENT), (100 * np.count) / np.total, 1e-12, 'valid percent');
      // Histogram, median and mode.
      const h = oc.hist!;
      assert.equal(h.binFunction, cs.binFunction, 'the case exercises the intended layout');
      assert.equal(md.STATISTICS_HISTOBINFUNCTION, h.binFunction);
      assert.equal(Number(md.STATISTICS_HISTOMIN), h.histMin);
      assert.equal(Number(md.STATISTICS_HISTOMAX), h.histMax);
      assert.equal(Number(md.STATISTICS_HISTONUMBINS), h.numBins);
      const counts = md.STATISTICS_HISTOBINVALUES!.split('|');
      assert.equal(counts.pop(), '', 'bin values end with |');
      assert.deepEqual(counts.map(Number), h.counts);
      close(Number(md.STATISTICS_MEDIAN), h.median, 1e-9, 'median');
      close(Number(md.STATISTICS_MODE), h.mode, 1e-9, 'mode');
      if (h.binFunction === 'linear') {
        const off = Math.abs(Number(md.STATISTICS_MEDIAN) - h.exactMedian);
        assert.ok(off <= h.binWidth / 2, `the median is within half a bin (${h.binWidth}) of numpy's: off by ${off}`);
      }
      // what RIOS writes beside the statistics for other tools (QGIS reads the excluded values)
      assert.equal(md.STATISTICS_SKIPFACTORX, '1');
      assert.equal(md.STATISTICS_SKIPFACTORY, '1');
      assert.equal(md.STATISTICS_EXCLUDEDVALUES === undefined ? null : Number(md.STATISTICS_EXCLUDEDVALUES), nodata);
      assert.equal(md.LAYER_TYPE, cs.thematic ? 'thematic' : 'athematic');
    });
  }

  test('every pixel nodata: no statistics stored, no failure', async () => {
    const src = path.join(dir, 'allnd_src.tif');
    makeTestRaster({ path: src, cols: 300, rows: 200, dtype: 'Float32', expr: 'np.full((rows, cols), -5.0)', nodata: -5 });
    const r = await copyWithStats(src, path.join(dir, 'allnd_out.tif'), { nodata: -5, overviewMinDim: 10 });
    const md = storedMetadata(path.join(dir, 'allnd_out.tif'))[0]!;
    assert.deepEqual(
      Object.keys(md).filter((k) => k.startsWith('STATISTICS_')),
      [],
    );
    assert.equal(md.LAYER_TYPE, 'athematic');
    assert.deepEqual(r.levels, [4, 8, 16]);
  });

  test('omit flags and calcStats=false', async () => {
    const src = path.join(dir, 'omit_src.tif');
    makeTestRaster({ path: src, cols: 700, rows: 500, dtype: 'Int16', expr: 'rng.integers(0, 1000, (rows, cols))', nodata: 0 });
    await copyWithStats(src, path.join(dir, 'omit1.tif'), { nodata: 0, omitBasicStats: true, omitPyramids: true });
    const m1 = storedMetadata(path.join(dir, 'omit1.tif'))[0]!;
    assert.equal(m1.STATISTICS_MINIMUM, undefined);
    assert.equal(m1.STATISTICS_MEAN, undefined);
    assert.ok(m1.STATISTICS_HISTOBINVALUES);
    assert.ok(m1.STATISTICS_MEDIAN);
    await copyWithStats(src, path.join(dir, 'omit2.tif'), { nodata: 0, omitHistogram: true, omitPyramids: true });
    const m2 = storedMetadata(path.join(dir, 'omit2.tif'))[0]!;
    assert.ok(m2.STATISTICS_MEAN);
    assert.equal(m2.STATISTICS_HISTOBINVALUES, undefined);
    assert.equal(m2.STATISTICS_MEDIAN, undefined);
    const r3 = await copyWithStats(src, path.join(dir, 'omit3.tif'), { nodata: 0, calcStats: false, overviewMinDim: 10 });
    const m3 = storedMetadata(path.join(dir, 'omit3.tif'))[0]!;
    assert.deepEqual(
      Object.keys(m3).filter((k) => k.startsWith('STATISTICS_')),
      [],
    );
    assert.deepEqual(r3.levels, []);
  });

  test('blocks in reverse order and other window sizes give the same results', async () => {
    const src = path.join(dir, 'order_src.tif');
    makeTestRaster({
      path: src,
      cols: 1000,
      rows: 777,
      dtype: 'Float32',
      expr: 'rng.lognormal(3, 1, (rows, cols)).astype(np.float32)',
      nodata: 0,
      nodataFraction: 0.05,
    });
    await copyWithStats(src, path.join(dir, 'order_a.tif'), { nodata: 0, omitPyramids: true });
    await copyWithStats(src, path.join(dir, 'order_b.tif'), { nodata: 0, omitPyramids: true }, { x: 512, y: 128 }, 'reverse');
    const a = parseStatsMetadata(storedMetadata(path.join(dir, 'order_a.tif'))[0]!);
    const b = parseStatsMetadata(storedMetadata(path.join(dir, 'order_b.tif'))[0]!);
    assert.equal(a.min, b.min);
    assert.equal(a.max, b.max);
    close(a.mean!, b.mean!, 1e-12, 'mean');
    close(a.stddev!, b.stddev!, 1e-12, 'stddev');
    assert.deepEqual(Array.from(a.histogram!.counts), Array.from(b.histogram!.counts));
  });
});

describe('accumulators (pure)', () => {
  test('block-wise basic stats equal a one-shot float64 computation, whatever the split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.constant(-9)), { minLength: 1, maxLength: 400 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
        (values, cuts) => {
          const data = Int16Array.from(values);
          const acc = new BasicStatsAccumulator('Int16', -9);
          let i = 0;
          let k = 0;
          while (i < data.length) {
            const n = cuts[k++ % cuts.length]!;
            acc.add(data.subarray(i, i + n));
            i += n;
          }
          const valid = values.filter((v) => v !== -9);
          const r = acc.result();
          if (valid.length === 0) return r === null;
          const mean = valid.reduce((s, v) => s + v, 0) / valid.length;
          const std = Math.sqrt(valid.reduce((s, v) => s + (v - mean) ** 2, 0) / valid.length);
          return (
            r !== null &&
            r.min === Math.min(...valid) &&
            r.max === Math.max(...valid) &&
            Math.abs(r.mean - mean) <= 1e-9 * Math.max(1, Math.abs(mean)) &&
            Math.abs(r.stddev - std) <= 1e-9 * Math.max(1, std) &&
            r.count === valid.length &&
            r.total === values.length
          );
        },
      ),
    );
  });

  test('ill-conditioned data (large offset, tiny spread, outliers first) keeps full precision', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 16_000_000 }),
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 2, maxLength: 300 }),
        fc.array(fc.integer({ min: -16_000_000, max: 16_000_000 }), { maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }),
        (offset, noise, outliers, cuts) => {
          const ints = [...outliers, ...noise.map((x) => offset + x)];
          const data = Float32Array.from(ints);
          const acc = new BasicStatsAccumulator('Float32', null);
          for (let i = 0, k = 0; i < data.length; k++) {
            const n = cuts[k % cuts.length]!;
            acc.add(data.subarray(i, i + n));
            i += n;
          }
          // Exact reference with integers: var = (n·Σx² − (Σx)²) / n².
          const n = BigInt(ints.length);
          const s1 = ints.reduce((s, v) => s + BigInt(v), 0n);
          const s2 = ints.reduce((s, v) => s + BigInt(v) * BigInt(v), 0n);
          const num = n * s2 - s1 * s1;
          const std = Math.sqrt(Number(num) / Number(n * n));
          const mean = Number(s1) / Number(n);
          const r = acc.result()!;
          // A mean of values that cancel (outliers of ±1.5e7 around a mean of 700) is only as
          // precise as the sum, whose rounding is relative to the largest value, as in GDAL and
          // numpy; the spread is the ill-conditioned part and keeps full relative precision.
          const scale = Math.max(1, ...ints.map((v) => Math.abs(v)));
          return Math.abs(r.stddev - std) <= 1e-9 * Math.max(std, 1e-300) + 1e-12 && Math.abs(r.mean - mean) <= 1e-12 * scale;
        },
      ),
      {
        numRuns: 300,
        examples: [
          [16_000_000, Array.from({ length: 200 }, (_, i) => (i * 7) % 21), [-16_000_000], [1, 199]],
          // CI found this: the mean (705.8) of two outliers that nearly cancel
          [0, [0, 0, 0], [-15164121, 15167650], [5]],
        ],
      },
    );
  });

  test('nodata the type cannot hold ignores nothing; Float32 nodata compares as float32', () => {
    assert.equal(effectiveNodata('Byte', -1), null);
    assert.equal(effectiveNodata('Int16', 0.5), null);
    assert.equal(effectiveNodata('Float32', 0.1), Math.fround(0.1));
    const acc = new BasicStatsAccumulator('Float32', 0.1);
    acc.add(Float32Array.from([0.1, 1, 2, NaN]));
    assert.equal(acc.result()!.count, 2);
  });

  test('32-bit value counts grow with the range and give up past the cap', () => {
    const c = new IntValueCounter('Int32', null);
    c.add(Int32Array.from([10, 11, 12]));
    c.add(Int32Array.from([-5, 3]));
    c.add(Int32Array.from([500]));
    const l = chooseHistogramLayout('Int32', false, -5, 500);
    assert.equal(l.binFunction, 'linear');
    const h = c.histogram(l);
    const direct = new LayoutBinner(l, 'Int32', null);
    direct.add(Int32Array.from([10, 11, 12, -5, 3, 500]));
    assert.deepEqual(Array.from(h.counts), Array.from(direct.counts));
    c.add(Int32Array.from([MAX_COUNTED_RANGE * 2]));
    assert.equal(c.overflowed, true);
  });

  test('LayoutBinner counts exactly as binIndex does, whatever the layout, the length and the values', () => {
    fc.assert(
      fc.property(
        fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
        fc.float({ noNaN: true, noDefaultInfinity: true, min: 0, max: 1e6 }),
        fc.array(fc.oneof(fc.float({ noDefaultInfinity: true, min: -2e6, max: 2e6 }), fc.constantFrom(0, 1, -1, NaN, 7.5)), { maxLength: 203 }),
        fc.constantFrom('Float32' as const, 'Int32' as const),
        fc.constantFrom(null, 0, 7.5),
        (lo, span, raw, dtype, nodata) => {
          const min = Math.fround(lo);
          const max = Math.fround(lo + span);
          const l = chooseHistogramLayout(dtype, false, dtype === 'Int32' ? Math.round(min) : min, dtype === 'Int32' ? Math.round(max) : max);
          const data = dtype === 'Int32' ? Int32Array.from(raw, (v) => (Number.isNaN(v) ? 0 : Math.round(v))) : Float32Array.from(raw);
          // the range's own ends and bin edges too
          const edges = [l.histMin, l.histMax, l.histMin + ((l.histMax - l.histMin) * 3) / l.numBins];
          const all = dtype === 'Int32' ? Int32Array.from([...data, ...edges.map(Math.round)]) : Float32Array.from([...data, ...edges]);
          const b = new LayoutBinner(l, dtype, nodata);
          b.add(all.subarray(0, 5));
          b.add(all.subarray(5));
          const skip = effectiveNodata(dtype, nodata);
          const want = new Float64Array(l.numBins);
          for (const v of all) if (v !== skip && !Number.isNaN(v) && v >= l.histMin && v <= l.histMax) want[binIndex(l, v)]!++;
          assert.deepEqual(Array.from(b.counts), Array.from(want));
        },
      ),
      { numRuns: 400 },
    );
  });

  test('wide bins: median and mode placed within their bin as for grouped data', () => {
    // 4 bins of width 10 from 0: counts 1, 6, 2, 1 -> half = 5 is 4/6 into bin 1; mode bin 1 between 1 and 2
    const h = { histMin: 0, histMax: 40, numBins: 4, binFunction: 'linear' as const, counts: Float64Array.from([1, 6, 2, 1]) };
    const mm = medianAndMode(h)!;
    close(mm.median, 10 + (4 / 6) * 10, 1e-12, 'median');
    close(mm.mode, 10 + (5 / (5 + 4)) * 10, 1e-12, 'mode');
  });

  test('wide bins of integer data: median and mode are the nearest whole numbers', () => {
    const h = { histMin: 0, histMax: 40, numBins: 4, binFunction: 'linear' as const, counts: Float64Array.from([1, 6, 2, 1]) };
    const mm = medianAndMode(h, true)!;
    assert.equal(mm.median, Math.round(10 + (4 / 6) * 10));
    assert.equal(mm.mode, Math.round(10 + (5 / (5 + 4)) * 10));
  });

  test('Int8 values are counted from -128', () => {
    const c = new IntValueCounter('Int8', -1);
    c.add(Int8Array.from([-128, -5, -5, -1, 0, 127]));
    const h = c.histogram(chooseHistogramLayout('Int8', false, -128, 127));
    assert.equal(h.binFunction, 'direct');
    assert.equal(h.histMin, -128);
    assert.deepEqual([h.counts[0], h.counts[-5 + 128], h.counts[-1 + 128], h.counts[128], h.counts[255]], [1, 2, 0, 1, 1], 'the nodata value -1 left out');
  });

  test('median is the lower median, mode the lowest fullest bin', () => {
    const l = chooseHistogramLayout('Byte', false, 1, 4);
    const c = new IntValueCounter('Byte', null);
    c.add(Uint8Array.from([1, 2, 2, 3, 3, 4]));
    const mm = medianAndMode(c.histogram(l))!;
    assert.equal(mm.median, 2);
    assert.equal(mm.mode, 2);
  });
});
