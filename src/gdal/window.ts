/**
 * Reading and writing rectangular windows of a raster with the async API, straight into and
 * out of band-major block arrays (no intermediate copies: GDAL writes at the right offsets).
 *
 * A window that is exactly one of the file's blocks (the usual case when riots reads what riots
 * wrote: 256x256 tiles, 256x256 windows) is read with GDAL's block read, which decodes the tile
 * straight into the block array instead of into GDAL's block cache and copying it from there;
 * a window whose part inside the raster is an edge block's part inside it (a raster that is not a
 * whole number of blocks) reads that block into a scratch array and copies its rows.
 * Likewise a block written to a band-interleaved GeoTIFF output whose tiles are the windows goes
 * to GDAL's block write: GDAL compresses it at once, on its compression threads, instead of
 * keeping it dirty in the block cache until the cache is full or the file is flushed (which left
 * up to GDAL_CACHEMAX of tiles to compress after the last block). Edge blocks, and blocks with
 * an overlap margin, are copied into a whole block first (outside the raster: what GDAL would
 * leave there, the nodata value or 0). Blocks that went through the cache held fresh memory for
 * the whole run (W1: ~35 MB, 8,000 page faults).
 */
import type { Dataset, RasterBand } from './index.js';
import { gdalArray } from './arrays.js';
import type { PixelWindow } from '../grid.js';
import { allocateUninitialized, bytesPerElement, fillWith, type AnyTypedArray, type DataType } from '../dtypes.js';

/** The block shape shared by every band of a dataset, and their data type. */
interface BlockLayout {
  x: number;
  y: number;
  dtype: DataType;
  /** Whether whole blocks may be written with GDAL's block write (see {@link noteBlockLayout}). */
  blockWrites?: boolean;
  /**
   * With blockWrites: the raster's size, so that edge blocks are written block-wise too, their
   * part outside the raster filled with `pad` (what GDAL's own writes leave there: the nodata
   * value, or 0).
   */
  edges?: { cols: number; rows: number; pad: number };
}

const blockLayouts = new WeakMap<Dataset, BlockLayout>();

/**
 * Each dataset's band handles, fetched once. Fetching a band with the async API is a trip through
 * libuv's pool and back to this thread; made for every band of every block read or written, it
 * lengthened each block's chain of reads and writes (docs/PERFORMANCE.md, W1). A failed fetch is
 * forgotten, so that the next call makes, and reports, its own.
 */
const bandHandles = new WeakMap<Dataset, Map<number, Promise<RasterBand>>>();

function bandOf(ds: Dataset, n: number): Promise<RasterBand> {
  let bands = bandHandles.get(ds);
  if (!bands) {
    bands = new Map();
    bandHandles.set(ds, bands);
  }
  let band = bands.get(n);
  if (!band) {
    band = ds.bands.getAsync(n);
    bands.set(n, band);
    const known = bands;
    band.catch(() => known.delete(n));
  }
  return band;
}

/**
 * Record that every band of `ds` has blocks of `x` by `y` pixels of `dtype`, so that windows
 * matching one block are read block-wise, and, with `blockWrites`, written block-wise. Called
 * when an input is opened or an output created (the block size is a synchronous GDAL call, which
 * must not run while an async call holds the dataset). `blockWrites` only where a block of one
 * band is a unit of the file (a band-interleaved or single-band GeoTIFF): GDAL's block write to a
 * pixel-interleaved file would read back and rewrite the other bands' part of each tile.
 */
export function noteBlockLayout(ds: Dataset, x: number, y: number, dtype: DataType, blockWrites = false, edges?: BlockLayout['edges']): void {
  blockLayouts.set(ds, { x, y, dtype, blockWrites, ...(edges ? { edges } : {}) });
}

/**
 * Read `bands` (1-based) of `win` into one band-major array of `dtype`. Parts of the window
 * outside the raster are filled with `fill[i]` (per selected band).
 */
export async function readWindow(
  ds: Dataset,
  bands: readonly number[],
  win: PixelWindow,
  dtype: DataType,
  fill: readonly number[],
  rasterCols: number,
  rasterRows: number,
  out?: AnyTypedArray,
): Promise<AnyTypedArray> {
  const n = win.cols * win.rows;
  const c0 = Math.max(0, win.col);
  const r0 = Math.max(0, win.row);
  const c1 = Math.min(rasterCols, win.col + win.cols);
  const r1 = Math.min(rasterRows, win.row + win.rows);
  const inside = c1 > c0 && r1 > r0;
  const full = inside && c0 === win.col && r0 === win.row && c1 === win.col + win.cols && r1 === win.row + win.rows;
  // Every element is written below (by GDAL when the window is inside, by the fill otherwise).
  const data = out ?? allocateUninitialized(dtype, n * bands.length);
  const bpe = bytesPerElement(dtype);
  const layout = blockLayouts.get(ds);
  // The window's part inside the raster is exactly one of the file's blocks, or the part of an
  // edge block inside the raster: read that block whole (GDAL fills a whole block buffer), not
  // through GDAL's block cache. Edge blocks read by window stayed in the cache (W1: 94 of them,
  // ~24 MB of fresh memory faulted in, ~0.1 CPU-s).
  const tiled =
    inside &&
    layout !== undefined &&
    layout.dtype === dtype &&
    c0 === win.col &&
    r0 === win.row &&
    win.col % layout.x === 0 &&
    win.row % layout.y === 0 &&
    c1 - c0 === Math.min(layout.x, rasterCols - c0) &&
    r1 - r0 === Math.min(layout.y, rasterRows - r0);
  const oneBlock = tiled && full && win.cols === layout.x && win.rows === layout.y;
  for (let i = 0; i < bands.length; i++) {
    const bandData = data.subarray(i * n, (i + 1) * n);
    if (!full) fillWith(bandData, fill[i] ?? 0);
    if (!inside) continue;
    const band = await bandOf(ds, bands[i]!);
    if (oneBlock) {
      await band.pixels.readBlockAsync(win.col / layout.x, win.row / layout.y, gdalArray(bandData) as Uint8Array);
      continue;
    }
    if (tiled) {
      const tile = allocateUninitialized(dtype, layout.x * layout.y);
      await band.pixels.readBlockAsync(win.col / layout.x, win.row / layout.y, gdalArray(tile) as Uint8Array);
      const w = c1 - c0;
      for (let r = 0; r < r1 - r0; r++) bandData.set(tile.subarray(r * layout.x, r * layout.x + w) as never, r * win.cols);
      continue;
    }
    const offset = (r0 - win.row) * win.cols + (c0 - win.col);
    const w = c1 - c0;
    const h = r1 - r0;
    // The last row needs only w elements after `offset + (h-1)*win.cols`.
    const view = bandData.subarray(offset, offset + (h - 1) * win.cols + w);
    await band.pixels.readAsync(c0, r0, w, h, gdalArray(view) as Uint8Array, {
      buffer_width: w,
      buffer_height: h,
      data_type: dtype,
      pixel_space: bpe,
      line_space: win.cols * bpe,
    });
  }
  return data;
}

/**
 * Write the core part of a band-major block array to bands 1..nbands at (col,row). The block
 * array has `blockCols` columns and `margin` extra pixels on every side that are not written.
 */
export async function writeWindow(
  ds: Dataset,
  data: AnyTypedArray,
  nbands: number,
  blockRows: number,
  blockCols: number,
  margin: number,
  col: number,
  row: number,
  cols: number,
  rows: number,
  dtype: DataType,
): Promise<void> {
  const n = blockRows * blockCols;
  const bpe = bytesPerElement(dtype);
  const layout = blockLayouts.get(ds);
  const aligned = layout?.blockWrites === true && layout.dtype === dtype && col % layout.x === 0 && row % layout.y === 0;
  const oneBlock = aligned && margin === 0 && cols === layout.x && rows === layout.y;
  // the core is one of the file's blocks (the block array has an overlap margin), or the part of
  // an edge block inside the raster: copied into a whole block, written block-wise as well
  const copied =
    aligned &&
    !oneBlock &&
    layout.edges !== undefined &&
    cols === Math.min(layout.x, layout.edges.cols - col) &&
    rows === Math.min(layout.y, layout.edges.rows - row);
  for (let b = 0; b < nbands; b++) {
    const band = await bandOf(ds, b + 1);
    if (oneBlock) {
      await band.pixels.writeBlockAsync(col / layout.x, row / layout.y, gdalArray(data.subarray(b * n, (b + 1) * n)));
      continue;
    }
    if (copied) {
      const tile = allocateUninitialized(dtype, layout.x * layout.y);
      fillWith(tile, layout.edges!.pad);
      const start = b * n + margin * blockCols + margin;
      for (let r = 0; r < rows; r++) tile.set(data.subarray(start + r * blockCols, start + r * blockCols + cols) as never, r * layout.x);
      await band.pixels.writeBlockAsync(col / layout.x, row / layout.y, gdalArray(tile));
      continue;
    }
    const start = b * n + margin * blockCols + margin;
    const view = data.subarray(start, start + (rows - 1) * blockCols + cols);
    await band.pixels.writeAsync(col, row, cols, rows, gdalArray(view) as Uint8Array, {
      buffer_width: cols,
      buffer_height: rows,
      pixel_space: bpe,
      line_space: blockCols * bpe,
    });
  }
}
