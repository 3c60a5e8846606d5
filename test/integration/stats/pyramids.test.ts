/**
 * Pyramids: the NEAREST source-pixel rule against gdaladdo on index rasters, single-pass NEAREST
 * overviews and post-write AVERAGE overviews against gdaladdo on a copy of the base, and the
 * level choice with its environment variables.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compareWithGdaladdo, makeTestRaster, oracle } from '../../helpers/oracle.js';
import { copyWithStats } from '../../helpers/statsdriver.js';
import fc from 'fast-check';
import { nearestLevelMaps, overviewWindowForBlock } from '../../../src/stats/pyramids.js';
import { OverviewStrips } from '../../../src/stats/overviewstrips.js';
import { chooseOverviewLevels, statsOptionsFromEnv, DEFAULT_STATS_OPTIONS } from '../../../src/stats/plan.js';
import { ControlsError } from '../../../src/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'riots-pyr-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Which base column and row gdaladdo -r nearest takes for each overview pixel, per level. */
function gdaladdoIndexMaps(xsize: number, ysize: number, levels: number[]): { cols: number[]; rows: number[] }[] {
  return oracle<{ cols: number[]; rows: number[] }[]>(
    `
a = args
xs, ys = a['xs'], a['ys']
def ovs(arr, name):
    p = a['dir'] + '/' + name
    d = gdal.GetDriverByName('GTiff').Create(p, xs, ys, 1, gdal.GDT_Int32, ['TILED=YES'])
    d.GetRasterBand(1).WriteArray(arr); d = None
    subprocess.check_call(['gdaladdo', '-q', '-r', 'nearest', p] + [str(l) for l in a['levels']])
    d = gdal.Open(p); b = d.GetRasterBand(1)
    res = [b.GetOverview(i).ReadAsArray() for i in range(b.GetOverviewCount())]
    d = None
    return res
C = ovs(np.tile(np.arange(xs, dtype=np.int32), (ys, 1)), 'cols.tif')
R = ovs(np.tile(np.arange(ys, dtype=np.int32)[:, None], (1, xs)), 'rows.tif')
for c, r in zip(C, R):
    assert (c == c[0][None, :]).all() and (r == r[:, 0][:, None]).all(), 'rows and columns map independently'
out([{'cols': c[0].tolist(), 'rows': r[:, 0].tolist()} for c, r in zip(C, R)])
`,
    { xs: xsize, ys: ysize, levels, dir },
  );
}

describe('NEAREST source-pixel rule equals gdaladdo -r nearest', () => {
  const LEVELS = [4, 8, 16, 32, 64, 128, 256, 512];
  const shapes: [number, number][] = [
    [1000, 777],
    [777, 1000],
    [6000, 6000],
    [4097, 3001],
    [2601, 251],
    [9, 3000],
    [40, 3000],
    [12345, 1234],
    [1, 700],
  ];
  for (const [xs, ys] of shapes) {
    test(`${xs} x ${ys}`, () => {
      const ref = gdaladdoIndexMaps(xs, ys, LEVELS);
      const mine = nearestLevelMaps(xs, ys, LEVELS);
      assert.equal(mine.length, ref.length);
      mine.forEach((m, i) => {
        assert.deepEqual(Array.from(m.cols), ref[i]!.cols, `level ${LEVELS[i]} columns`);
        assert.deepEqual(Array.from(m.rows), ref[i]!.rows, `level ${LEVELS[i]} rows`);
      });
    });
  }
  test('levels out of order and not powers of two', () => {
    for (const levels of [
      [2, 3, 6, 4],
      [512, 4, 16],
      [3, 9, 27],
    ]) {
      const ref = gdaladdoIndexMaps(1000, 777, levels);
      nearestLevelMaps(1000, 777, levels).forEach((m, i) => {
        assert.deepEqual(Array.from(m.cols), ref[i]!.cols, `${levels} level ${levels[i]} columns`);
        assert.deepEqual(Array.from(m.rows), ref[i]!.rows, `${levels} level ${levels[i]} rows`);
      });
    }
  });
  test('every overview pixel falls in exactly one block', () => {
    const maps = nearestLevelMaps(1000, 777, LEVELS);
    for (const m of maps) {
      const seen = new Uint8Array(m.xsize * m.ysize);
      for (let y = 0; y < 777; y += 256) {
        for (let x = 0; x < 1000; x += 256) {
          const w = overviewWindowForBlock(m, x, y, Math.min(256, 1000 - x), Math.min(256, 777 - y));
          if (!w) continue;
          for (let r = w.yoff; r < w.yoff + w.rows; r++) for (let c = w.xoff; c < w.xoff + w.cols; c++) seen[r * m.xsize + c]!++;
        }
      }
      assert.ok(
        seen.every((v) => v === 1),
        `level ${m.level}`,
      );
    }
  });
});

describe('overview strips', () => {
  test('irregular, shuffled blocks still give every overview pixel its source value exactly once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 300 }),
        fc.integer({ min: 20, max: 300 }),
        fc.array(fc.integer({ min: 1, max: 90 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 90 }), { minLength: 1, maxLength: 6 }),
        fc.integer(),
        (xs, ys, xcuts, ycuts, seed) => {
          const base = Int32Array.from({ length: xs * ys }, (_, i) => i);
          const maps = nearestLevelMaps(xs, ys, [2, 3, 4]);
          // Blocks: columns cut by xcuts; within each column strip, rows cut by ycuts shifted per column.
          const blocks: [number, number, number, number][] = [];
          for (let x = 0, i = 0; x < xs; i++) {
            const w = Math.min(xcuts[i % xcuts.length]!, xs - x);
            for (let y = 0, j = i; y < ys; j++) {
              const h = Math.min(ycuts[j % ycuts.length]!, ys - y);
              blocks.push([x, y, w, h]);
              y += h;
            }
            x += w;
          }
          let s = seed;
          for (let i = blocks.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) & 0x7fffffff;
            const k = s % (i + 1);
            [blocks[i], blocks[k]] = [blocks[k]!, blocks[i]!];
          }
          return maps.every((m) => {
            const strips = new OverviewStrips(m, 'Int32');
            const got = new Int32Array(m.xsize * m.ysize).fill(-1);
            const put = (p: { xoff: number; yoff: number; cols: number; rows: number; data: ArrayLike<number | bigint> }): void => {
              for (let r = 0; r < p.rows; r++) for (let c = 0; c < p.cols; c++) got[(p.yoff + r) * m.xsize + p.xoff + c] = Number(p.data[r * p.cols + c]!);
            };
            for (const [x, y, w, h] of blocks) {
              const blk = new Int32Array(w * h);
              for (let r = 0; r < h; r++) blk.set(base.subarray((y + r) * xs + x, (y + r) * xs + x + w), r * w);
              strips.add(blk, x, y, w, h).forEach(put);
            }
            strips.leftovers().forEach(put);
            for (let r = 0; r < m.ysize; r++) {
              for (let c = 0; c < m.xsize; c++) if (got[r * m.xsize + c] !== m.rows[r]! * xs + m.cols[c]!) return false;
            }
            return true;
          });
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('overviews written by OutputStatsWriter equal gdaladdo on a copy of the base', () => {
  const cases: { name: string; dtype: 'Byte' | 'Int16' | 'Float32' | 'Int32' | 'Float64'; expr: string; cols: number; rows: number; bands?: number }[] = [
    { name: 'Float32 1000x777', dtype: 'Float32', expr: 'rng.normal(0, 1, (rows, cols)).astype(np.float32)', cols: 1000, rows: 777 },
    { name: 'Byte 2 bands 777x1000', dtype: 'Byte', expr: '(r * 7 + c * 3 + b * 50) % 251', cols: 777, rows: 1000, bands: 2 },
    { name: 'Int16 1301x517', dtype: 'Int16', expr: 'rng.integers(-30000, 30000, (rows, cols))', cols: 1301, rows: 517 },
  ];
  for (const cs of cases) {
    test(`single pass NEAREST: ${cs.name}`, async () => {
      const base = path.join(dir, cs.name.replace(/[^A-Za-z0-9]+/g, '_'));
      makeTestRaster({ path: base + '_src.tif', cols: cs.cols, rows: cs.rows, bands: cs.bands ?? 1, dtype: cs.dtype, expr: cs.expr, seed: 3 });
      const r = await copyWithStats(base + '_src.tif', base + '_out.tif', { nodata: null, overviewMinDim: 8 });
      assert.equal(r.singlePassPyramids, true);
      assert.deepEqual(r.levels, chooseOverviewLevels(cs.cols, cs.rows, { overviewLevels: DEFAULT_STATS_OPTIONS.overviewLevels, overviewMinDim: 8 }));
      assert.ok(r.levels.length >= 4);
      const cmp = compareWithGdaladdo(base + '_out.tif', base + '_copy.tif', r.levels, 'nearest');
      assert.equal(cmp.length, cs.bands ?? 1);
      for (const band of cmp) {
        for (const lv of band) {
          assert.deepEqual(lv.shape, lv.gdalShape, `level ${lv.level} shape`);
          assert.ok(lv.equal, `level ${lv.level}: ${lv.ndiff} pixels differ from gdaladdo`);
        }
      }
      assert.ok(r.timings.get('pyramids') > 0);
    });
  }

  test('single pass NEAREST, Int32 beyond float32 precision: exact, and within float32 rounding of gdaladdo', async () => {
    const base = path.join(dir, 'int32wide');
    makeTestRaster({
      path: base + '_src.tif',
      cols: 1000,
      rows: 777,
      dtype: 'Int32',
      expr: 'rng.integers(-2_000_000_000, 2_000_000_000, (rows, cols))',
      seed: 5,
    });
    const r = await copyWithStats(base + '_src.tif', base + '_out.tif', { nodata: null, overviewMinDim: 8 });
    const cmp = compareWithGdaladdo(base + '_out.tif', base + '_copy.tif', r.levels, 'nearest')[0]!;
    for (const lv of cmp) {
      // GDAL 3.6 resamples Int32 through float32, so gdaladdo's pixels are near, not equal.
      assert.ok(lv.maxRelDiff >= 0 && lv.maxRelDiff <= 2 ** -21, `level ${lv.level}: ${JSON.stringify(lv)}`);
    }
    // Exactness: each overview pixel is the base pixel gdaladdo's own index maps point at.
    const maps = gdaladdoIndexMaps(1000, 777, r.levels);
    const exact = oracle<boolean[]>(
      `
d = gdal.Open(args['path']); b = d.GetRasterBand(1); base = b.ReadAsArray()
res = []
for i, m in enumerate(args['maps']):
    ov = b.GetOverview(i).ReadAsArray()
    res.append(bool(np.array_equal(ov, base[np.ix_(m['rows'], m['cols'])])))
out(res)
`,
      { path: base + '_out.tif', maps },
    );
    assert.deepEqual(
      exact,
      r.levels.map(() => true),
    );
  });

  test('window sizes and block order do not change the overviews', async () => {
    const base = path.join(dir, 'order');
    makeTestRaster({ path: base + '_src.tif', cols: 1000, rows: 777, dtype: 'Float32', expr: 'rng.random((rows, cols)).astype(np.float32)', seed: 9 });
    const r = await copyWithStats(base + '_src.tif', base + '_out.tif', { nodata: null, overviewMinDim: 8 }, { x: 384, y: 100 }, 'reverse');
    for (const lv of compareWithGdaladdo(base + '_out.tif', base + '_copy.tif', r.levels, 'nearest')[0]!) {
      assert.ok(lv.equal, `level ${lv.level}: ${lv.ndiff} pixels differ`);
    }
  });

  test('AVERAGE is built after writing and equals gdaladdo -r average', async () => {
    const base = path.join(dir, 'avg');
    makeTestRaster({ path: base + '_src.tif', cols: 1000, rows: 777, dtype: 'Float32', expr: 'rng.normal(5, 2, (rows, cols)).astype(np.float32)', seed: 11 });
    const r = await copyWithStats(base + '_src.tif', base + '_out.tif', { nodata: null, overviewMinDim: 8, overviewAggregationType: 'average' });
    assert.equal(r.singlePassPyramids, false);
    for (const lv of compareWithGdaladdo(base + '_out.tif', base + '_copy.tif', r.levels, 'average')[0]!) {
      assert.ok(lv.equal, `level ${lv.level}: ${lv.ndiff} pixels differ`);
    }
  });

  // AVERAGE given explicitly is used for thematic layers too, as in RIOS; as a default (from
  // RIOS_DFLT_OVERVIEWAGGTYPE, say) it is not: they keep NEAREST, written while writing
  for (const [given, agg] of [
    [true, 'average'],
    [false, 'nearest'],
  ] as const) {
    test(`thematic outputs with AVERAGE ${given ? 'asked for explicitly get it' : 'as a default get NEAREST'} (equal to gdaladdo -r ${agg})`, async () => {
      const base = path.join(dir, `them-${agg}`);
      makeTestRaster({ path: base + '_src.tif', cols: 900, rows: 700, dtype: 'Byte', expr: '(r // 9 + c // 13) % 7', seed: 1 });
      const r = await copyWithStats(base + '_src.tif', base + '_out.tif', {
        nodata: null,
        overviewMinDim: 8,
        overviewAggregationType: 'AVERAGE',
        overviewAggregationGiven: given,
        thematic: true,
      });
      assert.equal(r.singlePassPyramids, !given);
      for (const lv of compareWithGdaladdo(base + '_out.tif', base + '_copy.tif', r.levels, agg)[0]!) {
        assert.ok(lv.equal, `level ${lv.level}: ${lv.ndiff} pixels differ`);
      }
    });
  }
});

describe('overview levels and options', () => {
  test("levels by RIOS's rule: as many as have floor(smallest side / level) > overviewMinDim", () => {
    const o = statsOptionsFromEnv({}, {});
    // 260 // 8 = 32 is not > 32 (dividing in floating point, 32.5, would keep a level too many)
    assert.deepEqual(chooseOverviewLevels(300, 260, { overviewLevels: o.overviewLevels, overviewMinDim: 32 }), [4]);
    assert.deepEqual(chooseOverviewLevels(300, 264, { overviewLevels: o.overviewLevels, overviewMinDim: 32 }), [4, 8]);
    // RIOS counts the levels that pass and takes that many from the front of the list
    assert.deepEqual(chooseOverviewLevels(1000, 1000, { overviewLevels: [64, 4, 8], overviewMinDim: 100 }), [64, 4]);
    assert.deepEqual(chooseOverviewLevels(6000, 6000, o), [4, 8, 16, 32]);
    assert.deepEqual(chooseOverviewLevels(12000, 9000, o), [4, 8, 16, 32, 64]);
    assert.deepEqual(chooseOverviewLevels(100000, 513, o), [], '513 // 4 = 128 is not > 128');
    assert.deepEqual(chooseOverviewLevels(100000, 516, o), [4]);
    assert.deepEqual(chooseOverviewLevels(512, 100000, o), []);
    assert.deepEqual(chooseOverviewLevels(1000, 777, { overviewLevels: [2, 4, 2], overviewMinDim: 100 }), [2, 4]);
  });
  test('environment variables set the defaults; explicit values win; bad values are ControlsErrors', () => {
    const env = { RIOS_DFLT_OVERVIEWLEVELS: '2,4,8', RIOS_DFLT_MINOVERLEVELDIM: '10', RIOS_DFLT_OVERVIEWAGGTYPE: 'average' };
    const o = statsOptionsFromEnv({}, env);
    assert.deepEqual(o.overviewLevels, [2, 4, 8]);
    assert.equal(o.overviewMinDim, 10);
    assert.equal(o.overviewAggregationType, 'AVERAGE');
    const p = statsOptionsFromEnv({ overviewLevels: [16], overviewMinDim: undefined }, env);
    assert.deepEqual(p.overviewLevels, [16]);
    assert.equal(p.overviewMinDim, 10);
    assert.deepEqual(statsOptionsFromEnv({}, {}).overviewLevels, DEFAULT_STATS_OPTIONS.overviewLevels);
    assert.throws(() => statsOptionsFromEnv({}, { RIOS_DFLT_OVERVIEWLEVELS: '4,x' }), ControlsError);
    assert.throws(() => statsOptionsFromEnv({}, { RIOS_DFLT_MINOVERLEVELDIM: '-1' }), ControlsError);
    assert.throws(() => statsOptionsFromEnv({ overviewAggregationType: 'SMOOTH' }, {}), ControlsError);
  });
});
