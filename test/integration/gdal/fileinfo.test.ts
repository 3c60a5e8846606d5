/**
 * fileinfo (src/gdal/fileinfo.ts): imageInfo against what Python GDAL reads, imageFileStats
 * against the stored metadata and RAT, ratStats against numpy's weighted sums.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apply, fileinfo, rat, RatError } from '../../../src/index.js';
import { makeRaster, py } from '../../helpers/py.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-fileinfo-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('imageInfo and imageFileStats equal what Python GDAL reads; ratStats equals numpy, weighted and not, nodata row left out', async () => {
  makeRaster({ path: f('src.tif'), cols: 120, rows: 80, bands: 1, dtype: 'Int16', expr: '((r * 5 + c) % 17)' });
  const out = f('classes.img');
  await apply(
    (_i, inputs, outputs) => {
      outputs.cls = inputs.a!;
    },
    { a: f('src.tif') },
    { cls: out },
    { controls: { thematic: true, statsIgnore: 3, layerNames: ['zones'] } },
  );
  const o = py<{ gt: number[]; wkt: string; size: number[]; desc: string; nodata: number; meta: Record<string, string>; counts: number[] }>(
    `
ds = gdal.Open(args['p']); b = ds.GetRasterBand(1)
out({'gt': list(ds.GetGeoTransform()), 'wkt': ds.GetProjection(), 'size': [ds.RasterXSize, ds.RasterYSize], 'desc': b.GetDescription(),
     'nodata': b.GetNoDataValue(), 'meta': b.GetMetadata(), 'counts': np.bincount(b.ReadAsArray().ravel()).tolist()})
ds = None
`,
    { p: out },
  );
  const info = await fileinfo.imageInfo(out);
  assert.deepEqual(info.transform, o.gt);
  assert.equal(info.xMin, o.gt[0]);
  assert.equal(info.xMax, o.gt[0]! + o.size[0]! * o.gt[1]!);
  assert.equal(info.yMin, o.gt[3]! + o.size[1]! * o.gt[5]!);
  assert.deepEqual([info.ncols, info.nrows, info.rasterCount], [...o.size, 1]);
  assert.deepEqual(info.lnames, [o.desc]);
  assert.deepEqual(info.nodataval, [o.nodata]);
  assert.equal(info.layerType, 'thematic');
  assert.equal(info.dataTypeName, 'Int16');
  assert.ok(info.projection.length > 0 && o.wkt.length > 0);
  assert.deepEqual((await fileinfo.imageInfo(out, { omitPerBand: true })).lnames, []);

  const [s] = await fileinfo.imageFileStats(out);
  assert.equal(s!.mean, Number(o.meta.STATISTICS_MEAN));
  assert.equal(s!.max, Number(o.meta.STATISTICS_MAXIMUM));
  assert.equal(s!.histoNumBins, Number(o.meta.STATISTICS_HISTONUMBINS));
  const valid = o.counts.map((n, v) => (v === 3 ? 0 : n));
  assert.deepEqual(Array.from(s!.histoCounts!).slice(0, valid.length), valid);

  // a column per class, and its statistics over pixels
  const vals = Float64Array.from({ length: o.counts.length }, (_, v) => v * 1.5 - 4);
  await rat.writeColumn(out, 'score', vals);
  const st = await fileinfo.ratStats(out, { columnlist: ['score'] });
  const want = py<{ mean: number; std: number; count: number; min: number; max: number; rowmean: number }>(
    `
ds = gdal.Open(args['p']); b = ds.GetRasterBand(1); t = b.GetDefaultRAT()
names = [t.GetNameOfCol(i) for i in range(t.GetColumnCount())]
h = t.ReadAsArray(names.index('Histogram')); v = t.ReadAsArray(names.index('score'))
keep = np.arange(len(v)) != 3
w = h[keep]; x = v[keep]
m = (x * w).sum() / w.sum()
out({'mean': m, 'std': float(np.sqrt((w * (x - m) ** 2).sum() / w.sum())), 'count': float(w.sum()), 'min': float(x[w > 0].min()), 'max': float(x[w > 0].max()), 'rowmean': float(x.mean())})
`,
    { p: out },
  );
  const sc = st.score!;
  assert.equal(sc.count, want.count);
  assert.ok(Math.abs(sc.mean! - want.mean) < 1e-12, `${sc.mean} vs ${want.mean}`);
  assert.ok(Math.abs(sc.stddev! - want.std) < 1e-9, `${sc.stddev} vs ${want.std}`);
  assert.deepEqual([sc.min, sc.max], [want.min, want.max]);
  const rows = (await fileinfo.ratStats(out, { columnlist: ['score'], histogramweighted: false })).score!;
  assert.ok(Math.abs(rows.mean! - want.rowmean) < 1e-12);
  await assert.rejects(
    fileinfo.ratStats(f('src.tif')),
    (e: unknown) => e instanceof RatError && /src\.tif band 1: has no raster attribute table/.test(e.message),
  );
});
