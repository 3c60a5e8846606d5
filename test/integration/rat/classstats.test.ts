/**
 * Per-class statistics (src/rat/classstats.ts) against numpy over the same pixels: count, mean,
 * min, max and standard deviation per class, nodata of either image and NaN left out, written to
 * the thematic image's table; sequential, CW_THREADS and CW_SUBPROC agree; bad input refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { calcClassStats, rat, ControlsError, type ClassStats } from '../../../src/index.js';
import { py } from '../../helpers/py.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-classstats-'));
  py(
    `
drv = gdal.GetDriverByName('HFA'); gt = (500000, 10, 0, 6000000, 0, -10)
r, c = np.mgrid[0:210, 0:170]
cls = ((r // 9) * 7 + c // 11) % 37 + 1
cls[:5, :] = 0                       # class 0 is the nodata of the classes
ds = drv.Create(args['c'], 170, 210, 1, gdal.GDT_Int32); ds.SetGeoTransform(gt)
b = ds.GetRasterBand(1); b.WriteArray(cls.astype(np.int32)); b.SetNoDataValue(0); b = None; ds = None
rng = np.random.default_rng(3)
vals = rng.normal(100, 25, (2, 210, 170)).astype(np.float32)
vals[1][::13, ::7] = -9999            # nodata of band 2
vals[1][50, 50] = np.nan
ds = gdal.GetDriverByName('GTiff').Create(args['v'], 170, 210, 2, gdal.GDT_Float32); ds.SetGeoTransform(gt)
for i in (1, 2):
    b = ds.GetRasterBand(i); b.WriteArray(vals[i - 1]); b.SetNoDataValue(-9999); b = None
ds = None
out(True)
`,
    { c: f('classes.img'), v: f('values.tif') },
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** numpy's per-class statistics of band `band`. */
function numpyStats(band: number): { count: number[]; mean: (number | null)[]; min: (number | null)[]; max: (number | null)[]; std: (number | null)[] } {
  return py(
    `
dc = gdal.Open(args['c']); dv = gdal.Open(args['v'])
c = dc.ReadAsArray().ravel(); v = dv.GetRasterBand(args['b']).ReadAsArray().astype(np.float64).ravel()
ok = (c != 0) & (v != -9999) & ~np.isnan(v)
c = c[ok]; v = v[ok]; n = int(c.max()) + 1
res = {'count': [], 'mean': [], 'min': [], 'max': [], 'std': []}
for k in range(n):
    x = v[c == k]
    res['count'].append(int(len(x)))
    for key, fn in (('mean', np.mean), ('min', np.min), ('max', np.max), ('std', np.std)):
        res[key].append(float(fn(x)) if len(x) else None)
out(res)
`,
    { c: f('classes.img'), v: f('values.tif'), b: band },
  );
}

function assertClose(got: ClassStats, want: ReturnType<typeof numpyStats>, what: string): void {
  assert.deepEqual(Array.from(got.count), want.count, `${what}: counts`);
  for (const [k, w] of [
    ['mean', want.mean],
    ['min', want.min],
    ['max', want.max],
    ['stddev', want.std],
  ] as const) {
    const g = got[k];
    w.forEach((x, i) => {
      if (x === null) assert.ok(Number.isNaN(g[i]!), `${what}: ${k}[${i}] of an empty class is NaN`);
      else assert.ok(Math.abs(g[i]! - x) <= 1e-9 * Math.max(1, Math.abs(x)), `${what}: ${k}[${i}] ${g[i]} vs numpy ${x}`);
    });
  }
}

test('sequential: equal to numpy (band 2, with nodata and NaN); columns written to the thematic table', async () => {
  const want = numpyStats(2);
  const got = await calcClassStats(f('classes.img'), f('values.tif'), { band: 2, columnPrefix: 'b2_', controls: { windowXSize: 64, windowYSize: 48 } });
  assertClose(got, want, 'sequential');
  const table = py<Record<string, number[]>>(
    `
ds = gdal.Open(args['p']); t = ds.GetRasterBand(1).GetDefaultRAT()
out({t.GetNameOfCol(i): t.ReadAsArray(i).tolist() for i in range(t.GetColumnCount())})
`,
    { p: f('classes.img') },
  );
  assert.deepEqual(table.b2_Count!.slice(0, want.count.length), want.count);
  table
    .b2_Mean!.slice(0, want.count.length)
    .forEach((m, i) => assert.ok(Math.abs(m - (want.mean[i] ?? 0)) <= 1e-9 * Math.max(1, Math.abs(m)), `b2_Mean[${i}]`));
  assert.deepEqual(
    table.b2_Max!.slice(0, want.count.length),
    want.max.map((x) => x ?? 0),
    'an empty class (0, the nodata) gets 0 in the table',
  );
  assert.deepEqual((await rat.getColumnInfo(f('classes.img'))).find((c) => c.name === 'b2_Count')?.type, 'Integer');
});

test('CW_THREADS and CW_SUBPROC: each worker keeps its own sums, merged to what numpy gives', async () => {
  const want = numpyStats(1);
  for (const kind of ['CW_THREADS', 'CW_SUBPROC'] as const) {
    const got = await calcClassStats(f('classes.img'), f('values.tif'), {
      noWrite: true,
      controls: { windowYSize: 32, concurrency: { computeWorkerKind: kind, numComputeWorkers: 2, numReadWorkers: 1 } },
    });
    assertClose(got, want, kind);
  }
});

test('bad input: overlap, unknown options, stats and bands refused; a negative class named with its block', async () => {
  const c = f('classes.img');
  const v = f('values.tif');
  await assert.rejects(
    calcClassStats(c, v, { controls: { overlap: 2 } }),
    (e: unknown) => e instanceof ControlsError && /overlap would count the pixels of block margins twice/.test(e.message),
  );
  await assert.rejects(
    calcClassStats(c, v, { bands: 2 } as never),
    /calcClassStats options\.bands is not a setting of calcClassStats\(\) \(did you mean band\?\)/,
  );
  await assert.rejects(calcClassStats(c, v, { stats: ['Median' as never] }), /stats must be among Count, Mean, Min, Max, StdDev/);
  await assert.rejects(calcClassStats(c, v, { band: 0 }), /band must be a whole number from 1/);
  const neg = f('neg.tif');
  py(
    `
ds = gdal.GetDriverByName('GTiff').Create(args['p'], 170, 210, 1, gdal.GDT_Int16); ds.SetGeoTransform((500000, 10, 0, 6000000, 0, -10))
a = np.ones((210, 170), np.int16); a[200, 100] = -4; ds.GetRasterBand(1).WriteArray(a); ds = None
out(True)
`,
    { p: neg },
  );
  await assert.rejects(
    calcClassStats(neg, v, { noWrite: true, controls: { windowYSize: 100 } }),
    /class value -4 in block \(0, 2\) is not a whole number from 0/,
  );
});
