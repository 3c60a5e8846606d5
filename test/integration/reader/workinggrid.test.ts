/**
 * computeWorkingGrid: footprints over rasters offset by known pixel counts, references by name,
 * filename and pixgrid, reprojected inputs, filesForExtent, vectors, and every error.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { computeWorkingGrid, type WorkingGridInput } from '../../../src/reader/workinggrid.js';
import { PixelGrid, equalProjection, type PixelGridSpec } from '../../../src/grid.js';
import { pixelGridFromFile } from '../../../src/gdal/gridio.js';
import { py } from '../../helpers/gridpy.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);
const X0 = 500000;
const Y0 = 6100000;
const RES = 30;
/** The fixtures on a's 30 m lattice: [file, col offset, row offset, cols, rows] from a's origin. */
const ON_LATTICE: [string, number, number, number, number][] = [
  ['a.tif', 0, 0, 100, 80],
  ['b.tif', 10, 5, 100, 80],
  ['c.tif', -20, 30, 50, 60],
  ['far.tif', 1000, 0, 10, 10],
];
const grids: Record<string, PixelGrid> = {};

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-wgrid-'));
  py(
    `
from osgeo import osr, ogr
d = args['dir']
u = osr.SpatialReference(); u.ImportFromEPSG(32755)
def make(name, gt, cols, rows):
    ds = gdal.GetDriverByName('GTiff').Create(d + '/' + name, cols, rows, 1, gdal.GDT_Byte)
    ds.SetProjection(u.ExportToWkt()); ds.SetGeoTransform(gt); ds.GetRasterBand(1).Fill(1); ds = None
for name, dc, dr, cols, rows in args['lattice']:
    make(name, [args['x0'] + dc * args['res'], args['res'], 0, args['y0'] - dr * args['res'], 0, -args['res']], cols, rows)
make('e.tif', [args['x0'] - 10, 20, 0, args['y0'] + 10, 0, -20], 200, 150)      # 20 m pixels
make('mis.tif', [args['x0'] + 7, 30, 0, args['y0'], 0, -30], 100, 80)           # 7 m off the lattice
gdal.Warp(d + '/geo.tif', d + '/a.tif', dstSRS='EPSG:4326')                      # a in EPSG:4326
v = ogr.GetDriverByName('GPKG').CreateDataSource(d + '/v.gpkg')
lyr = v.CreateLayer('polys', u, ogr.wkbPolygon)
f = ogr.Feature(lyr.GetLayerDefn()); f.SetGeometry(ogr.CreateGeometryFromWkt('POLYGON((500100 6099900,500500 6099900,500500 6099500,500100 6099900))')); lyr.CreateFeature(f)
v = None
out(True)
`,
    { dir, lattice: ON_LATTICE, x0: X0, y0: Y0, res: RES },
  );
  writeFileSync(f('junk.tif'), 'this is not a raster');
  for (const n of ['a', 'b', 'c', 'far', 'e', 'mis', 'geo']) grids[n] = await pixelGridFromFile(f(`${n}.tif`));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const input = (name: string, listIndex: number | null = null): WorkingGridInput => ({ name, listIndex, path: f(`${name}.tif`), grid: grids[name]! });
const vector: WorkingGridInput = { name: 'v', listIndex: null, path: '', grid: null };

/** The grid, on a's lattice, spanning pixel columns [c0, c1) and rows [r0, r1) from a's origin. */
function onA(c0: number, c1: number, r0: number, r1: number): { origin: [number, number]; cols: number; rows: number } {
  return { origin: [X0 + c0 * RES, Y0 - r0 * RES], cols: c1 - c0, rows: r1 - r0 };
}

function assertGrid(g: PixelGridSpec, want: { origin: [number, number]; cols: number; rows: number; res?: number }, proj = grids.a!.projection): void {
  const res = want.res ?? RES;
  assert.deepEqual([g.transform[0], g.transform[3], g.cols, g.rows], [want.origin[0], want.origin[1], want.cols, want.rows]);
  assert.deepEqual([g.transform[1], g.transform[5]], [res, -res]);
  assert.ok(equalProjection(g.projection, proj));
}

/** Lattice extent of a fixture: [c0, c1, r0, r1]. */
function span(name: string): [number, number, number, number] {
  const [, dc, dr, cols, rows] = ON_LATTICE.find(([n]) => n === `${name}.tif`)!;
  return [dc, dc + cols, dr, dr + rows];
}

describe('footprints without a reference (inputs on one lattice)', () => {
  const ins = (): WorkingGridInput[] => [input('a'), input('b'), input('c'), vector];
  test('intersection: the overlap of the pixel ranges', async () => {
    const s = ['a', 'b', 'c'].map(span);
    const { grid, needsResample } = await computeWorkingGrid(ins(), { footprint: 'intersection' });
    assertGrid(grid, onA(Math.max(...s.map((x) => x[0])), Math.min(...s.map((x) => x[1])), Math.max(...s.map((x) => x[2])), Math.min(...s.map((x) => x[3]))));
    assert.deepEqual([...needsResample.values()], [false, false, false]);
    assert.equal(needsResample.size, 3, 'vectors are not listed');
  });
  test('union: the hull of the pixel ranges', async () => {
    const s = ['a', 'b', 'c'].map(span);
    const { grid } = await computeWorkingGrid(ins(), { footprint: 'union' });
    assertGrid(grid, onA(Math.min(...s.map((x) => x[0])), Math.max(...s.map((x) => x[1])), Math.min(...s.map((x) => x[2])), Math.max(...s.map((x) => x[3]))));
  });
  test('the default footprint comes from RIOS_DFLT_FOOTPRINT, else intersection', async () => {
    const before = process.env.RIOS_DFLT_FOOTPRINT;
    try {
      process.env.RIOS_DFLT_FOOTPRINT = 'union';
      const u = await computeWorkingGrid(ins(), {});
      assert.equal(u.grid.cols, 130);
      process.env.RIOS_DFLT_FOOTPRINT = '1'; // RIOS's number for union
      assert.equal((await computeWorkingGrid(ins(), {})).grid.cols, 130);
      process.env.RIOS_DFLT_FOOTPRINT = '0';
      assert.equal((await computeWorkingGrid(ins(), {})).grid.cols, 20);
      delete process.env.RIOS_DFLT_FOOTPRINT;
      const i = await computeWorkingGrid(ins(), {});
      assert.equal(i.grid.cols, 20);
      process.env.RIOS_DFLT_FOOTPRINT = 'bogus';
      await assert.rejects(computeWorkingGrid(ins(), {}), { code: 'CONTROLS', message: /RIOS_DFLT_FOOTPRINT/ });
    } finally {
      if (before === undefined) delete process.env.RIOS_DFLT_FOOTPRINT;
      else process.env.RIOS_DFLT_FOOTPRINT = before;
    }
  });
  test('filesForExtent by name and by filename', async () => {
    const byName = await computeWorkingGrid(ins(), { footprint: 'union', filesForExtent: ['a', 'c'] });
    const byFile = await computeWorkingGrid(ins(), { footprint: 'union', filesForExtent: [f('a.tif'), f('c.tif')] });
    const [a, c] = [span('a'), span('c')];
    const want = onA(Math.min(a[0], c[0]), Math.max(a[1], c[1]), Math.min(a[2], c[2]), Math.max(a[3], c[3]));
    assertGrid(byName.grid, want);
    assertGrid(byFile.grid, want);
    await assert.rejects(computeWorkingGrid(ins(), { filesForExtent: [f('v.gpkg')] }), { code: 'CONTROLS', message: /vector/ });
  });
  test('list elements are named name[i]', async () => {
    const list = [
      { ...input('a'), name: 'l', listIndex: 0 },
      { ...input('b'), name: 'l', listIndex: 1 },
    ];
    const { grid } = await computeWorkingGrid(list, { referenceImage: 'l[1]', footprint: 'reference' });
    assertGrid(grid, onA(...span('b')));
  });
});

describe('references', () => {
  const ins = (): WorkingGridInput[] => [input('a'), input('b'), input('geo'), input('e')];
  test("footprint 'reference' by name, by filename, and as a pixgrid", async () => {
    const byName = await computeWorkingGrid(ins(), { referenceImage: 'b', footprint: 'reference' });
    const byFile = await computeWorkingGrid(ins(), { referenceImage: f('b.tif'), footprint: 'reference' });
    const byGrid = await computeWorkingGrid(ins(), { referencePixgrid: grids.b!.toJSON(), footprint: 'reference' });
    for (const g of [byName, byFile, byGrid]) assertGrid(g.grid, onA(...span('b')));
    assert.deepEqual(Object.fromEntries(byName.needsResample), { [f('a.tif')]: false, [f('b.tif')]: false, [f('geo.tif')]: true, [f('e.tif')]: true });
  });
  test("a reference file that is not an input: its lattice, the inputs' extent (snapped outward)", async () => {
    // e: 20 m pixels, origin (X0 - 10, Y0 + 10). a ∩ b in metres is x X0+300..X0+3000, y Y0-2400..Y0-150.
    const { grid } = await computeWorkingGrid([input('a'), input('b')], { referenceImage: f('e.tif') });
    const snapOut = (v: number, o: number, up: boolean): number => o + (up ? Math.ceil((v - o) / 20) : Math.floor((v - o) / 20)) * 20;
    const ox = X0 - 10;
    const oy = Y0 + 10;
    // each input snapped outward onto e's lattice first, then intersected
    const xMin = Math.max(snapOut(X0, ox, false), snapOut(X0 + 300, ox, false));
    const xMax = Math.min(snapOut(X0 + 3000, ox, true), snapOut(X0 + 3300, ox, true));
    const yMax = Math.min(snapOut(Y0, oy, true), snapOut(Y0 - 150, oy, true));
    const yMin = Math.max(snapOut(Y0 - 2400, oy, false), snapOut(Y0 - 2550, oy, false));
    assertGrid(grid, { origin: [xMin, yMax], cols: (xMax - xMin) / 20, rows: (yMax - yMin) / 20, res: 20 });
  });
  test('a pixgrid with an EPSG code and its own lattice', async () => {
    const { grid, needsResample } = await computeWorkingGrid([input('a'), input('b')], {
      referencePixgrid: { projection: 'EPSG:32755', transform: [X0 - 5, 10, 0, Y0 + 5, 0, -10], rows: 1, cols: 1 },
      footprint: 'union',
    });
    // a ∪ b is x X0..X0+3300, y Y0-2550..Y0: snapped outward on the 10 m lattice offset by 5 m
    assertGrid(grid, { origin: [X0 - 5, Y0 + 5], cols: 331, rows: 256, res: 10 });
    assert.match(grid.projection, /^PROJCS\[/, 'the EPSG code became WKT');
    assert.deepEqual([...needsResample.values()], [true, true]);
  });
  test('an input in EPSG:4326 made from a covers a: the intersection with reference a is a', async () => {
    const { grid, needsResample } = await computeWorkingGrid([input('geo'), input('a')], { referenceImage: 'a' });
    assertGrid(grid, onA(...span('a')));
    assert.equal(needsResample.get(f('geo.tif')), true);
    // and the union is a grown by at most a couple of pixels (gdalwarp's output extent of a,
    // reprojected back and snapped outward)
    const u = await computeWorkingGrid([input('geo'), input('a')], { referenceImage: 'a', footprint: 'union' });
    assert.ok(u.grid.cols >= 100 && u.grid.cols <= 104 && u.grid.rows >= 80 && u.grid.rows <= 84, u.grid.toString());
  });
  test('vectors never define the grid', async () => {
    const { grid } = await computeWorkingGrid([vector, input('b')], {});
    assertGrid(grid, onA(...span('b')));
    await assert.rejects(computeWorkingGrid([vector], {}), { code: 'INPUT_ERROR', message: /vector/ });
  });
});

describe('errors', () => {
  test('a mismatch without a reference names the files and how they differ', async () => {
    await assert.rejects(computeWorkingGrid([input('a'), input('e')], {}), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'GRID_MISMATCH');
      assert.ok(e.message.includes(f('a.tif')) && e.message.includes(f('e.tif')), e.message);
      assert.match(e.message, /pixel size 30x30 vs 20x20/);
      assert.match(e.message, /referenceImage/);
      return true;
    });
    await assert.rejects(computeWorkingGrid([input('a'), input('mis')], {}), { code: 'GRID_MISMATCH', message: /not aligned/ });
    await assert.rejects(computeWorkingGrid([input('a'), input('geo')], {}), { code: 'GRID_MISMATCH', message: /projection differs/ });
  });
  test('a reference that is neither an input nor a readable raster', async () => {
    await assert.rejects(computeWorkingGrid([input('a')], { referenceImage: 'nosuch' }), {
      code: 'REFERENCE_ERROR',
      message: /neither the name of an input nor a readable raster/,
    });
    await assert.rejects(computeWorkingGrid([input('a')], { referenceImage: f('junk.tif') }), { code: 'REFERENCE_ERROR' });
  });
  test('a vector as the reference, by filename or by input name', async () => {
    await assert.rejects(computeWorkingGrid([input('a')], { referenceImage: f('v.gpkg') }), { code: 'REFERENCE_ERROR', message: /vector/ });
    await assert.rejects(computeWorkingGrid([input('a'), { ...vector, path: f('v.gpkg') }], { referenceImage: 'v' }), {
      code: 'REFERENCE_ERROR',
      message: /vector/,
    });
  });
  test('an empty intersection names the files', async () => {
    await assert.rejects(computeWorkingGrid([input('a'), input('far')], {}), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'GRID_ERROR');
      assert.ok(e.message.includes(f('a.tif')) && e.message.includes(f('far.tif')), e.message);
      return true;
    });
  });
  test('an input that needs resampling but has no projection', async () => {
    const bare: WorkingGridInput = { ...input('e'), name: 'bare', grid: { ...grids.e!.toJSON(), projection: '' } };
    await assert.rejects(computeWorkingGrid([input('a'), bare], { referenceImage: 'a' }), {
      code: 'GRID_ERROR',
      message: /'bare' .* must be resampled .* it has no projection/,
    });
  });
  test('bad controls', async () => {
    await assert.rejects(computeWorkingGrid([input('a')], { footprint: 'reference' }), { code: 'CONTROLS' });
    await assert.rejects(computeWorkingGrid([input('a')], { referenceImage: 'a', referencePixgrid: grids.a!.toJSON() }), { code: 'CONTROLS' });
    await assert.rejects(computeWorkingGrid([input('a')], { footprint: 'middle' as never }), { code: 'CONTROLS' });
    await assert.rejects(
      computeWorkingGrid([input('a')], { referencePixgrid: { projection: 'EPSG:32755', transform: [0, 10, 0, 0, 0, 10], rows: 1, cols: 1 } }),
      { code: 'REFERENCE_ERROR' },
    );
  });
});
