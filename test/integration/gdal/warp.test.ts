/**
 * The readers apply() runs, block by block, against gdalwarp onto the whole target grid:
 * WarpedReader (src/gdal/warp.ts, behind WarpedRasterSource) for inputs off the working lattice,
 * ComparableRasterSource (src/reader/inputs.ts) for inputs on it.
 *
 * Fixtures: a working grid W in EPSG:32755 (30 m); B, a 2-band Int16 raster in EPSG:4326 that
 * covers only part of W, with a nodata hole; C, a Float32 raster in the same CRS as W at 20 m on
 * a shifted lattice. Blocks of 64x48 with a 3-pixel overlap margin are read and compared, margins
 * included, with gdalwarp of the input onto W grown by the margin.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PixelGrid, subGrid, windowOf, type PixelGridSpec } from '../../../src/grid.js';
import { toWkt } from '../../../src/gdal/srs.js';
import { WarpedReader, resampleScale, type RasterSource, type WarpReadOptions } from '../../../src/gdal/warp.js';
import { openInput, type OpenedRaster } from '../../../src/gdal/inputs.js';
import { ComparableRasterSource } from '../../../src/reader/inputs.js';
import { gridSources, WarpedRasterSource } from '../../../src/reader/gridsources.js';
import { ApplierControls } from '../../../src/controls.js';
import { pixelGridFromFile } from '../../../src/gdal/gridio.js';
import type { ResampleMethod } from '../../../src/controls.js';
import type { AnyTypedArray } from '../../../src/dtypes.js';
import { gdalwarp, py, readAll } from '../../helpers/gridpy.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);
const MARGIN = 3;
const BX = 64;
const BY = 48;
let W: PixelGridSpec;
let Wm: PixelGridSpec; // W grown by the margin: the oracle's grid

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-warp-'));
  W = { projection: toWkt('EPSG:32755'), transform: [500000, 30, 0, 6100000, 0, -30], cols: 250, rows: 200 };
  Wm = subGrid(W, -MARGIN, -MARGIN, W.cols + 2 * MARGIN, W.rows + 2 * MARGIN);
  py(
    `
from osgeo import osr
d = args['dir']
u = osr.SpatialReference(); u.ImportFromEPSG(32755)
# B: made in UTM over part of W (offset 40 cols, 30 rows; 180x150), then warped to EPSG:4326.
n_r, n_c = 150, 180
r, c = np.mgrid[0:n_r, 0:n_c]
tmp = gdal.GetDriverByName('MEM').Create('', n_c, n_r, 2, gdal.GDT_Int16)
tmp.SetProjection(u.ExportToWkt()); tmp.SetGeoTransform([500000 + 40 * 30 + 7, 30, 0, 6100000 - 30 * 30 - 11, 0, -30])
tmp.GetRasterBand(1).WriteArray(((r * 37 + c * 101) % 1000).astype('int16'))
tmp.GetRasterBand(2).WriteArray((np.sin(r / 9.0) * 500 + np.cos(c / 7.0) * 400).astype('int16'))
b = gdal.Warp(d + '/b.tif', tmp, dstSRS='EPSG:4326', resampleAlg='near', creationOptions=['TILED=YES', 'BLOCKXSIZE=32', 'BLOCKYSIZE=32'])
nd = -32768
for i in (1, 2):
    band = b.GetRasterBand(i); band.SetNoDataValue(nd)
    a = band.ReadAsArray()
    a[a == 0] = nd
    a[40:70, 50 + 10 * i:90] = nd   # a hole, different per band
    band.WriteArray(a)
b = None
# C: same CRS as W, 20 m pixels on a shifted lattice, nodata -1 in a stripe
cr, cc = np.mgrid[0:380, 0:420]
cds = gdal.GetDriverByName('GTiff').Create(d + '/c.tif', 420, 380, 1, gdal.GDT_Float32)
cds.SetProjection(u.ExportToWkt()); cds.SetGeoTransform([500000 - 45 + 3.5, 20, 0, 6100000 + 25 - 6.25, 0, -20])
ca = (np.sin(cr / 13.0) * 100 + cc * 0.5).astype('float32'); ca[100:110, :] = -1
cds.GetRasterBand(1).WriteArray(ca); cds.GetRasterBand(1).SetNoDataValue(-1)
cds = None
# D: on W's lattice but smaller and offset, for readWindowFilled
dr, dc = np.mgrid[0:120, 0:170]
dds = gdal.GetDriverByName('GTiff').Create(d + '/d.tif', 170, 120, 2, gdal.GDT_UInt16, ['TILED=YES', 'BLOCKXSIZE=16', 'BLOCKYSIZE=16'])
dds.SetProjection(u.ExportToWkt()); dds.SetGeoTransform([500000 + 100 * 30, 30, 0, 6100000 - 90 * 30, 0, -30])
dds.GetRasterBand(1).WriteArray((dr * 300 + dc).astype('uint16')); dds.GetRasterBand(1).SetNoDataValue(7)
dds.GetRasterBand(2).WriteArray((dr + dc * 2).astype('uint16'))
dds = None
out(True)
`,
    { dir },
  );
});

/** One WarpedReader per input, options and working grid, kept for every block as a source keeps its own. */
const readers = new Map<string, WarpedReader>();
function warped(src: RasterSource, opts: WarpReadOptions, working?: PixelGridSpec): WarpedReader {
  const key = JSON.stringify([src.path, opts, working ?? null]);
  let r = readers.get(key);
  if (!r) readers.set(key, (r = new WarpedReader(src, opts, working)));
  return r;
}

/** A window of grid `win` (on W's lattice) read as warped input `src`. */
const readWarped = (src: RasterSource, target: { grid: PixelGridSpec; working?: PixelGridSpec }, opts: WarpReadOptions): Promise<AnyTypedArray> =>
  warped(src, opts, target.working).readTarget(target.grid);

const opened: OpenedRaster[] = [];
/** The source apply() makes for an input on W's lattice, with its bands and nodata as controls say. */
async function comparable(path: string, bands: number[], inputNoData?: number | (number | null)[]): Promise<ComparableRasterSource> {
  const o = (await openInput(path, 'd')) as OpenedRaster;
  opened.push(o);
  const controls = new ApplierControls({ layerSelection: bands, ...(inputNoData ? { inputNoData } : {}) });
  return new ComparableRasterSource({ name: 'd', listIndex: null, path }, o, new PixelGrid(W), controls);
}

after(async () => {
  await Promise.all([...readers.values()].map((r) => r.close()));
  for (const o of opened) o.ds.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Read W block by block (windows with margins) into one array on Wm. Pixels read by more than
 * one window (overlap margins) must agree.
 */
async function assemble(read: (win: PixelGridSpec) => Promise<AnyTypedArray>, nb: number): Promise<Float64Array> {
  const all = new Float64Array(nb * Wm.rows * Wm.cols).fill(NaN);
  for (let yoff = 0; yoff < W.rows; yoff += BY) {
    for (let xoff = 0; xoff < W.cols; xoff += BX) {
      const xs = Math.min(BX, W.cols - xoff);
      const ys = Math.min(BY, W.rows - yoff);
      const win = subGrid(W, xoff - MARGIN, yoff - MARGIN, xs + 2 * MARGIN, ys + 2 * MARGIN);
      const got = await read(win);
      const rows = ys + 2 * MARGIN;
      const cols = xs + 2 * MARGIN;
      assert.equal(got.length, nb * rows * cols);
      for (let b = 0; b < nb; b++) {
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const i = (b * Wm.rows + yoff + r) * Wm.cols + xoff + c;
            const v = got[(b * rows + r) * cols + c]!;
            if (!Number.isNaN(all[i]!) && all[i] !== v) assert.fail(`windows disagree at band ${b + 1} row ${yoff + r} col ${xoff + c}: ${all[i]} vs ${v}`);
            all[i] = Number(v);
          }
        }
      }
    }
  }
  return all;
}

/** Compare an assembled array with the oracle, pixel by pixel (row/col on Wm). */
function comparePixels(got: Float64Array, oracle: { data: Float64Array }, check: (g: number, w: number, b: number, r: number, c: number) => void): void {
  assert.equal(got.length, oracle.data.length);
  const per = Wm.rows * Wm.cols;
  for (let i = 0; i < got.length; i++) {
    const b = Math.floor(i / per);
    const r = Math.floor((i % per) / Wm.cols);
    check(got[i]!, oracle.data[i]!, b, r, i % Wm.cols);
  }
}

function exact(got: number, want: number, where: string): void {
  if (!(got === want || (Number.isNaN(got) && Number.isNaN(want)))) assert.fail(`${where}: got ${got}, gdalwarp ${want}`);
}

const ND = -32768;
const bOpts = (m: ResampleMethod, extra: Partial<WarpReadOptions> = {}): WarpReadOptions => ({
  bands: [1, 2],
  resampleMethod: m,
  srcNoData: [ND, ND],
  fill: [ND, ND],
  dtype: 'Int16',
  ...extra,
});

describe('readWarped: EPSG:4326 input onto a UTM working grid, block by block', () => {
  const methods: ResampleMethod[] = ['near', 'bilinear', 'cubic', 'cubicspline', 'lanczos', 'average', 'mode', 'min', 'max', 'med', 'q1', 'q3'];
  for (const [k, m] of methods.entries()) {
    // every other method also with VRT blocks the size of the windows (the applier's setting)
    const blockSize: [number, number] | undefined = k % 2 === 0 ? [BX, BY] : undefined;
    test(`${m} with an exact transformer equals gdalwarp -et 0 (same kernel scale) exactly, margins and nodata included${blockSize ? ', window-sized VRT blocks' : ''}`, async () => {
      const out = f(`oracle-${m}-et0.tif`);
      const { xScale, yScale } = resampleScale(await pixelGridFromFile(f('b.tif')), W);
      const scale = ['-wo', `XSCALE=${xScale}`, '-wo', `YSCALE=${yScale}`];
      gdalwarp(f('b.tif'), out, Wm, ['-r', m, '-ovr', 'NONE', '-et', '0', '-srcnodata', `${ND}`, '-dstnodata', `${ND}`, ...scale]);
      const oracle = readAll(out, out);
      let inside = 0;
      let nodata = 0;
      // with the working grid given, as the applier does (the footprint-only path is used below)
      const got = await assemble(
        (win) => readWarped({ path: f('b.tif') }, { grid: win, working: W }, bOpts(m, { errorThreshold: 0, ...(blockSize ? { blockSize } : {}) })),
        2,
      );
      comparePixels(got, oracle, (g, w, b, r, c) => {
        exact(g, w, `band ${b + 1} row ${r - MARGIN} col ${c - MARGIN}`);
        if (w === ND) nodata++;
        else inside++;
      });
      // the fixture really has both covered pixels and nodata (hole + outside coverage)
      assert.ok(inside > 10000 && nodata > 10000, `${inside} valid, ${nodata} nodata`);
    });
  }

  test('near (exact transformer) vs plain gdalwarp -r near (0.125-pixel approximation): few pixels differ', async () => {
    const out = f('oracle-near-default.tif');
    gdalwarp(f('b.tif'), out, Wm, ['-r', 'near', '-ovr', 'NONE', '-srcnodata', `${ND}`, '-dstnodata', `${ND}`]);
    const oracle = readAll(out, out);
    const got = await assemble((win) => readWarped({ path: f('b.tif') }, { grid: win }, bOpts('near')), 2);
    let diff = 0;
    comparePixels(got, oracle, (g, w) => {
      if (g !== w) diff++;
    });
    // gdalwarp's sampling point is off the exact one by up to 0.125 source pixel, so it picks
    // another source pixel wherever the exact point lies that close to a pixel edge: in the
    // worst case 2 * 0.125 per axis, i.e. under half of all pixels; in practice the error is
    // far below its bound.
    // measured on this fixture: 1316 of 126,040 pixels (1.0%)
    assert.ok(diff < got.length * 0.03, `${diff} of ${got.length} differ`);
  });

  for (const m of ['bilinear', 'cubic', 'lanczos'] as ResampleMethod[]) {
    test(`${m} with GDAL's default approximation and kernel scale is within a justified tolerance of plain gdalwarp`, async () => {
      const out = f(`oracle-${m}-default.tif`);
      gdalwarp(f('b.tif'), out, Wm, ['-r', m, '-ovr', 'NONE', '-srcnodata', `${ND}`, '-dstnodata', `${ND}`]);
      const oracle = readAll(out, out);
      const got = await assemble((win) => readWarped({ path: f('b.tif') }, { grid: win }, bOpts(m)), 2);
      // Band 2 (500 sin(r/9) + 400 cos(c/7) over B's source rows/cols) is smooth: its gradient is at
      // most 500/9 + 400/7 = 113 per source pixel. Both sides approximate the transform to 0.125
      // pixel over different chunks, so sampling points may differ by up to 0.25 pixel: at most
      // 0.25 * 113 = 28.3, plus 1 for rounding to Int16. The kernel scale (ours fixed from the
      // footprint, gdalwarp's per chunk) differs by a few percent, which changes a smooth
      // field's interpolation by far less. Near nodata GDAL blends partial kernels with the
      // nodata value (both sides do; see the exact tests above), so pixels within the kernel
      // radius + 1 of any value outside band 2's range are left out.
      const TOL = 30;
      const radius = m === 'bilinear' ? 2 : m === 'cubic' ? 3 : 4;
      const clean = (arr: ArrayLike<number>, r: number, c: number): boolean => {
        for (let dr = -radius; dr <= radius; dr++) {
          for (let dc = -radius; dc <= radius; dc++) {
            const rr = r + dr;
            const cc = c + dc;
            if (rr < 0 || cc < 0 || rr >= Wm.rows || cc >= Wm.cols) return false;
            if (Math.abs(arr[(Wm.rows + rr) * Wm.cols + cc]!) > 1000) return false;
          }
        }
        return true;
      };
      // Lanczos's result moves more than that bound with the sampling point and kernel scale: we
      // allow in addition the spread GDAL shows against itself, between plain gdalwarp and
      // gdalwarp -et 0 (its exact transformer) on the same grid.
      const exactOut = f(`oracle-${m}-default-et0.tif`);
      gdalwarp(f('b.tif'), exactOut, Wm, ['-r', m, '-ovr', 'NONE', '-et', '0', '-srcnodata', `${ND}`, '-dstnodata', `${ND}`]);
      const gdalExact = readAll(exactOut, exactOut);
      let maxDiff = 0;
      let spread = 0;
      let n = 0;
      comparePixels(got, oracle, (g, w, b, r, c) => {
        if (b !== 1 || !clean(got, r, c) || !clean(oracle.data, r, c) || !clean(gdalExact.data, r, c)) return;
        n++;
        maxDiff = Math.max(maxDiff, Math.abs(g - w));
        spread = Math.max(spread, Math.abs(gdalExact.data[(Wm.rows + r) * Wm.cols + c]! - w));
      });
      // measured on this fixture: bilinear 4 (GDAL's own spread 1), cubic 3 (1), lanczos 57 (41)
      assert.ok(n > 15000, `only ${n} clean pixels`);
      assert.ok(maxDiff <= TOL + (m === 'lanczos' ? spread : 0), `max difference ${maxDiff} over ${n} pixels (GDAL's own spread ${spread})`);
    });
  }
});

/** gdalwarp -et 0 of C onto Wm with method `m` and riots' kernel scale: the oracle file. */
async function warpedC(m: ResampleMethod): Promise<string> {
  const out = f(`oracle-c-${m}.tif`);
  if (existsSync(out)) return out;
  const { xScale, yScale } = resampleScale(await pixelGridFromFile(f('c.tif')), W);
  gdalwarp(f('c.tif'), out, Wm, [
    '-r',
    m,
    '-ovr',
    'NONE',
    '-et',
    '0',
    '-srcnodata',
    '-1',
    '-dstnodata',
    '-1',
    '-wo',
    `XSCALE=${xScale}`,
    '-wo',
    `YSCALE=${yScale}`,
  ]);
  return out;
}

describe('readWarped: same projection, other pixel size and alignment', () => {
  for (const m of ['near', 'average', 'bilinear'] as ResampleMethod[]) {
    test(`${m}: 20 m on a shifted lattice onto the 30 m grid equals gdalwarp -et 0 exactly`, async () => {
      const out = await warpedC(m);
      const oracle = readAll(out, out);
      const opts: WarpReadOptions = { bands: [1], resampleMethod: m, srcNoData: [-1], fill: [-1], dtype: 'Float64', errorThreshold: 0 };
      const got = await assemble((win) => readWarped({ path: f('c.tif') }, { grid: win }, opts), 1);
      let nd = 0;
      comparePixels(got, oracle, (g, w, b, r, c) => {
        // Float32 source read as Float64: the oracle array is the Float32 result widened the same way
        exact(g, w, `row ${r - MARGIN} col ${c - MARGIN}`);
        if (w === -1) nd++;
      });
      assert.ok(nd > 0, 'the nodata stripe and the area outside C should show up');
    });
  }

  test("with the applier's margin (its overlap), the VRT stops at the margin: windows equal gdalwarp -et 0, and past the margin is fill", async () => {
    const out = await warpedC('bilinear');
    const oracle = readAll(out, out);
    const base: WarpReadOptions = {
      bands: [1],
      resampleMethod: 'bilinear',
      srcNoData: [-1],
      fill: [-1],
      dtype: 'Float64',
      errorThreshold: 0,
      blockSize: [BX, BY],
    };
    const reader = warped({ path: f('c.tif') }, { ...base, margin: MARGIN }, W);
    const got = await assemble((win) => reader.readTarget(win), 1);
    comparePixels(got, oracle, (g, w, _b, r, c) => exact(g, w, `row ${r - MARGIN} col ${c - MARGIN}`));
    // C covers W and more on the right: columns up to the margin have its data, beyond it the fill
    const past = subGrid(W, W.cols - 8, 20, 8 + MARGIN + 5, 4);
    const wide = await warped({ path: f('c.tif') }, base, W).readTarget(past); // the default margin, 1024
    const near = await reader.readTarget(past);
    for (let r = 0; r < past.rows; r++) {
      for (let c = 0; c < past.cols; c++) {
        const i = r * past.cols + c;
        assert.notEqual(wide[i], -1, `default margin: data at row ${r} col ${c}`);
        assert.equal(near[i], c < 8 + MARGIN ? wide[i] : -1, `margin ${MARGIN}: row ${r} col ${c}`);
      }
    }
  });
});

describe('ComparableRasterSource and warped reads of an input on the working lattice', () => {
  test('windows reaching beyond the raster are read in place and filled with nodata or 0 per band', async () => {
    // D: 170x120 at col 100, row 90 of W. A GeoTIFF's nodata is the file's (7 for both bands):
    // inputNoData makes band 1's 7 and band 2 none, as a user would. Read bands [2, 1].
    const oracle = readAll(f('d.tif'), f('d'));
    const d = await comparable(f('d.tif'), [2, 1], [7, null]);
    assert.equal(d.dtype, 'UInt16');
    assert.deepEqual(d.nodata, [null, 7]);
    const got = await assemble((win) => d.read(windowOf(W, win)), 2);
    let inside = 0;
    comparePixels(got, { data: got }, (g, _w, b, r, c) => {
      const dr = r - MARGIN - 90;
      const dc = c - MARGIN - 100;
      const fileBand = b === 0 ? 2 : 1;
      let want: number;
      if (dr >= 0 && dc >= 0 && dr < 120 && dc < 170) {
        want = oracle.data[((fileBand - 1) * 120 + dr) * 170 + dc]!;
        inside++;
      } else want = fileBand === 1 ? 7 : 0;
      exact(g, want, `band ${b + 1} row ${r - MARGIN} col ${c - MARGIN}`);
    });
    // D sticks out of W on the right (100 + 170 > 250) and bottom (90 + 120 > 200): only the
    // part inside W plus the margin is read
    assert.equal(inside, 2 * (250 + MARGIN - 100) * (200 + MARGIN - 90));
  });

  test('a warped read with near onto the lattice the input already has equals the direct read (mixed nodata, reordered bands)', async () => {
    const d = await comparable(f('d.tif'), [2, 1], [7, null]);
    const direct = await assemble((win) => d.read(windowOf(W, win)), 2);
    const warpedArr = await assemble(
      (win) => readWarped({ path: f('d.tif') }, { grid: win }, { bands: [2, 1], resampleMethod: 'near', srcNoData: [null, 7], fill: [0, 7], dtype: 'UInt16' }),
      2,
    );
    comparePixels(warpedArr, { data: direct }, (g, w, b, r, c) => exact(g, w, `band ${b + 1} row ${r} col ${c}`));
    // the same through band-subset VRTs reopened with window-sized blocks, on the working grid
    const reblocked = await assemble(
      (win) =>
        readWarped(
          { path: f('d.tif') },
          { grid: win, working: W },
          { bands: [2, 1], resampleMethod: 'near', srcNoData: [null, 7], fill: [0, 7], dtype: 'UInt16', blockSize: [BX, BY] },
        ),
      2,
    );
    comparePixels(reblocked, { data: direct }, (g, w, b, r, c) => exact(g, w, `band ${b + 1} row ${r} col ${c}`));
  });

  test('the grid layer reads an input on the lattice directly and one off it through the warper', async () => {
    const refs = [
      { name: 'd', listIndex: null, path: f('d.tif') },
      { name: 'c', listIndex: null, path: f('c.tif') },
    ];
    const ins = await Promise.all(refs.map((r) => openInput(r.path, r.name)));
    const { grid, sources } = await gridSources(refs, ins, new ApplierControls({ referencePixgrid: W, footprint: 'reference' }));
    try {
      assert.deepEqual(grid.toJSON(), new PixelGrid(W).toJSON());
      assert.ok(sources[0] instanceof ComparableRasterSource, 'd.tif is on the lattice');
      assert.ok(sources[1] instanceof WarpedRasterSource, 'c.tif (20 m, shifted) is resampled');
    } finally {
      for (const s of sources) s.close();
    }
  });

  test('inputNoData overrides the file nodata of a direct read, and is the fill outside the raster', async () => {
    const d = await comparable(f('d.tif'), [1], 9);
    assert.deepEqual(d.nodata, [9]);
    const a = await d.read(windowOf(W, subGrid(W, 95, 85, 20, 10)));
    const oracle = readAll(f('d.tif'), f('d2'));
    // row 85..94 of W = D rows -5..4; cols 95..114 = D cols -5..14
    for (let r = 0; r < 10; r++) {
      for (let c = 0; c < 20; c++) {
        const want = r >= 5 && c >= 5 ? oracle.data[(r - 5) * 170 + (c - 5)]! : 9;
        exact(Number(a[r * 20 + c]!), want, `row ${r} col ${c}`);
      }
    }
  });
});

describe('WarpedReader.read', () => {
  test('reads windows in working-grid pixel coordinates, as readTarget does for the same grid', async () => {
    const opts: WarpReadOptions = { bands: [1, 2], resampleMethod: 'near', srcNoData: [ND, ND], fill: [ND, ND], dtype: 'Int16' };
    const win = { col: 90, row: 85, cols: 41, rows: 29 }; // overlaps B
    const viaWindow = await warped({ path: f('b.tif') }, opts, W).read(win);
    const viaGrid = await readWarped({ path: f('b.tif') }, { grid: subGrid(W, 90, 85, 41, 29), working: W }, opts);
    assert.deepEqual(Array.from(viaWindow as Float64Array), Array.from(viaGrid as Float64Array));
    assert.ok(
      Array.from(viaWindow as Float64Array).some((v) => v !== ND),
      'the window shows part of B',
    );
    await assert.rejects(warped({ path: f('b.tif') }, opts).read(win), { code: 'GRID_ERROR', message: /needs the working grid/ });
  });
});
