/**
 * readWindow against numpy's read of the same file: windows that are exactly one of the file's
 * tiles take GDAL's block read (decoded straight into the block array), every other window the
 * windowed read; both must give the file's values, band by band, whatever the interleaving.
 * Outputs: whole blocks of a band-interleaved GeoTIFF go to GDAL's block write, every other
 * block (edges, pixel interleaving, overlap margins) to the windowed write; numpy reads back what
 * the user function wrote.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gdal } from '../../../src/gdal/index.js';
import { apply, type Block } from '../../../src/index.js';
import { openInput } from '../../../src/gdal/inputs.js';
import { readWindow } from '../../../src/gdal/window.js';
import { requireKoffi } from '../../../src/gdal/koffi.js';
import { loadedLibgdal } from '../../../src/gdal/ratffi.js';
import type { PixelWindow } from '../../../src/grid.js';
import type { DataType } from '../../../src/dtypes.js';
import { makeRaster } from '../../helpers/py.js';
import { readAll } from '../../helpers/gridpy.js';
import { makeInputs } from '../../helpers/subproc.js';
import { combine } from '../../helpers/userfns.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);
const COLS = 100;
const ROWS = 70;
const TILE = 32;

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-window-'));
  const expr = '(b * 1000 + r * 7 + c * 3) % 2000 - 300';
  const tiled = ['TILED=YES', `BLOCKXSIZE=${TILE}`, `BLOCKYSIZE=${TILE}`, 'COMPRESS=DEFLATE'];
  makeRaster({ path: f('band.tif'), cols: COLS, rows: ROWS, bands: 3, dtype: 'Int16', expr, options: [...tiled, 'INTERLEAVE=BAND'] });
  makeRaster({ path: f('pixel.tif'), cols: COLS, rows: ROWS, bands: 3, dtype: 'Int16', expr, options: [...tiled, 'INTERLEAVE=PIXEL'] });
  makeRaster({ path: f('strips.tif'), cols: COLS, rows: ROWS, bands: 2, dtype: 'Int16', expr, options: ['COMPRESS=DEFLATE'] });
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Count the block reads and block writes made while `fn` runs. */
async function countingBlockReads<T>(fn: () => Promise<T>): Promise<{ result: T; blockReads: number; blockWrites: number }> {
  const proto = gdal.RasterBandPixels.prototype;
  const { readBlockAsync, writeBlockAsync } = proto;
  let blockReads = 0;
  let blockWrites = 0;
  proto.readBlockAsync = function (this: InstanceType<typeof gdal.RasterBandPixels>, ...args: Parameters<typeof readBlockAsync>) {
    blockReads++;
    return readBlockAsync.apply(this, args);
  } as typeof readBlockAsync;
  proto.writeBlockAsync = function (this: InstanceType<typeof gdal.RasterBandPixels>, ...args: Parameters<typeof writeBlockAsync>) {
    blockWrites++;
    return writeBlockAsync.apply(this, args);
  };
  try {
    return { result: await fn(), blockReads, blockWrites };
  } finally {
    Object.assign(proto, { readBlockAsync, writeBlockAsync });
  }
}

/** The oracle's values of `bands` (1-based) over `win`, band-major, `fill` outside the raster. */
function expected(file: string, bands: number[], win: PixelWindow, fill: number[]): number[] {
  const all = readAll(f(file), f(`${file}-oracle`));
  const out: number[] = [];
  bands.forEach((b, i) => {
    for (let r = win.row; r < win.row + win.rows; r++) {
      for (let c = win.col; c < win.col + win.cols; c++) {
        const inside = r >= 0 && r < all.rows && c >= 0 && c < all.cols;
        out.push(inside ? all.data[(b - 1) * all.rows * all.cols + r * all.cols + c]! : fill[i]!);
      }
    }
  });
  return out;
}

async function read(file: string, bands: number[], win: PixelWindow, dtype: DataType = 'Int16') {
  const input = await openInput(f(file), 'img', false);
  assert.equal(input.kind, 'raster');
  if (input.kind !== 'raster') throw new Error('not a raster');
  try {
    return await countingBlockReads(() =>
      readWindow(
        input.ds,
        bands,
        win,
        dtype,
        bands.map(() => -9),
        COLS,
        ROWS,
      ),
    );
  } finally {
    input.ds.close();
  }
}

describe('readWindow', () => {
  for (const file of ['band.tif', 'pixel.tif']) {
    test(`${file}: a window that is one whole tile is read block-wise, with the file's values`, async () => {
      const win = { col: 2 * TILE, row: TILE, cols: TILE, rows: TILE };
      const bands = [3, 1, 2];
      const { result, blockReads } = await read(file, bands, win);
      assert.equal(blockReads, bands.length);
      assert.deepEqual(Array.from(result as Float64Array), expected(file, bands, win, [-9, -9, -9]));
    });
  }

  test('windows that are not one whole tile are read by window, with the same values', async () => {
    const cases: PixelWindow[] = [
      { col: 5, row: 7, cols: TILE, rows: TILE }, // tile-sized but not on the tile grid
      { col: TILE, row: 0, cols: 2 * TILE, rows: TILE }, // two tiles
      { col: -3, row: -3, cols: TILE + 6, rows: TILE + 6 }, // a tile with an overlap margin
    ];
    for (const win of cases) {
      const { result, blockReads } = await read('band.tif', [2, 1], win);
      assert.equal(blockReads, 0, `window ${JSON.stringify(win)}`);
      assert.deepEqual(Array.from(result as Float64Array), expected('band.tif', [2, 1], win, [-9, -9]), `window ${JSON.stringify(win)}`);
    }
  });

  test("edge tiles, clipped to the raster or reaching past it, are read block-wise, not through GDAL's block cache", async () => {
    const cases: PixelWindow[] = [
      { col: 3 * TILE, row: 0, cols: COLS - 3 * TILE, rows: TILE }, // the right edge, clipped
      { col: 0, row: 2 * TILE, cols: TILE, rows: ROWS - 2 * TILE }, // the bottom edge, clipped
      { col: 3 * TILE, row: 2 * TILE, cols: COLS - 3 * TILE, rows: ROWS - 2 * TILE }, // the corner, clipped
      { col: 3 * TILE, row: 2 * TILE, cols: TILE, rows: TILE }, // the corner tile, reaching past the raster
    ];
    const cacheUsed = requireKoffi().load(loadedLibgdal()).func('int64_t GDALGetCacheUsed64()');
    for (const win of cases) {
      const before = Number(cacheUsed());
      const { result, blockReads } = await read('band.tif', [2, 1], win);
      assert.equal(blockReads, 2, `window ${JSON.stringify(win)}`);
      assert.equal(Number(cacheUsed()), before, `window ${JSON.stringify(win)}: nothing left in GDAL's block cache`);
      assert.deepEqual(Array.from(result as Float64Array), expected('band.tif', [2, 1], win, [-9, -9]), `window ${JSON.stringify(win)}`);
    }
    // the same check sees a windowed read (an edge window off the tile grid) fill the cache
    const before = Number(cacheUsed());
    const input = await openInput(f('band.tif'), 'img', false);
    if (input.kind !== 'raster') throw new Error('not a raster');
    const held = await readWindow(input.ds, [1], { col: 3 * TILE + 1, row: 0, cols: COLS - 3 * TILE - 1, rows: TILE }, 'Int16', [-9], COLS, ROWS);
    assert.ok(Number(cacheUsed()) > before, 'a windowed read goes through the cache');
    input.ds.close();
    assert.equal(held.length, (COLS - 3 * TILE - 1) * TILE);
  });

  test('a tile read as another data type, or from a striped file, is read by window', async () => {
    const win = { col: 0, row: 0, cols: TILE, rows: TILE };
    const asFloat = await read('band.tif', [1], win, 'Float32');
    assert.equal(asFloat.blockReads, 0);
    assert.ok(asFloat.result instanceof Float32Array);
    assert.deepEqual(Array.from(asFloat.result), expected('band.tif', [1], win, [-9]));
    const striped = await read('strips.tif', [1, 2], win);
    assert.equal(striped.blockReads, 0);
    assert.deepEqual(Array.from(striped.result as Float64Array), expected('strips.tif', [1, 2], win, [-9, -9]));
  });
});

describe('writing outputs', () => {
  // 100x70 with 32x32 windows: 3x2 whole blocks, 6 edge blocks. Each output band is an input band
  // changed per band, so that a band written to the wrong place shows.
  const transform = (_info: unknown, inputs: Record<string, Block>, outputs: Record<string, Block>): void => {
    const a = inputs.a!;
    const o = a.like('Int32');
    for (let b = 0; b < a.bands; b++)
      for (let i = 0; i < a.rows * a.cols; i++) o.data[b * a.rows * a.cols + i] = a.data[b * a.rows * a.cols + i]! * (b + 2) + 1;
    outputs.o = o;
  };
  const expectedOutput = (): number[] => {
    const a = readAll(f('band.tif'), f('band-oracle'));
    return Array.from(a.data, (v, i) => v * (Math.floor(i / (a.rows * a.cols)) + 2) + 1);
  };
  const written = (file: string): number[] => Array.from(readAll(f(file), f(`${file}-oracle`)).data);

  test('every block of a band-interleaved GeoTIFF is written block-wise, edge blocks too', async () => {
    const { blockWrites, blockReads } = await countingBlockReads(() =>
      apply(transform, { a: f('band.tif') }, { o: f('out-band.tif') }, { controls: { windowXSize: TILE, windowYSize: TILE, statsIgnore: null } }),
    );
    // 100x70 in 32x32 blocks: 3x2 whole blocks and 6 edge blocks, 3 bands, read and written block-wise
    assert.equal(blockWrites, 4 * 3 * 3);
    assert.equal(blockReads, 4 * 3 * 3);
    assert.deepEqual(written('out-band.tif'), expectedOutput());
  });

  test('each band of each dataset is fetched once, not once per block', async () => {
    const proto = gdal.DatasetBands.prototype;
    const { getAsync } = proto;
    let fetches = 0;
    proto.getAsync = function (this: InstanceType<typeof gdal.DatasetBands>, ...args: Parameters<typeof getAsync>) {
      fetches++;
      return getAsync.apply(this, args);
    };
    try {
      // 12 blocks of a 3-band input and a 3-band output: 72 fetches if each block fetched its bands
      await apply(transform, { a: f('band.tif') }, { o: f('out-fetch.tif') }, { controls: { windowXSize: TILE, windowYSize: TILE, statsIgnore: null } });
    } finally {
      proto.getAsync = getAsync;
    }
    assert.equal(fetches, 3 + 3);
    assert.deepEqual(written('out-fetch.tif'), expectedOutput());
  });

  test('outputs written block-wise, edge blocks included, are the same bytes from sequential, CW_THREADS and CW_SUBPROC runs', async () => {
    // 700x600 in riots' default 256x256 windows onto 256x256 tiles: 4 whole blocks, 5 edge blocks
    const sub = path.join(dir, 'same-bytes');
    mkdirSync(sub);
    const inputs = makeInputs(sub, 700, 600);
    const outs = (tag: string): Record<string, string> => ({ sum: path.join(sub, `${tag}-sum.tif`), extra: path.join(sub, `${tag}-extra.tif`) });
    const args = () => ({ blocks: 0, workerIds: [] as number[], detachedOutputs: 0, inComputeWorker: [] as boolean[] });
    const seq = await countingBlockReads(() => apply(combine, inputs, outs('seq'), { otherArgs: args() }));
    assert.equal(seq.blockWrites, 9 + 9 * 2, 'every block of both outputs written block-wise');
    for (const [tag, concurrency] of [
      ['thr1', { computeWorkerKind: 'CW_THREADS', numComputeWorkers: 2, numReadWorkers: 1 }],
      ['sub1', { computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, numReadWorkers: 1 }],
      ['thr2', { computeWorkerKind: 'CW_THREADS', numComputeWorkers: 2, numReadWorkers: 2 }],
      ['sub2', { computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, numReadWorkers: 2 }],
    ] as const) {
      await apply(combine, inputs, outs(tag), { otherArgs: args(), controls: { concurrency } });
      for (const name of ['sum', 'extra']) assert.deepEqual(readFileSync(outs(tag)[name]!), readFileSync(outs('seq')[name]!), `${tag} ${name}`);
    }
  });

  test('a pixel-interleaved output is written by window; blocks with an overlap margin block-wise, without it', async () => {
    const pixel = await countingBlockReads(() =>
      apply(
        transform,
        { a: f('band.tif') },
        { o: f('out-pixel.tif') },
        {
          controls: { windowXSize: TILE, windowYSize: TILE, statsIgnore: null, creationOptions: ['TILED=YES', 'INTERLEAVE=PIXEL', 'COMPRESS=DEFLATE'] },
        },
      ),
    );
    assert.equal(pixel.blockWrites, 0);
    assert.deepEqual(written('out-pixel.tif'), expectedOutput());
    const margin = await countingBlockReads(() =>
      apply(transform, { a: f('band.tif') }, { o: f('out-margin.tif') }, { controls: { windowXSize: TILE, windowYSize: TILE, overlap: 2, statsIgnore: null } }),
    );
    assert.equal(margin.blockWrites, 4 * 3 * 3);
    assert.deepEqual(written('out-margin.tif'), expectedOutput());
  });
});
