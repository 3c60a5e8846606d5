/**
 * VectorRasterizer (what a vector input's source runs) block by block (windows with overlap margins) against gdal_rasterize
 * (gdal.Rasterize in Python) run once on the whole grid: burn value, burnAttribute, filterSQL,
 * allTouched, vectorNull, data type, layer by name and index, a layer in another CRS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { subGrid, type PixelGridSpec } from '../../../src/grid.js';
import { toWkt } from '../../../src/gdal/srs.js';
import { VectorRasterizer, type RasterizeOptions } from '../../../src/gdal/rasterize.js';
import type { AnyTypedArray } from '../../../src/dtypes.js';

/** One VectorRasterizer per file, kept for every block as a vector input's source keeps its own. */
const rasterizers = new Map<string, VectorRasterizer>();
function rasterizeBlock(path: string, target: { grid: PixelGridSpec }, opts: RasterizeOptions = {}): Promise<AnyTypedArray> {
  let r = rasterizers.get(path);
  if (!r) rasterizers.set(path, (r = new VectorRasterizer({ path })));
  return r.rasterize(target.grid, opts);
}
import { py } from '../../helpers/gridpy.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);
const MARGIN = 2;
const BX = 50;
const BY = 40;
let W: PixelGridSpec;
let Wm: PixelGridSpec;
/** OGR's 0-based index of layer 'fields' (GeoPackage lists layers in its own order). */
let fieldsIndex: number;

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-rasterize-'));
  W = { projection: toWkt('EPSG:32755'), transform: [500000, 30, 0, 6100000, 0, -30], cols: 180, rows: 130 };
  Wm = subGrid(W, -MARGIN, -MARGIN, W.cols + 2 * MARGIN, W.rows + 2 * MARGIN);
  fieldsIndex = py<number>(
    `
from osgeo import ogr, osr
d = args['dir']
u = osr.SpatialReference(); u.ImportFromEPSG(32755); u.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
g = osr.SpatialReference(); g.ImportFromEPSG(4326); g.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(u, g)
X, Y = 500000, 6100000
polys = [
  # (wkt in metres relative to the grid origin, val, kind)
  ('POLYGON((113.7 -97.3, 2911.1 -405.9, 1702.3 -2287.6, 113.7 -97.3))', 5, 'crop'),
  ('POLYGON((1490.2 -1490.9, 5212.5 -1500.3, 5190.7 -3790.1, 1488.4 -3801.7, 1490.2 -1490.9),(2500.3 -2000.1, 3500.9 -2000.7, 3500.2 -3000.3, 2500.6 -2999.4, 2500.3 -2000.1))', 9, 'forest'),
  ('POLYGON((4700.4 -100.2, 5500.8 -80.6, 5480.1 -900.3, 4700.4 -100.2))', 200, 'crop'),   # reaches past the right edge
  ('POLYGON((-300.3 -3500.2, 600.1 -3600.7, 200.9 -4200.4, -300.3 -3500.2))', 77, 'water'), # reaches past the left/bottom
  ('POLYGON((3001.0 -601.0, 3044.0 -601.0, 3044.0 -644.0, 3001.0 -644.0, 3001.0 -601.0))', 33, 'tiny'), # smaller than a pixel
]
for name, srs, tr in (('utm.gpkg', u, None), ('geo.gpkg', g, ct)):
    ds = ogr.GetDriverByName('GPKG').CreateDataSource(d + '/' + name)
    ds.CreateLayer('empty', srs, ogr.wkbPolygon)
    lyr = ds.CreateLayer('fields', srs, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn('val', ogr.OFTInteger)); lyr.CreateField(ogr.FieldDefn('kind', ogr.OFTString))
    for wkt, val, kind in polys:
        geom = ogr.CreateGeometryFromWkt(wkt)
        # shift to world coordinates
        for ri in range(geom.GetGeometryCount()):
            ring = geom.GetGeometryRef(ri)
            for i in range(ring.GetPointCount()):
                x, y = ring.GetX(i), ring.GetY(i)
                ring.SetPoint_2D(i, X + x, Y + y)
        if tr is not None:
            geom.Transform(tr)
        ft = ogr.Feature(lyr.GetLayerDefn()); ft.SetGeometry(geom); ft.SetField('val', val); ft.SetField('kind', kind); lyr.CreateFeature(ft)
    ds = None
ds = ogr.Open(d + '/utm.gpkg')
out([ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())].index('fields'))
`,
    { dir },
  );
});

after(async () => {
  await Promise.all([...rasterizers.values()].map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** gdal_rasterize onto the whole of Wm, read back as float64. */
function oracle(vec: string, o: RasterizeOptions & { layerName: string }): Float64Array {
  const bin = f(`oracle-${Math.random().toString(36).slice(2)}.bin`);
  py(
    `
g = args['grid']; o = args['o']
ds = gdal.GetDriverByName('MEM').Create('', g['cols'], g['rows'], 1, gdal.GetDataTypeByName(o.get('vectorDatatype') or 'Byte'))
ds.SetProjection(g['projection']); ds.SetGeoTransform(g['transform'])
ds.GetRasterBand(1).Fill(o.get('vectorNull') or 0)
opts = ['-l', o['layerName']]
if o.get('burnAttribute'): opts += ['-a', o['burnAttribute']]
else: opts += ['-burn', str(o.get('burnValue', 1))]
if o.get('filterSQL'): opts += ['-where', o['filterSQL']]
if o.get('allTouched'): opts += ['-at']
gdal.Rasterize(ds, args['vec'], options=gdal.RasterizeOptions(options=opts))
ds.GetRasterBand(1).ReadAsArray().astype('float64').tofile(args['bin'])
out(True)
`,
    { grid: Wm, o, vec, bin },
  );
  const buf = readFileSync(bin);
  return new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
}

/** Rasterize W block by block (windows with margins) and compare every window with the oracle. */
async function compare(vec: string, o: RasterizeOptions, layerName: string): Promise<{ burnt: number }> {
  const want = oracle(vec, { ...o, layerName });
  let burnt = 0;
  const nullV = o.vectorNull ?? 0;
  for (let yoff = 0; yoff < W.rows; yoff += BY) {
    for (let xoff = 0; xoff < W.cols; xoff += BX) {
      const xs = Math.min(BX, W.cols - xoff);
      const ys = Math.min(BY, W.rows - yoff);
      const win = subGrid(W, xoff - MARGIN, yoff - MARGIN, xs + 2 * MARGIN, ys + 2 * MARGIN);
      const got = await rasterizeBlock(vec, { grid: win }, o);
      const rows = ys + 2 * MARGIN;
      const cols = xs + 2 * MARGIN;
      assert.equal(got.length, rows * cols);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const w = want[(yoff + r) * Wm.cols + xoff + c]!;
          const g = got[r * cols + c]!;
          if (g !== w) assert.fail(`row ${yoff - MARGIN + r} col ${xoff - MARGIN + c}: got ${g}, gdal_rasterize ${w}`);
          if (w !== nullV && r >= MARGIN && c >= MARGIN && r < rows - MARGIN && c < cols - MARGIN) burnt++;
        }
      }
    }
  }
  return { burnt };
}

describe('rasterizeBlock equals gdal_rasterize on the whole grid', () => {
  for (const vec of ['utm.gpkg', 'geo.gpkg']) {
    test(`${vec}: burnValue, layer by name, default Byte and vectorNull`, async () => {
      const { burnt } = await compare(f(vec), { vectorLayer: 'fields', burnValue: 3 }, 'fields');
      assert.ok(burnt > 2000, `${burnt} pixels burnt`);
    });
    test(`${vec}: burnAttribute as Int16, layer by 0-based index, vectorNull -1`, async () => {
      const { burnt } = await compare(f(vec), { vectorLayer: fieldsIndex, burnAttribute: 'val', vectorDatatype: 'Int16', vectorNull: -1 }, 'fields');
      assert.ok(burnt > 2000);
    });
    test(`${vec}: filterSQL selects features`, async () => {
      const all = await compare(f(vec), { vectorLayer: 'fields', burnAttribute: 'val', filterSQL: "kind = 'crop'" }, 'fields');
      const none = await compare(f(vec), { vectorLayer: 'fields', filterSQL: "kind = 'nothing'" }, 'fields');
      assert.ok(all.burnt > 500);
      assert.equal(none.burnt, 0);
    });
    test(`${vec}: allTouched burns more pixels, including the sub-pixel feature`, async () => {
      const at = await compare(f(vec), { vectorLayer: 'fields', burnAttribute: 'val', allTouched: true, vectorDatatype: 'Float32' }, 'fields');
      const centre = await compare(f(vec), { vectorLayer: 'fields', burnAttribute: 'val', vectorDatatype: 'Float32' }, 'fields');
      assert.ok(at.burnt > centre.burnt, `${at.burnt} vs ${centre.burnt}`);
    });
  }
  test('a filter does not stick to the layer: the next call without one sees every feature', async () => {
    const win = subGrid(W, 0, 0, W.cols, W.rows);
    const filtered = await rasterizeBlock(f('utm.gpkg'), { grid: win }, { vectorLayer: 'fields', filterSQL: "kind = 'tiny'" });
    const all = await rasterizeBlock(f('utm.gpkg'), { grid: win }, { vectorLayer: 'fields' });
    const count = (a: ArrayLike<number>): number => Array.from(a).filter((v) => v !== 0).length;
    assert.ok(count(all as Uint8Array) > count(filtered as Uint8Array) + 1000);
  });
  test('concurrent calls on one file with different options stay separate', async () => {
    const win = subGrid(W, 10, 10, 100, 90);
    const opts: RasterizeOptions[] = [
      { vectorLayer: 'fields', filterSQL: "kind = 'crop'", burnValue: 1 },
      { vectorLayer: 'fields', burnValue: 2 },
      { vectorLayer: 'fields', filterSQL: "kind = 'forest'", burnValue: 3 },
    ];
    const together = await Promise.all(opts.map((o) => rasterizeBlock(f('geo.gpkg'), { grid: win }, o)));
    for (let i = 0; i < opts.length; i++) {
      const alone = await rasterizeBlock(f('geo.gpkg'), { grid: win }, opts[i]);
      assert.deepEqual(Array.from(together[i]! as Uint8Array), Array.from(alone as Uint8Array));
    }
  });
  test('an empty layer burns nothing; unknown layers and fields are errors', async () => {
    const win = subGrid(W, 0, 0, 20, 20);
    const a = await rasterizeBlock(f('utm.gpkg'), { grid: win }, { vectorLayer: 'empty', vectorNull: 4 });
    assert.ok(Array.from(a as Uint8Array).every((v) => v === 4));
    await assert.rejects(rasterizeBlock(f('utm.gpkg'), { grid: win }, { vectorLayer: 'nope' }), {
      code: 'CONTROLS',
      message: /layers: (empty, fields|fields, empty)/,
    });
    await assert.rejects(rasterizeBlock(f('utm.gpkg'), { grid: win }, { vectorLayer: 2 }), { code: 'CONTROLS' });
    await assert.rejects(rasterizeBlock(f('utm.gpkg'), { grid: win }, { vectorLayer: 'fields', burnAttribute: 'nosuch' }), { code: 'GDAL' });
    await assert.rejects(rasterizeBlock(f('missing.gpkg'), { grid: win }, {}), { code: 'INPUT_MISSING' });
  });
});
