/**
 * apply() with the grid layer: reprojection against gdalwarp, footprints with exact extents and
 * union fill values, references by name/filename/pixgrid, a 3x3 mean with overlap against numpy,
 * layerSelection and per-band inputNoData, vector inputs against gdal_rasterize, and errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apply, Block, pixelGridFromFile } from '../../../src/index.js';
import { gdalwarp, py, readAll } from '../../helpers/gridpy.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);
const X0 = 500000;
const Y0 = 6100000;

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-gridsrc-'));
  py(
    `
from osgeo import osr, ogr
d = args['dir']
u = osr.SpatialReference(); u.ImportFromEPSG(32755)
def make(name, gt, arr, dt, nodata=None):
    bands = arr.shape[0]
    ds = gdal.GetDriverByName('GTiff').Create(d + '/' + name, arr.shape[2], arr.shape[1], bands, dt)
    ds.SetProjection(u.ExportToWkt()); ds.SetGeoTransform(gt)
    for i in range(bands):
        b = ds.GetRasterBand(i + 1)
        if nodata is not None and nodata[i] is not None: b.SetNoDataValue(nodata[i])
        b.WriteArray(arr[i])
    return ds
r, c = np.mgrid[0:130, 0:170]
# a: Int16, 170x130 at 30 m, no nodata; b: same lattice, 12 cols right and 7 rows down, 2 bands, nodata -5
make('a.tif', [${X0}, 30, 0, ${Y0}, 0, -30], ((r * 13 + c * 7) % 500 - 250)[None].astype('int16'), gdal.GDT_Int16)
bb = np.stack([(r * 3 + c) % 300, (r + 2 * c) % 200]).astype('int16'); bb[0, 20:30, 40:60] = -5
make('b.tif', [${X0} + 12 * 30, 30, 0, ${Y0} - 7 * 30, 0, -30], bb, gdal.GDT_Int16, [-5, None])
# g: a 3-band UInt16 raster made in UTM, warped to EPSG:4326; band 2 nodata 9999 set afterwards
src = make('g-utm.tif', [${X0} + 305, 30, 0, ${Y0} - 215, 0, -30], np.stack([(r * 37 + c * 11) % 1000, (r * 5 + c * 3) % 700 + 1, r + c]).astype('uint16'), gdal.GDT_UInt16)
src = None
gdal.Warp(d + '/g.tif', d + '/g-utm.tif', dstSRS='EPSG:4326', resampleAlg='near')
g = gdal.Open(d + '/g.tif', gdal.GA_Update)
for i in (1, 2, 3): g.GetRasterBand(i).SetNoDataValue(9999)
a2 = g.GetRasterBand(2).ReadAsArray(); a2[a2 == 0] = 9999; a2[50:60, 30:90] = 9999; g.GetRasterBand(2).WriteArray(a2)
g = None
# v: polygons in EPSG:4326 with an attribute
gsrs = osr.SpatialReference(); gsrs.ImportFromEPSG(4326); gsrs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
u.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(u, gsrs)
v = ogr.GetDriverByName('GPKG').CreateDataSource(d + '/v.gpkg')
lyr = v.CreateLayer('fields', gsrs, ogr.wkbPolygon); lyr.CreateField(ogr.FieldDefn('code', ogr.OFTInteger))
for wkt, code in (('POLYGON((500333 6099871, 502421 6099500, 501200 6097100, 500333 6099871))', 4), ('POLYGON((502000 6098000, 505300 6098100, 505100 6096300, 502000 6098000))', 8)):
    geom = ogr.CreateGeometryFromWkt(wkt); geom.Transform(ct)
    ft = ogr.Feature(lyr.GetLayerDefn()); ft.SetGeometry(geom); ft.SetField('code', code); lyr.CreateFeature(ft)
v = None
out(True)
`,
    { dir },
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Copy each named input's block to the output `o<name>` (Float64, all bands). */
function copyAll(names: string[]) {
  return (_info: unknown, inputs: Record<string, Block | Block[]>, outputs: Record<string, Block | Block[]>): void => {
    for (const n of names) outputs[`o${n}`] = (inputs[n] as Block).map((v) => v, 'Float64');
  };
}

describe('apply with reprojection', () => {
  test('near onto reference a, blocks straddling the input, nodata kept: equal to gdalwarp -et 0', async () => {
    await apply(
      copyAll(['g']),
      { a: f('a.tif'), g: f('g.tif') },
      { og: f('out-g.tif') },
      {
        controls: {
          referenceImage: 'a',
          footprint: 'reference',
          windowXSize: 40,
          windowYSize: 24,
          creationOptions: ['TILED=NO'],
          statsIgnore: null,
          calcStats: false,
        },
      },
    );
    const a = await pixelGridFromFile(f('a.tif'));
    gdalwarp(f('g.tif'), f('oracle-g.tif'), a, ['-r', 'near', '-ovr', 'NONE', '-et', '0', '-srcnodata', '9999', '-dstnodata', '9999']);
    const got = readAll(f('out-g.tif'), f('out-g'));
    const want = readAll(f('oracle-g.tif'), f('oracle-g'));
    assert.deepEqual([got.bands, got.rows, got.cols], [3, 130, 170]);
    let nodata = 0;
    for (let i = 0; i < want.data.length; i++) {
      if (got.data[i] !== want.data[i]) assert.fail(`pixel ${i}: ${got.data[i]} vs gdalwarp ${want.data[i]}`);
      if (want.data[i] === 9999) nodata++;
    }
    assert.ok(nodata > 1000 && nodata < want.data.length / 2, `${nodata} nodata pixels`);
  });

  test('layerSelection and per-band inputNoData on a warped input; getNoDataValueFor reports them', async () => {
    const seen: (number | null)[] = [];
    await apply(
      (info, inputs, outputs) => {
        const g = inputs.g;
        assert.equal(g.bands, 2);
        if (seen.length === 0) seen.push(info.getNoDataValueFor(g, 1), info.getNoDataValueFor(g, 2));
        outputs.og = g.map((v) => v, 'Float64');
      },
      { a: f('a.tif'), g: f('g.tif') },
      { og: f('out-sel.tif') },
      // bands 3 and 2 in that order; nodata overridden per file band: band 2 keeps 9999, band 3 gets 0
      {
        controls: {
          referenceImage: 'a',
          footprint: 'reference',
          statsIgnore: null,
          calcStats: false,
          images: { g: { layerSelection: [3, 2], inputNoData: [9999, 9999, 0] } },
        },
      },
    );
    assert.deepEqual(seen, [0, 9999]);
    const a = await pixelGridFromFile(f('a.tif'));
    gdalwarp(f('g.tif'), f('oracle-sel.tif'), a, ['-r', 'near', '-ovr', 'NONE', '-et', '0', '-srcnodata', '9999 9999 0', '-dstnodata', '9999 9999 0']);
    const got = readAll(f('out-sel.tif'), f('out-sel'));
    const want = readAll(f('oracle-sel.tif'), f('oracle-sel'));
    const n = 130 * 170;
    for (let i = 0; i < n; i++) {
      assert.equal(got.data[i], want.data[2 * n + i], `band 3 pixel ${i}`);
      assert.equal(got.data[n + i], want.data[n + i], `band 2 pixel ${i}`);
    }
  });
});

describe('footprints through apply', () => {
  test('union: exact extent, and areas outside an input get its nodata, or 0', async () => {
    await apply(
      copyAll(['a', 'b']),
      { a: f('a.tif'), b: f('b.tif') },
      { oa: f('u-a.tif'), ob: f('u-b.tif') },
      {
        controls: { footprint: 'union', windowXSize: 64, windowYSize: 50, creationOptions: ['TILED=NO'], statsIgnore: null, calcStats: false },
      },
    );
    const grid = await pixelGridFromFile(f('u-b.tif'));
    // a spans cols 0..170, rows 0..130; b spans cols 12..182, rows 7..137
    assert.deepEqual([grid.transform[0], grid.transform[3], grid.cols, grid.rows], [X0, Y0, 182, 137]);
    const A = readAll(f('a.tif'), f('ra'));
    const B = readAll(f('b.tif'), f('rb'));
    const ua = readAll(f('u-a.tif'), f('rua'));
    const ub = readAll(f('u-b.tif'), f('rub'));
    for (let r = 0; r < 137; r++) {
      for (let c = 0; c < 182; c++) {
        const inA = r < 130 && c < 170;
        assert.equal(ua.data[r * 182 + c], inA ? A.data[r * 170 + c] : 0, `a at ${r},${c}`);
        const inB = r >= 7 && c >= 12;
        for (let b = 0; b < 2; b++) {
          // GeoTIFF keeps one nodata for all bands: -5 for both of b's
          const want = inB ? B.data[(b * 130 + r - 7) * 170 + c - 12] : -5;
          assert.equal(ub.data[(b * 137 + r) * 182 + c], want, `b band ${b + 1} at ${r},${c}`);
        }
      }
    }
  });

  test('intersection and reference extents, reference by name, filename and pixgrid', async () => {
    const extent = async (controls: object): Promise<number[]> => {
      const out = f(`x-${Math.random().toString(36).slice(2)}.tif`);
      await apply(copyAll(['a']), { a: f('a.tif'), b: f('b.tif') }, { oa: out }, { controls: { ...controls, statsIgnore: null, calcStats: false } });
      const g = await pixelGridFromFile(out);
      return [g.transform[0], g.transform[3], g.cols, g.rows];
    };
    assert.deepEqual(await extent({}), [X0 + 12 * 30, Y0 - 7 * 30, 158, 123]);
    assert.deepEqual(await extent({ referenceImage: 'b', footprint: 'reference' }), [X0 + 12 * 30, Y0 - 7 * 30, 170, 130]);
    assert.deepEqual(await extent({ referenceImage: f('a.tif'), footprint: 'reference' }), [X0, Y0, 170, 130]);
    const pix = (await pixelGridFromFile(f('b.tif'))).toJSON();
    assert.deepEqual(await extent({ referencePixgrid: pix, footprint: 'reference' }), [X0 + 12 * 30, Y0 - 7 * 30, 170, 130]);
    assert.deepEqual(await extent({ filesForExtent: ['a'], footprint: 'intersection' }), [X0, Y0, 170, 130]);
  });
});

describe('overlap', () => {
  test('a 3x3 mean with overlap 1 and small windows equals the same filter over the whole array', async () => {
    await apply(
      (info, inputs, outputs) => {
        const a = inputs.a;
        assert.equal(info.getOverlapSize(), 1);
        const o = a.like('Float32', 1);
        for (let r = 1; r < a.rows - 1; r++) {
          for (let c = 1; c < a.cols - 1; c++) {
            let s = 0;
            for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) s += a.get(0, r + dr, c + dc);
            o.set(0, r, c, s / 9);
          }
        }
        outputs.m = o;
      },
      { a: f('a.tif') },
      { m: f('mean.tif') },
      { controls: { overlap: 1, windowXSize: 23, windowYSize: 17, statsIgnore: null, calcStats: false, images: { m: { creationOptions: ['TILED=NO'] } } } },
    );
    const want = py<number[]>(
      `
a = gdal.Open(args['a']).ReadAsArray().astype('float64')
p = np.pad(a, 1, constant_values=0)   # beyond the raster's edge: no nodata, so 0
s = sum(p[1 + dr:1 + dr + a.shape[0], 1 + dc:1 + dc + a.shape[1]] for dr in (-1, 0, 1) for dc in (-1, 0, 1))
out((s / 9).astype('float32').astype('float64').ravel().tolist())
`,
      { a: f('a.tif') },
    );
    const got = readAll(f('mean.tif'), f('rmean'));
    assert.equal(got.data.length, want.length);
    for (let i = 0; i < want.length; i++) if (got.data[i] !== want[i]) assert.fail(`pixel ${i}: ${got.data[i]} vs numpy ${want[i]}`);
  });
});

describe('vector inputs through apply', () => {
  test('burnAttribute, allTouched, filterSQL on the working grid equal gdal_rasterize', async () => {
    await apply(
      copyAll(['v']),
      { a: f('a.tif'), v: f('v.gpkg') },
      { ov: f('out-v.tif') },
      {
        controls: {
          windowXSize: 50,
          windowYSize: 40,
          creationOptions: ['TILED=NO'],
          statsIgnore: null,
          calcStats: false,
          images: { v: { burnAttribute: 'code', allTouched: true, filterSQL: 'code > 5', vectorDatatype: 'Int16', vectorNull: -1 } },
        },
      },
    );
    const got = readAll(f('out-v.tif'), f('rv'));
    const want = py<number[]>(
      `
a = gdal.Open(args['a'])
ds = gdal.GetDriverByName('MEM').Create('', a.RasterXSize, a.RasterYSize, 1, gdal.GDT_Int16)
ds.SetProjection(a.GetProjection()); ds.SetGeoTransform(a.GetGeoTransform()); ds.GetRasterBand(1).Fill(-1)
gdal.Rasterize(ds, args['v'], options=gdal.RasterizeOptions(options=['-a', 'code', '-at', '-where', 'code > 5']))
out(ds.ReadAsArray().astype('float64').ravel().tolist())
`,
      { a: f('a.tif'), v: f('v.gpkg') },
    );
    assert.deepEqual(Array.from(got.data), want);
    assert.ok(want.filter((v) => v === 8).length > 100 && !want.includes(4), 'the filter kept feature 8 only');
  });
});

describe('errors through apply', () => {
  const run = (infiles: Record<string, string>, controls: object) => apply(() => undefined, infiles, {}, { controls: { ...controls, calcStats: false } });
  test('a mismatch with no reference', async () => {
    await assert.rejects(run({ a: f('a.tif'), g: f('g.tif') }, {}), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'GRID_MISMATCH');
      assert.ok(e.message.includes(f('g.tif')) && /projection differs/.test(e.message), e.message);
      return true;
    });
  });
  test('a reference that is neither an input nor a readable raster, and a vector reference', async () => {
    await assert.rejects(run({ a: f('a.tif') }, { referenceImage: 'zz' }), { code: 'REFERENCE_ERROR' });
    await assert.rejects(run({ a: f('a.tif'), v: f('v.gpkg') }, { referenceImage: 'v' }), { code: 'REFERENCE_ERROR' });
    await assert.rejects(run({ a: f('a.tif') }, { referenceImage: f('v.gpkg') }), { code: 'REFERENCE_ERROR' });
  });
  test('an unknown vector layer fails before the first block', async () => {
    await assert.rejects(run({ a: f('a.tif'), v: f('v.gpkg') }, { images: { v: { vectorLayer: 'nope' } } }), { code: 'CONTROLS' });
  });
});
