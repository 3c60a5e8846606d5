/**
 * ReaderInfo: what the user function knows about the grid and the current block.
 *
 * Built from plain data ({@link InfoContext}) so the same object can be rebuilt in a worker
 * thread or process.
 */
import type { AnyBlock } from './block.js';
import type { BlockCoords } from './errors.js';
import type { GeoTransform } from './grid.js';
import { blockCoords, makeBlockPlan, type BlockPlan } from './blockplan.js';
import { bigIntOf, isBigIntType, TYPED_ARRAY } from './dtypes.js';

/** Everything ReaderInfo needs that does not change between blocks; plain data. */
export interface InfoContext {
  projection: string;
  transform: GeoTransform;
  cols: number;
  rows: number;
  windowXSize: number;
  windowYSize: number;
  overlap: number;
}

/** What the applier knows of the input a block came from. */
export interface BlockSource {
  imageName: string;
  listIndex: number | null;
  filename: string;
  /** Nodata per band of the block (after inputNoData overrides); null where none. */
  nodata: (number | null)[];
}

export class ReaderInfo {
  private readonly ctx: InfoContext;
  private readonly plan: BlockPlan;
  private coords: BlockCoords;
  private readonly sources = new WeakMap<AnyBlock, BlockSource>();

  constructor(ctx: InfoContext, coords?: BlockCoords) {
    this.ctx = ctx;
    this.plan = makeBlockPlan(ctx.cols, ctx.rows, ctx.windowXSize, ctx.windowYSize, ctx.overlap);
    this.coords = coords ?? { index: 0, xoff: 0, yoff: 0, xsize: Math.min(ctx.windowXSize, ctx.cols), ysize: Math.min(ctx.windowYSize, ctx.rows) };
  }

  /** Move to another block (riots calls this; user code does not need to). */
  setBlock(coords: BlockCoords): void {
    this.coords = coords;
  }

  /** Record where a block came from, for getFilenameFor / getNoDataValueFor. */
  registerBlock(block: AnyBlock, source: BlockSource): void {
    this.sources.set(block, source);
  }

  get context(): Readonly<InfoContext> {
    return this.ctx;
  }

  /** Current block coordinates (core window, without margins). */
  get block(): Readonly<BlockCoords> {
    return this.coords;
  }

  /** [windowXSize, windowYSize]. */
  getWindowSize(): [number, number] {
    return [this.ctx.windowXSize, this.ctx.windowYSize];
  }
  getOverlapSize(): number {
    return this.ctx.overlap;
  }
  /** [cols, rows] of the working grid. */
  getTotalSize(): [number, number] {
    return [this.ctx.cols, this.ctx.rows];
  }
  getTransform(): GeoTransform {
    return this.ctx.transform;
  }
  getProjection(): string {
    return this.ctx.projection;
  }
  /** [x, y] size of a pixel in world units, both positive (RIOS's xRes, yRes). */
  getPixelSize(): [number, number] {
    return [Math.abs(this.ctx.transform[1]), Math.abs(this.ctx.transform[5])];
  }
  /** [blocks in x, blocks in y], as RIOS's getTotalBlocks(). */
  getTotalBlocks(): [number, number] {
    return [this.plan.blocksX, this.plan.blocksY];
  }
  /** How many blocks the run has in all (x blocks × y blocks). */
  getBlockTotal(): number {
    return this.plan.total;
  }
  /** [x block, y block] of the current block (0-based), as RIOS's getBlockCount(). */
  getBlockCount(): [number, number] {
    return [this.coords.index % this.plan.blocksX, Math.floor(this.coords.index / this.plan.blocksX)];
  }
  /** The same as {@link getBlockCount}, under a name that says what it is. */
  getBlockPosition(): [number, number] {
    return this.getBlockCount();
  }
  /** Size of the current block's core window, [xsize, ysize], without margins. */
  getBlockSize(): [number, number] {
    return [this.coords.xsize, this.coords.ysize];
  }
  /** Pixel bounds of the current block's core window on the working grid: [col0, row0, col1, row1) (end-exclusive). */
  getPixelBounds(): [number, number, number, number] {
    const c = this.coords;
    return [c.xoff, c.yoff, c.xoff + c.xsize, c.yoff + c.ysize];
  }
  /** World bounds of the current block's core window: [xMin, yMin, xMax, yMax]. */
  getBlockBounds(): [number, number, number, number] {
    const [x0, pw, , y0, , ph] = this.ctx.transform;
    const c = this.coords;
    const xa = x0 + c.xoff * pw;
    const xb = x0 + (c.xoff + c.xsize) * pw;
    const ya = y0 + c.yoff * ph;
    const yb = y0 + (c.yoff + c.ysize) * ph;
    return [Math.min(xa, xb), Math.min(ya, yb), Math.max(xa, xb), Math.max(ya, yb)];
  }
  /**
   * World coordinates of every pixel centre of the block, margins included: two arrays of
   * rows × cols, row-major ([x, y]).
   */
  getBlockCoordArrays(): [Float64Array, Float64Array] {
    const m = this.ctx.overlap;
    const rows = this.coords.ysize + 2 * m;
    const cols = this.coords.xsize + 2 * m;
    const [x0, pw, , y0, , ph] = this.ctx.transform;
    const xs = new Float64Array(rows * cols);
    const ys = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const y = y0 + (this.coords.yoff - m + r + 0.5) * ph;
      for (let c = 0; c < cols; c++) {
        xs[r * cols + c] = x0 + (this.coords.xoff - m + c + 0.5) * pw;
        ys[r * cols + c] = y;
      }
    }
    return [xs, ys];
  }
  /**
   * For a pixel of the current block (col x, row y within the block array, margins included),
   * its [col, row] on the whole working grid.
   */
  getPixColRow(x: number, y: number): [number, number] {
    const m = this.ctx.overlap;
    return [this.coords.xoff - m + x, this.coords.yoff - m + y];
  }
  /**
   * For a world coordinate, the [row, col] within the current block's arrays (margins
   * included) of the pixel that contains it, or [null, null] when that pixel is not in the
   * current block (as RIOS).
   */
  getPixRowColBlock(x: number, y: number): [number, number] | [null, null] {
    const [x0, pw, , y0, , ph] = this.ctx.transform;
    const m = this.ctx.overlap;
    const col = Math.floor((x - x0) / pw) - (this.coords.xoff - m);
    const row = Math.floor((y - y0) / ph) - (this.coords.yoff - m);
    const inside = row >= 0 && col >= 0 && row < this.coords.ysize + 2 * m && col < this.coords.xsize + 2 * m;
    return inside ? [row, col] : [null, null];
  }
  isFirstBlock(): boolean {
    return this.coords.index === 0;
  }
  isLastBlock(): boolean {
    return this.coords.index === this.plan.total - 1;
  }
  /** Percentage of blocks done before this one (0..100). */
  /** Whole percent of the blocks done before this one (RIOS's integer: 0 for the first block). */
  getPercent(): number {
    return this.plan.total === 0 ? 100 : Math.floor((100 * this.coords.index) / this.plan.total);
  }
  /** The file an input block was read from. */
  getFilenameFor(block: AnyBlock): string {
    return this.sourceOf(block).filename;
  }
  /**
   * The nodata value of an input block's band (1-based, as in GDAL), cast to the block's data
   * type as RIOS casts it (Int16 with 7.6 gives 7; Float32 with 0.1 gives float32(0.1)), or null
   * when it has none.
   */
  getNoDataValueFor(block: AnyBlock, band = 1): number | null {
    const s = this.sourceOf(block);
    if (!Number.isInteger(band) || band < 1 || band > s.nodata.length) {
      throw new RangeError(`getNoDataValueFor: band ${band} outside 1..${s.nodata.length} for ${s.filename}`);
    }
    const v = s.nodata[band - 1];
    return v === null || v === undefined ? null : castTo(block, v);
  }
  private sourceOf(block: AnyBlock): BlockSource {
    const s = this.sources.get(block);
    if (!s) throw new RangeError('this block is not one of the input blocks of the current call');
    return s;
  }
}

/** A number as one element of the block's typed array holds it (truncated toward zero for integers, rounded to float32 for Float32). */
function castTo(block: AnyBlock, v: number): number {
  if (isBigIntType(block.dtype)) return Number(bigIntOf(v));
  const cell = new TYPED_ARRAY[block.dtype](1) as Float64Array;
  cell[0] = v;
  return cell[0];
}

export { blockCoords };
