/**
 * The grid layer's source builder for apply(): the working grid chosen with RIOS's rules
 * (reference, footprint, filesForExtent), then one source per input:
 * - a raster on the working lattice: read directly, filled beyond its edges (ComparableRasterSource);
 * - a raster off the lattice: resampled per block window (WarpedRasterSource);
 * - a vector: rasterized per block window (VectorInputSource).
 */
import type { AnyTypedArray, DataType } from '../dtypes.js';
import type { PixelGrid, PixelWindow } from '../grid.js';
import type { ApplierControls } from '../controls.js';
import type { OpenedInput, OpenedRaster, OpenedVector } from '../gdal/inputs.js';
import { WarpedReader } from '../gdal/warp.js';
import { VectorRasterizer, type RasterizeOptions } from '../gdal/rasterize.js';
import { ComparableRasterSource, effectiveNoData, openInputs, selectedBands, type ImageRef, type InputSource } from './inputs.js';
import { computeWorkingGrid } from './workinggrid.js';

/** A raster in another projection, pixel size or alignment, resampled onto each block window. */
export class WarpedRasterSource implements InputSource {
  readonly ref: ImageRef;
  readonly readKind = 'warped';
  readonly dtype: DataType;
  readonly bands: number;
  readonly nodata: (number | null)[];
  private readonly reader: WarpedReader;
  private readonly ds: OpenedRaster['ds'];

  constructor(ref: ImageRef, raster: OpenedRaster, working: PixelGrid, controls: ApplierControls) {
    this.ref = ref;
    this.ds = raster.ds;
    this.dtype = raster.dtype;
    const bands = selectedBands(ref, raster.bandCount, controls.get('layerSelection', ref.name));
    this.bands = bands.length;
    this.nodata = effectiveNoData(ref, raster, bands, controls.get('inputNoData', ref.name));
    this.reader = new WarpedReader(
      { path: ref.path, dataset: raster.ds },
      {
        bands,
        resampleMethod: controls.get('resampleMethod', ref.name),
        srcNoData: this.nodata,
        fill: this.nodata.map((v) => v ?? 0),
        allowOverviews: controls.global.allowOverviewsGdalwarp,
        dtype: raster.dtype,
        // one VRT block per window: read workers each warp their own windows, never the same block
        blockSize: [controls.global.windowXSize, controls.global.windowYSize],
        // no block warped beyond what a window reads
        margin: controls.global.overlap,
      },
      working,
    );
  }

  read(win: PixelWindow): Promise<AnyTypedArray> {
    return this.reader.read(win);
  }

  close(): void {
    void this.reader.close();
    this.ds.close();
  }
}

/** A vector file rasterized onto each block window with the image's vector controls. */
export class VectorInputSource implements InputSource {
  readonly ref: ImageRef;
  readonly readKind = 'rasterized';
  readonly dtype: DataType;
  readonly bands = 1;
  /** Vectors have no nodata of their own; vectorNull is what lies outside the features. */
  readonly nodata: (number | null)[] = [null];
  readonly opts: RasterizeOptions;
  private readonly rasterizer: VectorRasterizer;
  private readonly ds: OpenedVector['ds'];
  private readonly working: PixelGrid;

  constructor(ref: ImageRef, vector: OpenedVector, working: PixelGrid, controls: ApplierControls) {
    const c = controls.forImage(ref.name);
    this.ref = ref;
    this.ds = vector.ds;
    this.working = working;
    this.dtype = c.vectorDatatype;
    this.opts = {
      burnValue: c.burnValue,
      burnAttribute: c.burnAttribute,
      vectorNull: c.vectorNull,
      filterSQL: c.filterSQL,
      allTouched: c.allTouched,
      vectorDatatype: c.vectorDatatype,
      vectorLayer: c.vectorLayer,
    };
    this.rasterizer = new VectorRasterizer({ path: ref.path, dataset: vector.ds });
  }

  /** Fail at the start, not at the first block, on a layer the file does not have. */
  check(): Promise<void> {
    return this.rasterizer.checkLayer(this.opts.vectorLayer);
  }

  read(win: PixelWindow): Promise<AnyTypedArray> {
    return this.rasterizer.read(this.working, win, this.opts);
  }

  close(): void {
    void this.rasterizer.close();
    this.ds.close();
  }
}

/** Builds the working grid and one source per input; the main and a worker that reads its own inputs use the same one. */
export type SourceBuilder = (inRefs: ImageRef[], opened: OpenedInput[], controls: ApplierControls) => Promise<{ grid: PixelGrid; sources: InputSource[] }>;

/** Build the working grid and every input's source. */
export const gridSources: SourceBuilder = async (inRefs: ImageRef[], opened: OpenedInput[], controls: ApplierControls) => {
  const g = controls.global;
  const { grid, needsResample } = await computeWorkingGrid(
    inRefs.map((r, i) => {
      const o = opened[i]!;
      return { name: r.name, listIndex: r.listIndex, path: r.path, grid: o.kind === 'raster' ? o.grid : null };
    }),
    { referenceImage: g.referenceImage, referencePixgrid: g.referencePixgrid, footprint: g.footprint, filesForExtent: g.filesForExtent },
  );
  // On an error the caller closes every opened dataset (no source has taken one over yet, and
  // these sources open nothing of their own before their first read).
  const sources: InputSource[] = [];
  for (let i = 0; i < inRefs.length; i++) {
    const ref = inRefs[i]!;
    const o = opened[i]!;
    if (o.kind === 'vector') {
      const v = new VectorInputSource(ref, o, grid, controls);
      await v.check();
      sources.push(v);
    } else if (needsResample.get(ref.path)) {
      sources.push(new WarpedRasterSource(ref, o, grid, controls));
    } else {
      sources.push(new ComparableRasterSource(ref, o, grid, controls));
    }
  }
  return { grid, sources };
};

/**
 * One more set of sources on handles of its own (a read worker's): the inputs opened again and
 * built as {@link gridSources} builds them; on failure, what was opened is closed.
 */
export async function openSourceSet(refs: ImageRef[], controls: ApplierControls): Promise<InputSource[]> {
  const opened = await openInputs(refs);
  try {
    return (await gridSources(refs, opened, controls)).sources;
  } catch (err) {
    for (const o of opened) o.ds.close();
    throw err;
  }
}
