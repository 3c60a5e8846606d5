/**
 * NEAREST pyramids written while the output is written: which base pixel each overview pixel
 * takes, so that each block can fill the overview pixels whose source lies in it.
 *
 * The rule reproduces GDAL 3.6 `gdaladdo -r nearest` exactly (found by experiment over many
 * raster sizes, see test/pyramids.test.ts):
 * - an overview of level L has ceil(n / L) pixels along a side of n pixels;
 * - levels are built in the order given; a level is taken from the previous level in that order
 *   when the previous level is strictly wider, otherwise from the base raster;
 * - along each axis, destination pixel i takes source pixel floor(0.5 + i · srcSize / dstSize).
 * Rows and columns map independently, so a level is described by two index tables.
 */

export interface NearestLevelMap {
  level: number;
  xsize: number;
  ysize: number;
  /** Base column taken by each overview column (strictly increasing). */
  cols: Int32Array;
  /** Base row taken by each overview row (strictly increasing). */
  rows: Int32Array;
}

/** Pixels along a side of n pixels at an overview level: ceil(n / level). */
export function overviewSize(n: number, level: number): number {
  return Math.floor((n + level - 1) / level);
}

function stepMap(src: Int32Array, dstSize: number): Int32Array {
  const ratio = src.length / dstSize;
  const out = new Int32Array(dstSize);
  for (let i = 0; i < dstSize; i++) out[i] = src[Math.floor(0.5 + i * ratio)]!;
  return out;
}

function identity(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** Index tables for each level, in the order given. */
export function nearestLevelMaps(xsize: number, ysize: number, levels: readonly number[]): NearestLevelMap[] {
  const baseCols = identity(xsize);
  const baseRows = identity(ysize);
  let prevCols = baseCols;
  let prevRows = baseRows;
  const out: NearestLevelMap[] = [];
  for (const level of levels) {
    const ox = overviewSize(xsize, level);
    const oy = overviewSize(ysize, level);
    let srcCols = prevCols;
    let srcRows = prevRows;
    if (!(prevCols.length > ox)) {
      srcCols = baseCols;
      srcRows = baseRows;
    }
    const cols = stepMap(srcCols, ox);
    const rows = stepMap(srcRows, oy);
    out.push({ level, xsize: ox, ysize: oy, cols, rows });
    prevCols = cols;
    prevRows = rows;
  }
  return out;
}

/** First index i with table[i] >= v (table strictly increasing). */
function lowerBound(table: Int32Array, v: number): number {
  let lo = 0;
  let hi = table.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (table[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface OverviewWindow {
  xoff: number;
  yoff: number;
  cols: number;
  rows: number;
}

/** The overview pixels whose source lies in a base block, or null when there are none. */
export function overviewWindowForBlock(map: NearestLevelMap, xoff: number, yoff: number, cols: number, rows: number): OverviewWindow | null {
  const x0 = lowerBound(map.cols, xoff);
  const x1 = lowerBound(map.cols, xoff + cols);
  const y0 = lowerBound(map.rows, yoff);
  const y1 = lowerBound(map.rows, yoff + rows);
  if (x1 <= x0 || y1 <= y0) return null;
  return { xoff: x0, yoff: y0, cols: x1 - x0, rows: y1 - y0 };
}

/**
 * Copy the source pixels of an overview window out of a block (row-major, `blockCols` wide,
 * top-left at base pixel (xoff, yoff)) into `out`, row-major with rows `outStride` apart
 * (default win.cols), starting at `outOffset`.
 */
export function gatherNearest<T extends { [i: number]: number | bigint; length: number }>(
  block: T,
  blockCols: number,
  xoff: number,
  yoff: number,
  map: NearestLevelMap,
  win: OverviewWindow,
  out: T,
  outStride = win.cols,
  outOffset = 0,
): void {
  const mc = map.cols;
  const mr = map.rows;
  for (let r = 0; r < win.rows; r++) {
    const rowStart = (mr[win.yoff + r]! - yoff) * blockCols - xoff;
    let k = outOffset + r * outStride;
    for (let c = 0; c < win.cols; c++) out[k++] = block[rowStart + mc[win.xoff + c]!]!;
  }
}
