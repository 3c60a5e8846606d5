/**
 * The block plan: the working grid cut into windows, walked row by row.
 */
import type { BlockCoords } from './errors.js';
import type { PixelWindow } from './grid.js';

export interface BlockPlan {
  /** Working grid size in pixels. */
  cols: number;
  rows: number;
  windowXSize: number;
  windowYSize: number;
  overlap: number;
  blocksX: number;
  blocksY: number;
  total: number;
}

export function makeBlockPlan(cols: number, rows: number, windowXSize: number, windowYSize: number, overlap: number): BlockPlan {
  const blocksX = cols === 0 ? 0 : Math.ceil(cols / windowXSize);
  const blocksY = rows === 0 ? 0 : Math.ceil(rows / windowYSize);
  return { cols, rows, windowXSize, windowYSize, overlap, blocksX, blocksY, total: blocksX * blocksY };
}

/** Coordinates of block `index` (row-major); edge blocks are smaller. */
export function blockCoords(plan: BlockPlan, index: number): BlockCoords {
  if (!Number.isInteger(index) || index < 0 || index >= plan.total) {
    throw new RangeError(`block index ${index} outside 0..${plan.total - 1}`);
  }
  const bx = index % plan.blocksX;
  const by = Math.floor(index / plan.blocksX);
  const xoff = bx * plan.windowXSize;
  const yoff = by * plan.windowYSize;
  return {
    index,
    xoff,
    yoff,
    xsize: Math.min(plan.windowXSize, plan.cols - xoff),
    ysize: Math.min(plan.windowYSize, plan.rows - yoff),
  };
}

/** The window actually read for a block, margins included, on the working grid. */
export function readWindowOf(coords: BlockCoords, overlap: number): PixelWindow {
  return {
    col: coords.xoff - overlap,
    row: coords.yoff - overlap,
    cols: coords.xsize + 2 * overlap,
    rows: coords.ysize + 2 * overlap,
  };
}
