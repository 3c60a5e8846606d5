/**
 * Statistics, histograms and pyramids of apply()'s outputs, end to end, against what GDAL and
 * numpy compute afresh on a copy without stored statistics, and against gdaladdo.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apply } from '../../../src/index.js';
import { makeRaster, py } from '../../helpers/py.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-astats-'));
  makeRaster({ path: f('a.tif'), cols: 1100, rows: 900, dtype: 'Float32', expr: '(np.sin(c / 37.0) * 100 + r * 0.1).astype(np.float32)' });
  makeRaster({ path: f('k.tif'), cols: 1100, rows: 900, dtype: 'Int16', expr: '((r // 7) * 13 + (c // 11) * 5) % 1500 - 200' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Check {
  stored: Record<string, string>[];
  gdal: number[][];
  numpy: { min: number; max: number; mean: number; std: number; hist: number[]; median: number; mode: number }[];
  ovr: { levels: number[][]; same: boolean[] };
}

/** Compare stored statistics with GDAL on a gdal_translate copy and with numpy; overviews with gdaladdo. */
function check(file: string, nodata: number | null, method = 'NEAREST'): Check {
  return py<Check>(
    `
import subprocess, os
f = args['f']; nodata = args['nodata']
copy = f + '.copy.tif'
subprocess.run(['gdal_translate', '-q', '-of', 'GTiff', f, copy], check=True)
ds = gdal.Open(f)
cp = gdal.Open(copy, gdal.GA_Update)
stored, g, npy = [], [], []
for i in range(ds.RasterCount):
    b = ds.GetRasterBand(i + 1)
    stored.append(b.GetMetadata())
    cb = cp.GetRasterBand(i + 1)
    cb.SetMetadata({})  # no stored statistics: GDAL computes them afresh
    if nodata is not None: cb.SetNoDataValue(nodata)
    assert cb.GetMetadataItem('STATISTICS_MEAN') is None
    g.append(list(cb.ComputeStatistics(False)))
    a = b.ReadAsArray().astype(np.float64).ravel()
    if nodata is not None: a = a[a != nodata]
    md = b.GetMetadata()
    n = int(md['STATISTICS_HISTONUMBINS']); lo = float(md['STATISTICS_HISTOMIN']); hi = float(md['STATISTICS_HISTOMAX'])
    if md['STATISTICS_HISTOBINFUNCTION'] == 'direct':
        idx = (a - lo).astype(np.int64)
    else:
        idx = np.minimum(((a - lo) / (hi - lo) * n).astype(np.int64), n - 1)
    h = np.bincount(idx, minlength=n)
    npy.append({'min': float(a.min()), 'max': float(a.max()), 'mean': float(a.mean()), 'std': float(a.std()), 'hist': h.tolist(),
                'median': float(np.median(a)), 'mode': int(h.argmax())})
# overviews: gdaladdo with the same levels on a copy of the base
b1 = ds.GetRasterBand(1)
levels = [[b1.GetOverview(k).XSize, b1.GetOverview(k).YSize] for k in range(b1.GetOverviewCount())]
factors = [round(ds.RasterXSize / lx) for lx, ly in levels]
cp = None
subprocess.run(['gdaladdo', '-q', '-r', args['method'].lower(), copy] + [str(x) for x in factors], check=True)
cp = None; cp = gdal.Open(copy)
same = []
for k in range(len(levels)):
    for i in range(ds.RasterCount):
        same.append(bool((ds.GetRasterBand(i + 1).GetOverview(k).ReadAsArray() == cp.GetRasterBand(i + 1).GetOverview(k).ReadAsArray()).all()))
out({'stored': stored, 'gdal': g, 'numpy': npy, 'ovr': {'levels': levels, 'same': same}})
`,
    { f: file, nodata, method },
  );
}

function assertStats(c: Check): void {
  c.stored.forEach((md, i) => {
    const [gmin, gmax, gmean, gstd] = c.gdal[i]!;
    const n = c.numpy[i]!;
    assert.equal(Number(md.STATISTICS_MINIMUM), gmin);
    assert.equal(Number(md.STATISTICS_MAXIMUM), gmax);
    assert.ok(Math.abs(Number(md.STATISTICS_MEAN) - gmean!) <= 1e-9 * Math.max(1, Math.abs(gmean!)), `mean ${md.STATISTICS_MEAN} vs ${gmean}`);
    assert.ok(Math.abs(Number(md.STATISTICS_STDDEV) - gstd!) <= 1e-7 * Math.max(1, gstd!), `stddev ${md.STATISTICS_STDDEV} vs ${gstd}`);
    assert.equal(Number(md.STATISTICS_MINIMUM), n.min);
    assert.ok(Math.abs(Number(md.STATISTICS_MEAN) - n.mean) <= 1e-9 * Math.max(1, Math.abs(n.mean)));
    const hist = md
      .STATISTICS_HISTOBINVALUES!.split('|')
      .filter((s) => s !== '')
      .map(Number);
    assert.deepEqual(hist, n.hist);
  });
}

test('Float32 output: basic stats equal GDAL on a copy; 256-bin histogram equals numpy; NEAREST pyramids equal gdaladdo', async () => {
  await apply(
    (_i, inputs, outputs) => {
      outputs.o = inputs.a.map((v) => (v > 90 ? 0 : v * 2), 'Float32');
    },
    { a: f('a.tif') },
    { o: f('float.tif') },
    { controls: { windowXSize: 128, windowYSize: 128 } },
  );
  const c = check(f('float.tif'), 0);
  assertStats(c);
  assert.equal(c.stored[0]!.STATISTICS_HISTONUMBINS, '256');
  assert.equal(c.stored[0]!.STATISTICS_HISTOBINFUNCTION, 'linear');
  assert.deepEqual(c.ovr.levels, [[275, 225]]); // 1100/4 = 275 > 128 kept; /8 = 137.5, 900/8 = 112.5 < 128 dropped
  assert.ok(c.ovr.same.every(Boolean));
});

test('Int16 output with a wide range and nodata; AVERAGE pyramids after writing equal gdaladdo', async () => {
  await apply(
    (_i, inputs, outputs) => {
      outputs.k2 = inputs.k!;
    },
    { k: f('k.tif') },
    { k2: f('int.tif') },
    { controls: { statsIgnore: -200, overviewAggregationType: 'AVERAGE', overviewLevels: [2, 4], overviewMinDim: 100 } },
  );
  const c = check(f('int.tif'), -200, 'AVERAGE');
  assertStats(c);
  assert.equal(c.stored[0]!.STATISTICS_HISTOBINFUNCTION, 'linear'); // range 1499 >= 256
  assert.deepEqual(c.ovr.levels, [
    [550, 450],
    [275, 225],
  ]);
  assert.ok(c.ovr.same.every(Boolean));
});

test('Byte multi-band output: one bin per value from 0, median and mode', async () => {
  await apply(
    (_i, inputs, outputs) => {
      const k = inputs.k.band(0);
      const o = inputs.k.like('Byte', 2);
      const b0 = o.band(0);
      const b1 = o.band(1);
      for (let i = 0; i < k.length; i++) {
        b0[i] = (k[i]! + 200) % 97;
        b1[i] = ((k[i]! + 200) % 5) + 10;
      }
      outputs.o = o;
    },
    { k: f('k.tif') },
    { o: f('byte.tif') },
  );
  const c = check(f('byte.tif'), 0);
  assertStats(c);
  assert.equal(c.stored[1]!.STATISTICS_HISTOBINFUNCTION, 'direct');
  assert.equal(c.stored[1]!.STATISTICS_HISTOMIN, '0');
  assert.equal(Number(c.stored[1]!.STATISTICS_HISTONUMBINS), 15);
  assert.equal(Number(c.stored[1]!.STATISTICS_MEDIAN), c.numpy[1]!.median);
  assert.equal(Number(c.stored[1]!.STATISTICS_MODE), c.numpy[1]!.mode);
  assert.ok(c.ovr.same.every(Boolean));
});

test('omitting statistics per image', async () => {
  await apply(
    (_i, inputs, outputs) => {
      outputs.a = inputs.k!;
      outputs.b = inputs.k!;
    },
    { k: f('k.tif') },
    { a: f('nostats.tif'), b: f('nopyr.tif') },
    { controls: { images: { a: { calcStats: false }, b: { omitPyramids: true, omitHistogram: true } } } },
  );
  const r = py<{ a: [number, string | null]; b: [number, string | null, string | null] }>(
    `
a = gdal.Open(args['a']); b = gdal.Open(args['b'])
ba = a.GetRasterBand(1); bb = b.GetRasterBand(1)
out({'a': [ba.GetOverviewCount(), ba.GetMetadataItem('STATISTICS_MEAN')],
     'b': [bb.GetOverviewCount(), bb.GetMetadataItem('STATISTICS_HISTOBINVALUES'), bb.GetMetadataItem('STATISTICS_MEAN')]})
`,
    { a: f('nostats.tif'), b: f('nopyr.tif') },
  );
  assert.deepEqual(r.a, [0, null]);
  assert.equal(r.b[0], 0);
  assert.equal(r.b[1], null);
  assert.notEqual(r.b[2], null);
});

test("approxStats (RIOS's): statistics from the pyramid level GDAL samples, equal to GDAL's approximate statistics of the output", async () => {
  makeRaster({ path: f('big.tif'), cols: 2000, rows: 1400, dtype: 'Float32', expr: 'np.sin(r / 37.0) * 40 + c / 25.0' });
  await apply(
    (_i, inputs, outputs) => {
      outputs.o = inputs.a.map((v) => v * 2, 'Float32');
      outputs.exact = outputs.o;
    },
    { a: f('big.tif') },
    { o: f('approx.tif'), exact: f('exact.tif') },
    { controls: { statsIgnore: null, images: { o: { approxStats: true } } } },
  );
  const r = py<{ md: Record<string, string>; exact: Record<string, string>; gdal: number[]; sampled: number[] }>(
    `
gdal.SetConfigOption('GDAL_PAM_ENABLED', 'NO')
ds = gdal.Open(args['o']); b = ds.GetRasterBand(1)
ov = min((b.GetOverview(i) for i in range(b.GetOverviewCount()) if b.GetOverview(i).XSize * b.GetOverview(i).YSize >= 2500), key=lambda o: o.XSize * o.YSize)
ex = gdal.Open(args['exact'])  # kept in a variable: GDAL's bands must not outlive their dataset
out({'md': b.GetMetadata(), 'exact': ex.GetRasterBand(1).GetMetadata(), 'gdal': list(b.ComputeStatistics(True)), 'sampled': [ov.XSize, ov.YSize]})
`,
    { o: f('approx.tif'), exact: f('exact.tif') },
  );
  assert.deepEqual(r.sampled, [250, 175], '1400 // 8 = 175 > 128: levels 4 and 8; level 8 is the smallest with 2500 pixels');
  assert.equal(r.md.STATISTICS_APPROXIMATE, 'YES');
  assert.equal(r.md.STATISTICS_SKIPFACTORX, undefined);
  assert.equal(Number(r.md.STATISTICS_MINIMUM), r.gdal[0]);
  assert.equal(Number(r.md.STATISTICS_MAXIMUM), r.gdal[1]);
  assert.ok(Math.abs(Number(r.md.STATISTICS_MEAN) - r.gdal[2]!) <= 1e-9 * Math.abs(r.gdal[2]!), `mean ${r.md.STATISTICS_MEAN} vs GDAL ${r.gdal[2]}`);
  assert.ok(Math.abs(Number(r.md.STATISTICS_STDDEV) - r.gdal[3]!) <= 1e-6 * r.gdal[3]!, `stddev ${r.md.STATISTICS_STDDEV} vs GDAL ${r.gdal[3]}`);
  // the other output, without approxStats, counted every pixel
  assert.equal(r.exact.STATISTICS_SKIPFACTORX, '1');
  assert.equal(r.exact.STATISTICS_APPROXIMATE, undefined);
});

test("singlePassPyramids / singlePassBasicStats / singlePassHistogram false (RIOS's): computed after writing, and the same as in one pass", async () => {
  makeRaster({ path: f('sp.tif'), cols: 1300, rows: 900, dtype: 'Float32', expr: 'np.cos(c / 53.0) * 30 + r / 7.0', nodata: -1 });
  const after = { singlePassPyramids: false, singlePassBasicStats: false, singlePassHistogram: false };
  await apply(
    (_i, inputs, outputs) => {
      outputs.one = inputs.a.map((v) => (v > 100 ? 0 : v), 'Float32');
      outputs.two = outputs.one;
      outputs.ints = inputs.a.map((v) => Math.round(v), 'Int16');
      outputs.ints2 = outputs.ints;
    },
    { a: f('sp.tif') },
    { one: f('sp-one.tif'), two: f('sp-two.tif'), ints: f('sp-ints.tif'), ints2: f('sp-ints2.tif') },
    { controls: { windowXSize: 192, windowYSize: 128, images: { two: after, ints2: after } } },
  );
  const r = py<{ pairs: { diff: Record<string, unknown>; ovs: boolean[]; keys: number }[] }>(
    `
res = []
for a, b in args['pairs']:
    da = gdal.Open(a); db = gdal.Open(b); ba = da.GetRasterBand(1); bb = db.GetRasterBand(1)
    ma = {k: v for k, v in ba.GetMetadata().items() if k.startswith('STATISTICS_')}
    mb = {k: v for k, v in bb.GetMetadata().items() if k.startswith('STATISTICS_')}
    ovs = [bool(np.array_equal(ba.GetOverview(i).ReadAsArray(), bb.GetOverview(i).ReadAsArray())) for i in range(ba.GetOverviewCount())]
    res.append({'diff': {k: [ma.get(k), mb.get(k)] for k in set(ma) | set(mb) if ma.get(k) != mb.get(k)},
                'ovs': ovs if ba.GetOverviewCount() == bb.GetOverviewCount() else [False], 'keys': len(ma)})
out({'pairs': res})
`,
    {
      pairs: [
        [f('sp-one.tif'), f('sp-two.tif')],
        [f('sp-ints.tif'), f('sp-ints2.tif')],
      ],
    },
  );
  for (const [i, p] of r.pairs.entries()) {
    assert.ok(p.keys >= 12, `pair ${i}: statistics were written (${p.keys} keys)`);
    // the same metadata; mean and stddev summed in another order may differ in the last digits
    for (const [k, v] of Object.entries(p.diff) as [string, [string, string]][]) {
      assert.ok(['STATISTICS_MEAN', 'STATISTICS_STDDEV'].includes(k), `pair ${i}: ${k} differs: ${JSON.stringify(v)}`);
      assert.ok(Math.abs(Number(v[0]) - Number(v[1])) <= 1e-12 * Math.abs(Number(v[0])), `pair ${i}: ${k} ${v[0]} vs ${v[1]}`);
    }
    assert.ok(p.ovs.length >= 1 && p.ovs.every(Boolean), `pair ${i}: the same NEAREST overviews built by GDAL after writing as block by block`);
  }
});
