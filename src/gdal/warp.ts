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
import type { AnyTypedArray, DataType } from '../dtypes.js';
import { allocate } from '../dtypes.js';
import { GdalError, GridError } from '../errors.js';
import { gridBounds, gridReproject, isComparable, subGrid, windowOf, type PixelGridSpec, type PixelWindow } from '../grid.js';
import type { ResampleMethod } from '../controls.js';
import { gridOfDataset, openReadOnly } from './gridio.js';
import { readWindow } from './window.js';

/** An input file, with an open dataset when the caller has one. */
export interface RasterSource {
  path: string;
  dataset?: gdal.Dataset;
}

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

/** How far beyond the working grid (in pixels) windows are resampled; further out they get the fill value. */
export const WARP_MARGIN = 1024;

export interface FilledReadOptions {
  /** 1-based bands to read, in output order (layerSelection). */
  bands: number[];
  /** Value per selected band for pixels outside the raster: its nodata, else 0. */
  fill: number[];
  /** Type of the returned array. */
  dtype: DataType;
}

export interface WarpReadOptions extends FilledReadOptions {
  resampleMethod: ResampleMethod;
  /** Source nodata per selected band (file nodata or inputNoData), null for none. */
  srcNoData: (number | null)[];
  /** Let GDAL pick a source overview (controls.allowOverviewsGdalwarp). Default false: -ovr NONE. */
  allowOverviews?: boolean;
  /**
   * Transformer approximation error in pixels (gdalwarp -et). Default: 0 (exact) for `near`, whose
   * choice of source pixel would otherwise depend on how the grid is cut into chunks; 0.125
   * (gdalwarp's own default) for the other methods, whose results vary smoothly with it.
   */
  errorThreshold?: number;
  /**
   * Block size of the warped VRT: the applier's window size, so that each window is warped as
   * one VRT block of its own (readers in parallel then never warp the same block twice).
   * Default: GDAL's (512x128). Needs an input GDAL can reopen by its path.
   */
  blockSize?: [number, number];
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

/** One lazily warped VRT of a group of bands of an input. */
interface WarpedBands {
  vrt: gdal.Dataset;
  /** Index in the output (0-based) of each VRT band 1..n. */
  outIndex: number[];
}

interface WarpEntry {
  grid: PixelGridSpec;
  groups: WarpedBands[];
  handles: gdal.Dataset[];
  vsimem: string[];
}

let vsiCounter = 0;

function methodThreshold(opts: WarpReadOptions): number {
  return opts.errorThreshold ?? (opts.resampleMethod === 'near' ? 0 : 0.125);
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

function fmt(v: number): string {
  return Number.isNaN(v) ? 'nan' : String(v);
}

/**
 * Destination pixels per source pixel, along x and y, as the kernels of bilinear, cubic,
 * cubicspline and lanczos use it (gdalwarp -wo XSCALE / YSCALE): the size of the input's
 * footprint on the target lattice over the input's size. GDAL would otherwise work it out per
 * warped chunk (destination chunk size over source window size), so results would depend on
 * how the grid is cut into blocks; fixing it once makes every block agree with gdalwarp of the
 * whole grid given the same scales. Without them gdalwarp's own value is within a few percent
 * of this one (the ratio over its single chunk).
 */
export function resampleScale(srcGrid: PixelGridSpec, target: PixelGridSpec): { xScale: number; yScale: number } {
  const fp = gridReproject(srcGrid, target);
  return { xScale: fp.cols / srcGrid.cols, yScale: fp.rows / srcGrid.rows };
}

async function buildEntry(src: RasterSource, target: PixelGridSpec, working: PixelGridSpec | undefined, opts: WarpReadOptions): Promise<WarpEntry> {
  const handles: gdal.Dataset[] = [];
  const vsimem: string[] = [];
  // A handle of our own: the caller may be reading its dataset on another libuv thread.
  let ds: gdal.Dataset;
  try {
    ds = await openReadOnly(src.path);
    handles.push(ds);
  } catch (e) {
    if (!src.dataset) throw e;
    ds = src.dataset;
  }
  const srcGrid = await gridOfDataset(ds, src.path);
  const bandCount = await ds.bands.countAsync();
  // The VRT's grid: the working grid with a wide margin when known, else the input's footprint on
  // the target lattice plus a pixel each side (outside it the warper would produce only nodata,
  // which readWindow's fill gives for free).
  let grid: PixelGridSpec;
  if (working) {
    // margins that are whole blocks keep VRT blocks aligned with the working grid's windows
    const [bx, by] = opts.blockSize ?? [1, 1];
    const mx = Math.ceil(WARP_MARGIN / bx) * bx;
    const my = Math.ceil(WARP_MARGIN / by) * by;
    grid = subGrid(working, -mx, -my, working.cols + 2 * mx, working.rows + 2 * my);
  } else {
    const fp = gridReproject(srcGrid, target);
    grid = subGrid(fp, -1, -1, fp.cols + 2, fp.rows + 2);
  }
  const b = gridBounds(grid);
  const scale = resampleScale(srcGrid, target);
  // gdalwarp takes one nodata list for all bands; bands with and without nodata go in separate VRTs.
  const withNd = opts.bands.map((_, i) => i).filter((i) => opts.srcNoData[i] !== null && opts.srcNoData[i] !== undefined);
  const withoutNd = opts.bands.map((_, i) => i).filter((i) => !withNd.includes(i));
  const groups: WarpedBands[] = [];
  try {
    for (const outIndex of [withNd, withoutNd]) {
      if (outIndex.length === 0) continue;
      const fileBands = outIndex.map((i) => opts.bands[i]!);
      let source = ds;
      const identity = fileBands.length === bandCount && fileBands.every((bn, i) => bn === i + 1);
      if (!identity) {
        const sub = `/vsimem/riots-bands-${process.pid}-${++vsiCounter}.vrt`;
        source = await gdal.translateAsync(sub, ds, ['-of', 'VRT', ...fileBands.flatMap((bn) => ['-b', String(bn)])]);
        handles.push(source);
        vsimem.push(sub);
      }
      const nd = outIndex === withNd;
      const args = [
        '-of', 'VRT',
        '-t_srs', target.projection,
        '-te', String(b.xMin), String(b.yMin), String(b.xMax), String(b.yMax),
        '-tr', String(grid.transform[1]), String(-grid.transform[5]),
        '-r', opts.resampleMethod,
        '-et', String(methodThreshold(opts)),
        '-ovr', opts.allowOverviews ? 'AUTO' : 'NONE',
        '-srcnodata', nd ? outIndex.map((i) => fmt(opts.srcNoData[i]!)).join(' ') : 'None',
        '-dstnodata', nd ? outIndex.map((i) => fmt(opts.fill[i] ?? opts.srcNoData[i]!)).join(' ') : 'None',
        '-wo', nd ? 'INIT_DEST=NO_DATA' : 'INIT_DEST=0',
        '-wo', `XSCALE=${scale.xScale}`,
        '-wo', `YSCALE=${scale.yScale}`,
      ];
      const name = `/vsimem/riots-warp-${process.pid}-${++vsiCounter}.vrt`;
      let vrt: gdal.Dataset;
      try {
        vrt = await gdal.warpAsync(name, null, [source], args);
      } catch (cause) {
        throw new GdalError(`cannot set up resampling of ${src.path} onto the working grid: ${(cause as Error).message}`, { file: src.path, cause });
      }
      if (opts.blockSize && ds !== src.dataset) {
        vrt = await reblock(vrt, name, opts.blockSize, source === ds ? null : source, handles, vsimem, src.path);
      } else {
        handles.push(vrt);
        vsimem.push(name);
      }
      const size = await vrt.rasterSizeAsync;
      if (size.x !== grid.cols || size.y !== grid.rows) {
        throw new GdalError(`gdalwarp made a ${size.x}x${size.y} VRT for ${src.path}, expected ${grid.cols}x${grid.rows}`, { file: src.path });
      }
      groups.push({ vrt, outIndex });
    }
  } catch (e) {
    release({ grid, groups, handles, vsimem });
    throw e;
  }
  return { grid, groups, handles, vsimem };
}

/**
 * Reopen a warped VRT with another block size: gdalwarp -of VRT (GDAL 3.6) ignores BLOCKXSIZE, so
 * the VRT's XML is edited. The XML names its source by path; a band-subset VRT in /vsimem is
 * closed first so that its XML is there to be read.
 */
async function reblock(
  vrt: gdal.Dataset,
  name: string,
  [bx, by]: [number, number],
  sub: gdal.Dataset | null,
  handles: gdal.Dataset[],
  vsimem: string[],
  path: string,
): Promise<gdal.Dataset> {
  vrt.close();
  const xml = gdal.vsimem.release(name).toString('utf8');
  if (sub) {
    sub.close();
    handles.splice(handles.indexOf(sub), 1);
  }
  if (!/<BlockXSize>\d+<\/BlockXSize>/.test(xml) || !/<BlockYSize>\d+<\/BlockYSize>/.test(xml)) {
    throw new GdalError(`unexpected warped VRT for ${path}: no block size in its XML`, { file: path });
  }
  const edited = xml
    .replace(/<BlockXSize>\d+<\/BlockXSize>/, `<BlockXSize>${bx}</BlockXSize>`)
    .replace(/<BlockYSize>\d+<\/BlockYSize>/, `<BlockYSize>${by}</BlockYSize>`);
  try {
    // back under its own name, so that sources named relative to it (relativeToVRT) resolve
    gdal.vsimem.copy(Buffer.from(edited, 'utf8'), name);
    vsimem.push(name);
    const out = await gdal.openAsync(name);
    handles.push(out);
    return out;
  } catch (cause) {
    throw new GdalError(`cannot reopen the warped VRT of ${path}: ${(cause as Error).message}`, { file: path, cause });
  }
}

function release(e: WarpEntry): void {
  for (const h of [...e.handles].reverse()) {
    try {
      h.close();
    } catch {
      /* already closed */
    }
  }
  for (const name of e.vsimem) {
    try {
      gdal.vsimem.release(name);
    } catch {
      /* never written */
    }
  }
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
