/**
 * Vector inputs: rasterized onto one block window of the working grid at a time.
 *
 * Each call makes a MEM raster of the window (margins included), fills it with vectorNull and
 * burns the layer into it with GDAL's rasterizer (which reprojects features into the grid's
 * CRS when the layer is in another). A spatial filter on the layer, set to the window grown by
 * a pixel, keeps each block from reading features far away. The vector dataset is opened once
 * per path; calls on one dataset are serialised because the filters live on its layer.
 */
import { gdal } from './index.js';
import type { AnyTypedArray, DataType } from '../dtypes.js';
import { ControlsError, GdalError, InputError } from '../errors.js';
import { equalProjection, reprojectBounds, subGrid, type PixelGridSpec, type PixelWindow } from '../grid.js';
import { openReadOnly } from './gridio.js';
import { parseSrs } from './srs.js';

export interface RasterizeOptions {
  /** Value burnt inside features (default 1). Ignored when burnAttribute is set. */
  burnValue?: number | undefined;
  /** Attribute whose value is burnt instead of burnValue. */
  burnAttribute?: string | undefined;
  /** Value outside every feature (default 0). */
  vectorNull?: number | undefined;
  /** An SQL WHERE clause selecting the features to burn (gdal_rasterize -where). */
  filterSQL?: string | undefined;
  /** Burn every pixel a feature touches, not only those whose centre is inside (-at). */
  allTouched?: boolean | undefined;
  /** Data type of the result (default Byte). */
  vectorDatatype?: DataType | undefined;
  /** Layer name, or 0-based index (default: the first layer). */
  vectorLayer?: string | number | undefined;
}

export interface VectorSource {
  path: string;
  dataset?: gdal.Dataset;
}

interface VectorEntry {
  ds: gdal.Dataset;
  layers: { name: string; srs: string }[];
  owned: boolean;
  /** Tail of the queue of calls on this dataset. */
  queue: Promise<unknown>;
}

async function describeVector(ds: gdal.Dataset, owned: boolean, path: string): Promise<VectorEntry> {
  const n = await ds.layers.countAsync();
  if (n === 0) throw new InputError(`${path} has no vector layers`, { file: path });
  const layers: { name: string; srs: string }[] = [];
  for (let i = 0; i < n; i++) {
    const l = await ds.layers.getAsync(i);
    layers.push({ name: l.name, srs: l.srs ? l.srs.toWKT() : '' });
  }
  return { ds, layers, owned, queue: Promise.resolve() };
}

function pickLayer(e: VectorEntry, path: string, which: string | number | undefined): { name: string; srs: string; index: number } {
  if (which === undefined) return { ...e.layers[0]!, index: 0 };
  if (typeof which === 'number') {
    if (!Number.isInteger(which) || which < 0 || which >= e.layers.length) {
      throw new ControlsError(`vectorLayer ${which}: ${path} has layers 0..${e.layers.length - 1}`, { file: path });
    }
    return { ...e.layers[which]!, index: which };
  }
  const index = e.layers.findIndex((l) => l.name === which);
  if (index < 0) throw new ControlsError(`vectorLayer '${which}' is not in ${path} (layers: ${e.layers.map((l) => l.name).join(', ')})`, { file: path });
  return { ...e.layers[index]!, index };
}

/**
 * Rasterizes one vector file onto windows of a grid. It uses the caller's open dataset when given
 * (else opens its own) and serialises its calls, because the filters live on the dataset's layer.
 */
export class VectorRasterizer {
  private entry: Promise<VectorEntry> | undefined;

  constructor(readonly src: VectorSource) {}

  private open(): Promise<VectorEntry> {
    if (!this.entry) {
      const { src } = this;
      const p = src.dataset ? describeVector(src.dataset, false, src.path) : openReadOnly(src.path).then((ds) => describeVector(ds, true, src.path));
      p.catch(() => {
        if (this.entry === p) this.entry = undefined;
      });
      this.entry = p;
    }
    return this.entry;
  }

  /**
   * Rasterize onto a window (a grid, margins included) as one `[1][rows][cols]` array of
   * `vectorDatatype`.
   * @throws {ControlsError} an unknown layer; {@link GdalError} when GDAL's rasterizer fails (e.g.
   *   a missing burnAttribute or a bad filterSQL).
   */
  async rasterize(grid: PixelGridSpec, opts: RasterizeOptions = {}): Promise<AnyTypedArray> {
    const e = await this.open();
    const layer = pickLayer(e, this.src.path, opts.vectorLayer);
    const run = e.queue.then(() => burn(e, this.src.path, layer, grid, opts));
    e.queue = run.catch(() => undefined);
    return run;
  }

  /** Open the file and check that it has the layer (a name, a 0-based index, or the first). */
  async checkLayer(which: string | number | undefined): Promise<void> {
    pickLayer(await this.open(), this.src.path, which);
  }

  /** Rasterize onto a window given in `working`'s pixel coordinates (margins included). */
  read(working: PixelGridSpec, win: PixelWindow, opts: RasterizeOptions = {}): Promise<AnyTypedArray> {
    return this.rasterize(subGrid(working, win.col, win.row, win.cols, win.rows), opts);
  }

  /** Close the dataset if this rasterizer opened it. */
  async close(): Promise<void> {
    const p = this.entry;
    this.entry = undefined;
    if (!p) return;
    try {
      const e = await p;
      await e.queue;
      if (e.owned) e.ds.close();
    } catch {
      /* it never opened */
    }
  }
}

async function burn(
  e: VectorEntry,
  path: string,
  layerInfo: { name: string; srs: string; index: number },
  grid: PixelGridSpec,
  opts: RasterizeOptions,
): Promise<AnyTypedArray> {
  const dtype = opts.vectorDatatype ?? 'Byte';
  const layer = await e.ds.layers.getAsync(layerInfo.index);
  // Only features near the window: the window grown by a pixel, in the layer's CRS.
  const grown = subGrid(grid, -1, -1, grid.cols + 2, grid.rows + 2);
  let filtered = false;
  try {
    const b =
      layerInfo.srs === '' || grid.projection === '' || equalProjection(layerInfo.srs, grid.projection)
        ? reprojectBounds(grown, grid.projection)
        : reprojectBounds(grown, layerInfo.srs);
    layer.setSpatialFilter(b.xMin, b.yMin, b.xMax, b.yMax);
    filtered = true;
  } catch {
    // the window cannot be expressed in the layer's CRS (e.g. beyond its domain): read every feature
    layer.setSpatialFilter(null);
  }
  layer.setAttributeFilter(null);
  const mem = await gdal.drivers.get('MEM').createAsync('', grid.cols, grid.rows, 1, dtype);
  try {
    mem.geoTransform = [...grid.transform];
    const srs = parseSrs(grid.projection);
    if (srs) mem.srs = srs;
    const band = await mem.bands.getAsync(1);
    await band.fillAsync(opts.vectorNull ?? 0);
    const args = ['-l', layerInfo.name];
    if (opts.burnAttribute !== undefined) args.push('-a', opts.burnAttribute);
    else args.push('-burn', String(opts.burnValue ?? 1));
    if (opts.filterSQL !== undefined) args.push('-where', opts.filterSQL);
    if (opts.allTouched) args.push('-at');
    try {
      await gdal.rasterizeAsync(mem, e.ds, args);
    } catch (cause) {
      throw new GdalError(`rasterizing layer '${layerInfo.name}' of ${path} failed: ${(cause as Error).message}`, { file: path, cause });
    }
    return (await band.pixels.readAsync(0, 0, grid.cols, grid.rows)) as AnyTypedArray;
  } finally {
    mem.close();
    if (filtered) layer.setSpatialFilter(null);
    layer.setAttributeFilter(null);
  }
}
