/**
 * The lazy warped VRT of one input on a target lattice: built once per reader with gdalwarp -of
 * VRT (band subsets through a band-subset VRT, bands with and without nodata in separate VRTs),
 * optionally reopened with window-sized blocks, and released with everything it opened.
 */
import { gdal } from './index.js';
import { GdalError } from '../errors.js';
import { gridBounds, gridReproject, subGrid, type PixelGridSpec } from '../grid.js';
import { gridOfDataset, openReadOnly } from './gridio.js';
import type { ResampleMethod } from '../controls.js';
import { isBigIntType, type DataType } from '../dtypes.js';

/** An input file, with an open dataset when the caller has one. */
export interface RasterSource {
  path: string;
  dataset?: gdal.Dataset;
}

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
  /**
   * How far beyond the working grid (pixels) windows reach: the applier's overlap. The VRT covers
   * the working grid grown by this much and no more, so that the blocks along the right and
   * bottom edges are warped only over the part a window reads (a 6000-pixel grid in 256-pixel
   * blocks warped 5 % more pixels than it used with a wide margin). Default {@link WARP_MARGIN}.
   */
  margin?: number;
}

/** How far beyond the working grid (in pixels) windows are resampled when no margin is given; further out they get the fill value. */
export const WARP_MARGIN = 1024;

/** One lazily warped VRT of a group of bands of an input. */
export interface WarpedBands {
  vrt: gdal.Dataset;
  /** Index in the output (0-based) of each VRT band 1..n. */
  outIndex: number[];
}

export interface WarpEntry {
  grid: PixelGridSpec;
  groups: WarpedBands[];
  handles: gdal.Dataset[];
  vsimem: string[];
}

let vsiCounter = 0;

export function methodThreshold(opts: WarpReadOptions): number {
  return opts.errorThreshold ?? (opts.resampleMethod === 'near' ? 0 : 0.125);
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

const warnedBig = new Set<string>();

export async function buildEntry(src: RasterSource, target: PixelGridSpec, working: PixelGridSpec | undefined, opts: WarpReadOptions): Promise<WarpEntry> {
  if (isBigIntType(opts.dtype) && !warnedBig.has(src.path)) {
    // measured with GDAL 3.6: gdalwarp -r near of Int64 values near 2^62 gives values that are in no source pixel
    warnedBig.add(src.path);
    process.emitWarning(
      `${src.path} (${opts.dtype}) is resampled onto the working grid: GDAL's warper computes in double precision, so values beyond ±2^53 come out rounded`,
      { code: 'RIOTS_WARP_INT64' },
    );
  }
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
    // left and top margins of whole blocks keep VRT blocks aligned with the working grid's
    // windows; on the right and bottom the VRT stops where windows stop, so that its last blocks
    // are partial and GDAL warps only their part inside it
    const m = opts.margin ?? WARP_MARGIN;
    const [bx, by] = opts.blockSize ?? [1, 1];
    const mx = Math.ceil(m / bx) * bx;
    const my = Math.ceil(m / by) * by;
    grid = subGrid(working, -mx, -my, mx + working.cols + m, my + working.rows + m);
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
        '-of',
        'VRT',
        '-t_srs',
        target.projection,
        '-te',
        String(b.xMin),
        String(b.yMin),
        String(b.xMax),
        String(b.yMax),
        '-tr',
        String(grid.transform[1]),
        String(-grid.transform[5]),
        '-r',
        opts.resampleMethod,
        '-et',
        String(methodThreshold(opts)),
        '-ovr',
        opts.allowOverviews ? 'AUTO' : 'NONE',
        '-srcnodata',
        nd ? outIndex.map((i) => fmt(opts.srcNoData[i]!)).join(' ') : 'None',
        '-dstnodata',
        nd ? outIndex.map((i) => fmt(opts.fill[i] ?? opts.srcNoData[i]!)).join(' ') : 'None',
        '-wo',
        nd ? 'INIT_DEST=NO_DATA' : 'INIT_DEST=0',
        '-wo',
        `XSCALE=${scale.xScale}`,
        '-wo',
        `YSCALE=${scale.yScale}`,
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

export function release(e: WarpEntry): void {
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
