/**
 * Input images: names and lists from `infiles`, opened with GDAL, and a source per image that
 * reads any window of the working grid as a band-major typed array.
 */
import { Block, assembleBlocks, type BlockAssociations } from '../block.js';
import { readWindowOf } from '../blockplan.js';
import { ControlsError, InputError, describeBlock, type BlockCoords } from '../errors.js';
import { bytesPerElement, viewAs, type AnyTypedArray, type DataType } from '../dtypes.js';
import { PixelGrid, pixelOffset, type PixelWindow } from '../grid.js';
import type { ApplierControls } from '../controls.js';
import { openInput, type OpenedInput, type OpenedRaster } from '../gdal/inputs.js';
import { readWindow } from '../gdal/window.js';
import type { ReaderInfo } from '../readerinfo.js';

/** One file named in infiles/outfiles: `name`, or `name[listIndex]` for lists. */
export interface ImageRef {
  name: string;
  listIndex: number | null;
  path: string;
}

export type FilenameAssociations = Record<string, string | string[]>;

/** Flatten {name: path | path[]} into image refs, checking names and paths. */
export function imageRefs(assoc: FilenameAssociations, what: 'infiles' | 'outfiles'): ImageRef[] {
  if (assoc === null || typeof assoc !== 'object' || Array.isArray(assoc)) {
    throw new ControlsError(`${what} must be an object mapping image names to a filename or a list of filenames`);
  }
  const out: ImageRef[] = [];
  for (const [name, v] of Object.entries(assoc)) {
    if (typeof v === 'string') {
      if (v === '') throw new ControlsError(`${what}.${name}: empty filename`, { imageName: name });
      out.push({ name, listIndex: null, path: v });
    } else if (Array.isArray(v)) {
      v.forEach((p, i) => {
        if (typeof p !== 'string' || p === '') throw new ControlsError(`${what}.${name}[${i}] must be a filename`, { imageName: name });
        out.push({ name, listIndex: i, path: p });
      });
    } else {
      throw new ControlsError(`${what}.${name} must be a filename or a list of filenames`, { imageName: name });
    }
  }
  return out;
}

export function refLabel(r: { name: string; listIndex: number | null }): string {
  return r.listIndex === null ? r.name : `${r.name}[${r.listIndex}]`;
}

/**
 * How a source makes a window: read from a file on the working lattice (`direct`), resampled
 * from another lattice by GDAL's warper (`warped`), or burnt from vectors (`rasterized`). The
 * last two cost a core each per window where a direct read mostly decodes.
 */
export type ReadKind = 'direct' | 'warped' | 'rasterized';

/** Reads windows of one input, on the working grid. */
export interface InputSource {
  ref: ImageRef;
  readonly readKind: ReadKind;
  dtype: DataType;
  /** Number of bands in each block (after layerSelection). */
  bands: number;
  /** Nodata per block band (after inputNoData), null where none. */
  nodata: (number | null)[];
  /**
   * Read a window. With `alloc`, a source may take its array's memory from it (see
   * {@link BlockAllocator}); sources that make their arrays another way ignore it.
   */
  read(win: PixelWindow, alloc?: BlockAllocator): Promise<AnyTypedArray>;
  close(): void;
}

/**
 * Memory for a block array of `bytes` bytes (contents undefined), from a backend that takes the
 * arrays back once it is done with them (ComputeBackend.inputAllocator).
 */
export type BlockAllocator = (bytes: number) => ArrayBuffer;

/** Nodata per selected band: the file's, or the inputNoData override. */
export function effectiveNoData(
  ref: ImageRef,
  raster: { fileNoData: (number | null)[]; bandCount: number },
  bands: number[],
  override: number | (number | null)[] | null | undefined,
): (number | null)[] {
  if (override === undefined) return bands.map((b) => raster.fileNoData[b - 1] ?? null);
  if (override === null || typeof override === 'number') return bands.map(() => override);
  if (override.length !== raster.bandCount) {
    throw new ControlsError(
      `inputNoData for '${refLabel(ref)}' has ${override.length} values but ${ref.path} has ${raster.bandCount} band(s): give one value, or one per band of the file`,
      { imageName: ref.name, file: ref.path },
    );
  }
  return bands.map((b) => override[b - 1] ?? null);
}

export function selectedBands(ref: ImageRef, bandCount: number, sel: number[] | undefined): number[] {
  if (!sel) return Array.from({ length: bandCount }, (_, i) => i + 1);
  for (const b of sel) {
    if (b > bandCount) {
      throw new ControlsError(`layerSelection for '${refLabel(ref)}' asks for band ${b}, but ${ref.path} has ${bandCount} band(s)`, {
        imageName: ref.name,
        file: ref.path,
      });
    }
  }
  return [...sel];
}

/** A raster on the working grid's own lattice: a window read, filled outside its extent. */
export class ComparableRasterSource implements InputSource {
  readonly ref: ImageRef;
  readonly readKind = 'direct';
  readonly dtype: DataType;
  readonly bands: number;
  readonly nodata: (number | null)[];
  private readonly raster: OpenedRaster;
  private readonly bandList: number[];
  private readonly colOff: number;
  private readonly rowOff: number;
  private readonly fill: number[];

  constructor(ref: ImageRef, raster: OpenedRaster, working: PixelGrid, controls: ApplierControls) {
    this.ref = ref;
    this.raster = raster;
    this.dtype = raster.dtype;
    this.bandList = selectedBands(ref, raster.bandCount, controls.get('layerSelection', ref.name));
    this.bands = this.bandList.length;
    this.nodata = effectiveNoData(ref, raster, this.bandList, controls.get('inputNoData', ref.name));
    this.fill = this.nodata.map((v) => v ?? 0);
    const off = pixelOffset(raster.grid, working);
    this.colOff = off.col;
    this.rowOff = off.row;
  }

  read(win: PixelWindow, alloc?: BlockAllocator): Promise<AnyTypedArray> {
    const n = win.cols * win.rows * this.bands;
    return readWindow(
      this.raster.ds,
      this.bandList,
      { col: win.col + this.colOff, row: win.row + this.rowOff, cols: win.cols, rows: win.rows },
      this.dtype,
      this.fill,
      this.raster.grid.cols,
      this.raster.grid.rows,
      alloc ? viewAs(this.dtype, alloc(n * bytesPerElement(this.dtype)), 0, n) : undefined,
    );
  }

  close(): void {
    this.raster.ds.close();
  }
}

/** Open every input (all at once, on libuv's pool). Closes what was opened if one fails. */
export async function openInputs(refs: ImageRef[]): Promise<OpenedInput[]> {
  const results = await Promise.allSettled(refs.map((r) => openInput(r.path, refLabel(r))));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    for (const r of results) if (r.status === 'fulfilled') r.value.ds.close();
    throw failed.reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<OpenedInput>).value);
}

/** Read one block of every input, as the user function sees them. */
export async function readBlockInputs(
  sources: InputSource[],
  coords: BlockCoords,
  overlap: number,
  info?: ReaderInfo,
  alloc?: BlockAllocator,
): Promise<BlockAssociations> {
  const win = readWindowOf(coords, overlap);
  const arrays = await Promise.all(
    sources.map((s) =>
      s.read(win, alloc).catch((cause: unknown) => {
        throw new InputError(`reading '${refLabel(s.ref)}' (${s.ref.path}) for ${describeBlock(coords)} failed: ${(cause as Error).message}`, {
          file: s.ref.path,
          imageName: s.ref.name,
          block: coords,
          cause,
        });
      }),
    ),
  );
  return inputBlocks(sources, arrays, win.rows, win.cols, info);
}

/** Wrap read arrays as Blocks under their names (lists in order) and register their sources. */
export function inputBlocks(
  sources: Pick<InputSource, 'ref' | 'dtype' | 'bands' | 'nodata'>[],
  arrays: AnyTypedArray[],
  rows: number,
  cols: number,
  info?: ReaderInfo,
): BlockAssociations {
  return assembleBlocks(
    sources.map((s, i) => {
      const block = new Block<DataType>(s.dtype, s.bands, rows, cols, arrays[i]);
      if (info) info.registerBlock(block, { imageName: s.ref.name, listIndex: s.ref.listIndex, filename: s.ref.path, nodata: s.nodata });
      return { name: s.ref.name, listIndex: s.ref.listIndex, block };
    }),
  );
}
