/**
 * Reading an input onto a block window of the working grid.
 *
 * - {@link readWindowFilled}: for inputs on the working grid's lattice; reads the in-bounds part,
 *   fills the rest (overlap margins at edges, union footprints).
 * - {@link readWarped}: for inputs in another projection, pixel size or alignment; resamples only
 *   the window, with GDAL's warper.
 *
 * How readWarped works: once per input and target lattice, a warped VRT (gdalwarp -of VRT) is
 * built on the target lattice, over the working grid grown by a margin (or, without the working
 * grid, over the input's footprint). It is lazy: no pixel is warped until a window is read, and
 * then GDAL warps just the VRT blocks under the window, keeping them in its block cache for the
 * neighbouring windows' overlap margins. With `blockSize` set to the window size, each window is
 * one VRT block. The transformer, the source handle and the warp options are built once, not per
 * block, and the kernel scale is fixed once (see {@link resampleScale}), so a pixel's value does
 * not depend on how the grid is cut into blocks.
 */
import { gdal } from './index.js';
import type { AnyTypedArray } from '../dtypes.js';
import { allocate } from '../dtypes.js';
import { GdalError, GridError } from '../errors.js';
import { isComparable, subGrid, windowOf, type PixelGridSpec, type PixelWindow } from '../grid.js';
import { gridOfDataset, openReadOnly } from './gridio.js';
import { readWindow } from './window.js';
import { buildEntry, methodThreshold, release, type FilledReadOptions, type RasterSource, type WarpEntry, type WarpReadOptions } from './warpvrt.js';

export { WARP_MARGIN, resampleScale, type FilledReadOptions, type RasterSource, type WarpReadOptions } from './warpvrt.js';

/** The block's window (core plus overlap margins) as a grid on the working grid's lattice. */
export interface TargetWindow {
  grid: PixelGridSpec;
  /**
   * The whole working grid, when the caller knows it. readWarped then warps onto the working grid
   * grown by {@link WARP_MARGIN} pixels (the same pixel coordinates gdalwarp onto the working
   * grid uses) instead of onto the input's reprojected footprint.
   */
  working?: PixelGridSpec;
}


/** Open handles for direct window reads, by path (the caller's dataset is used when given). */
const direct = new Map<string, Promise<{ ds: gdal.Dataset; grid: PixelGridSpec }>>();
const gridOfGiven = new WeakMap<gdal.Dataset, Promise<PixelGridSpec>>();

function directSource(src: RasterSource): Promise<{ ds: gdal.Dataset; grid: PixelGridSpec }> {
  if (src.dataset) {
    const ds = src.dataset;
    let g = gridOfGiven.get(ds);
    if (!g) {
      g = gridOfDataset(ds, src.path);
      gridOfGiven.set(ds, g);
    }
    return g.then((grid) => ({ ds, grid }));
  }
  let p = direct.get(src.path);
  if (!p) {
    p = openReadOnly(src.path).then(async (ds) => ({ ds, grid: await gridOfDataset(ds, src.path) }));
    p.catch(() => direct.delete(src.path));
    direct.set(src.path, p);
  }
  return p;
}

/**
 * Read `opts.bands` of an input on the working grid's lattice over the target window, into one
 * band-major array `[bands][rows][cols]` of `opts.dtype`. Pixels of the window outside the raster
 * get `opts.fill` (per band).
 * @throws {GridError} when the input is not on the window's lattice (use {@link readWarped}).
 */
export async function readWindowFilled(src: RasterSource, target: TargetWindow, opts: FilledReadOptions): Promise<AnyTypedArray> {
  const { ds, grid } = await directSource(src);
  if (!isComparable(grid, target.grid)) {
    throw new GridError(`${src.path} is not on the working grid's lattice; it must be resampled`, { file: src.path });
  }
  const win = windowOf(grid, target.grid);
  return readWindow(ds, opts.bands, win, opts.dtype, opts.fill, grid.cols, grid.rows);
}

/** Cache key: input, options, and the lattice (projection, pixel size, phase of the origin). */
function warpKey(path: string, target: PixelGridSpec, working: PixelGridSpec | undefined, opts: WarpReadOptions): string {
  const [x0, pw, , y0, , ph] = target.transform;
  const phase = (v: number, step: number): number => {
    const f = v / step - Math.floor(v / step);
    return Math.round(f * 1e6) % 1e6;
  };
  return JSON.stringify([
    path,
    working ? [working.transform, working.cols, working.rows] : null,
    target.projection,
    pw,
    ph,
    phase(x0, pw),
    phase(y0, ph),
    opts.bands,
    opts.resampleMethod,
    opts.srcNoData,
    opts.fill,
    !!opts.allowOverviews,
    methodThreshold(opts),
    opts.blockSize ?? null,
  ]);
}

/**
 * Resamples one input onto windows of one target lattice. It owns its warped VRTs and source
 * handle, so several readers of the same file (one per read worker) never wait on each other's
 * locks. The VRTs are built on the first read.
 */
export class WarpedReader {
  private entry: Promise<WarpEntry> | undefined;
  private closed = false;

  /**
   * @param working The working grid, when known: windows may then be given in its pixel
   *   coordinates ({@link read}) and the VRT covers it (grown by {@link WARP_MARGIN}).
   */
  constructor(
    readonly src: RasterSource,
    readonly opts: WarpReadOptions,
    readonly working?: PixelGridSpec,
  ) {}

  /** Read a window given as a grid on the target lattice. */
  async readTarget(target: PixelGridSpec): Promise<AnyTypedArray> {
    if (this.closed) throw new GdalError(`reader of ${this.src.path} is closed`, { file: this.src.path });
    if (!this.entry) {
      const p = buildEntry(this.src, target, this.working, this.opts);
      p.catch(() => {
        if (this.entry === p) this.entry = undefined;
      });
      this.entry = p;
    }
    const entry = await this.entry;
    const { opts } = this;
    const win = windowOf(entry.grid, target);
    const n = win.cols * win.rows;
    const out = allocate(opts.dtype, n * opts.bands.length);
    for (const g of entry.groups) {
      for (let k = 0; k < g.outIndex.length; k++) {
        const i = g.outIndex[k]!;
        const slice = out.subarray(i * n, (i + 1) * n) as AnyTypedArray;
        await readWindow(g.vrt, [k + 1], win, opts.dtype, [opts.fill[i] ?? 0], entry.grid.cols, entry.grid.rows, slice);
      }
    }
    return out;
  }

  /** Read a window given in the working grid's pixel coordinates (margins included). */
  read(win: PixelWindow): Promise<AnyTypedArray> {
    if (!this.working) throw new GridError('WarpedReader.read needs the working grid; use readTarget');
    return this.readTarget(subGrid(this.working, win.col, win.row, win.cols, win.rows));
  }

  /** Close the VRTs and the reader's own source handle (not a dataset the caller gave). */
  async close(): Promise<void> {
    this.closed = true;
    const p = this.entry;
    this.entry = undefined;
    if (!p) return;
    try {
      release(await p);
    } catch {
      /* it never opened */
    }
  }
}

const warpedReaders = new Map<string, WarpedReader>();

/**
 * Resample `opts.bands` of an input onto the target window (a window of the working grid,
 * margins included), into one band-major array `[bands][rows][cols]` of `opts.dtype`. Only the
 * window is resampled. Pixels outside the input's coverage get `opts.fill`. Readers are cached
 * per input, options and lattice until {@link closeReadCaches}.
 *
 * Results equal `gdalwarp -ovr NONE -r <method> -et <errorThreshold> -srcnodata ... -dstnodata ...
 * -wo XSCALE=.. -wo YSCALE=..` (see {@link resampleScale}) of the input onto the whole working grid.
 */
export function readWarped(src: RasterSource, target: TargetWindow, opts: WarpReadOptions): Promise<AnyTypedArray> {
  const key = warpKey(src.path, target.grid, target.working, opts);
  let r = warpedReaders.get(key);
  if (!r) {
    r = new WarpedReader(src, opts, target.working);
    warpedReaders.set(key, r);
  }
  return r.readTarget(target.grid);
}

/**
 * A reader of windows given in the working grid's pixel coordinates (margins included, may reach
 * beyond the grid): resampled when `resample` is true, read directly otherwise. Uses the shared
 * caches; the applier's sources use a {@link WarpedReader} each instead.
 */
export function windowReader(
  src: RasterSource,
  working: PixelGridSpec,
  resample: boolean,
  opts: WarpReadOptions,
): (win: PixelWindow) => Promise<AnyTypedArray> {
  return (win) => {
    const target = { grid: subGrid(working, win.col, win.row, win.cols, win.rows), working };
    return resample ? readWarped(src, target, opts) : readWindowFilled(src, target, opts);
  };
}

/** Close every cached handle and warped VRT (end of a run). */
export async function closeReadCaches(): Promise<void> {
  const readers = [...warpedReaders.values()];
  warpedReaders.clear();
  await Promise.all(readers.map((r) => r.close()));
  const opened = await Promise.allSettled([...direct.values()]);
  direct.clear();
  for (const r of opened) if (r.status === 'fulfilled') r.value.ds.close();
}
