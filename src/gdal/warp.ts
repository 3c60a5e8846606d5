/**
 * Resampling an input onto block windows of the working grid ({@link WarpedReader}), for inputs
 * in another projection, pixel size or alignment: only the window is resampled, with GDAL's
 * warper. (Inputs on the working lattice are read directly: ComparableRasterSource.)
 *
 * How it works: once per input and target lattice, a warped VRT (gdalwarp -of VRT) is
 * built on the target lattice, over the working grid grown by a margin (or, without the working
 * grid, over the input's footprint). It is lazy: no pixel is warped until a window is read, and
 * then GDAL warps just the VRT blocks under the window, keeping them in its block cache for the
 * neighbouring windows' overlap margins. With `blockSize` set to the window size, each window is
 * one VRT block. The transformer, the source handle and the warp options are built once, not per
 * block, and the kernel scale is fixed once (see {@link resampleScale}), so a pixel's value does
 * not depend on how the grid is cut into blocks.
 */
import type { AnyTypedArray } from '../dtypes.js';
import { allocate } from '../dtypes.js';
import { GdalError, GridError } from '../errors.js';
import { subGrid, windowOf, type PixelGridSpec, type PixelWindow } from '../grid.js';
import { readWindow } from './window.js';
import { buildEntry, release, type RasterSource, type WarpEntry, type WarpReadOptions } from './warpvrt.js';

export { WARP_MARGIN, resampleScale, type FilledReadOptions, type RasterSource, type WarpReadOptions } from './warpvrt.js';

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
        const slice = out.subarray(i * n, (i + 1) * n);
        await readWindow(g.vrt, [k + 1], win, opts.dtype, [opts.fill[i] ?? 0], entry.grid.cols, entry.grid.rows, slice);
      }
    }
    return out;
  }

  /** Read a window given in the working grid's pixel coordinates (margins included). */
  async read(win: PixelWindow): Promise<AnyTypedArray> {
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
