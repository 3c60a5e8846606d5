/**
 * PixelGrid: a projection, a north-up geotransform and a size in pixels.
 *
 * The maths are pure functions on plain values; the class is a thin immutable wrapper. Nothing
 * here reaches GDAL: the GDAL layer gives it deep projection comparison and point transformation
 * when it loads (src/gdal/srs.ts), and reads a file's grid (`pixelGridFromFile`, src/gdal/gridio.ts).
 */
import { GridError } from './errors.js';

/** GDAL geotransform: [originX, pixelWidth, rot1, originY, rot2, pixelHeight (negative for north-up)]. */
export type GeoTransform = readonly [number, number, number, number, number, number];

export interface Bounds {
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
}

export interface PixelGridSpec {
  projection: string;
  transform: GeoTransform;
  rows: number;
  cols: number;
}

/** Relative tolerance, in pixels, for alignment and size comparisons. */
export const PIXEL_TOLERANCE = 1e-6;

export function gridBounds(g: PixelGridSpec): Bounds {
  const [x0, pw, , y0, , ph] = g.transform;
  const x1 = x0 + g.cols * pw;
  const y1 = y0 + g.rows * ph;
  return { xMin: Math.min(x0, x1), xMax: Math.max(x0, x1), yMin: Math.min(y0, y1), yMax: Math.max(y0, y1) };
}

export function isNorthUp(t: GeoTransform): boolean {
  return t[2] === 0 && t[4] === 0 && t[1] > 0 && t[5] < 0;
}

function near(a: number, b: number, scale: number): boolean {
  return Math.abs(a - b) <= PIXEL_TOLERANCE * Math.max(Math.abs(scale), 1e-12);
}

/** Same pixel size (within tolerance). */
export function samePixelSize(a: PixelGridSpec, b: PixelGridSpec): boolean {
  return near(a.transform[1], b.transform[1], a.transform[1]) && near(a.transform[5], b.transform[5], a.transform[5]);
}

/** Whether b's pixel corners fall on a's pixel lattice (same pixel size assumed). */
export function alignedWith(a: PixelGridSpec, b: PixelGridSpec): boolean {
  if (!samePixelSize(a, b)) return false;
  const dx = (b.transform[0] - a.transform[0]) / a.transform[1];
  const dy = (b.transform[3] - a.transform[3]) / a.transform[5];
  return Math.abs(dx - Math.round(dx)) < 1e-4 && Math.abs(dy - Math.round(dy)) < 1e-4;
}

/** Snap a bounds outward onto the lattice of `ref` and return the grid that covers it. */
export function gridForBounds(ref: PixelGridSpec, b: Bounds, snap: 'out' | 'in' | 'nearest' = 'nearest'): PixelGridSpec {
  const [x0, pw, , y0, , ph] = ref.transform;
  const round = snap === 'nearest' ? Math.round : null;
  const fx = (x: number, lower: boolean): number => {
    const v = (x - x0) / pw;
    if (round) return round(v);
    return (snap === 'out') === lower ? Math.floor(v + 1e-6) : Math.ceil(v - 1e-6);
  };
  const fyTop = (y: number): number => {
    const v = (y - y0) / ph; // ph negative: top edge has the smaller row number
    if (round) return round(v);
    return snap === 'out' ? Math.floor(v + 1e-6) : Math.ceil(v - 1e-6);
  };
  const fyBottom = (y: number): number => {
    const v = (y - y0) / ph;
    if (round) return round(v);
    return snap === 'out' ? Math.ceil(v - 1e-6) : Math.floor(v + 1e-6);
  };
  const c0 = fx(b.xMin, true);
  const c1 = fx(b.xMax, false);
  const r0 = fyTop(b.yMax);
  const r1 = fyBottom(b.yMin);
  return {
    projection: ref.projection,
    transform: [x0 + c0 * pw, pw, 0, y0 + r0 * ph, 0, ph],
    cols: Math.max(0, c1 - c0),
    rows: Math.max(0, r1 - r0),
  };
}

export function boundsIntersection(list: Bounds[]): Bounds {
  return {
    xMin: Math.max(...list.map((b) => b.xMin)),
    yMin: Math.max(...list.map((b) => b.yMin)),
    xMax: Math.min(...list.map((b) => b.xMax)),
    yMax: Math.min(...list.map((b) => b.yMax)),
  };
}

export function boundsUnion(list: Bounds[]): Bounds {
  return {
    xMin: Math.min(...list.map((b) => b.xMin)),
    yMin: Math.min(...list.map((b) => b.yMin)),
    xMax: Math.max(...list.map((b) => b.xMax)),
    yMax: Math.max(...list.map((b) => b.yMax)),
  };
}

/** Others as grids on `ref`'s lattice: comparable ones as they are, the rest reprojected (snapped outward). */
function onLattice(ref: PixelGridSpec, others: PixelGridSpec[]): PixelGridSpec[] {
  return others.map((o) => (isComparable(ref, o) ? o : gridReproject(o, ref)));
}

/**
 * Intersection of `ref` with other grids, as a grid on `ref`'s lattice. Grids not comparable with
 * `ref` are first reprojected onto it (footprint snapped outward). Empty results have 0 rows or cols.
 */
export function gridIntersection(ref: PixelGridSpec, others: PixelGridSpec[]): PixelGridSpec {
  return gridForBounds(ref, boundsIntersection([ref, ...onLattice(ref, others)].map(gridBounds)), 'nearest');
}

/** Union of `ref` with other grids, on `ref`'s lattice (others reprojected as for {@link gridIntersection}). */
export function gridUnion(ref: PixelGridSpec, others: PixelGridSpec[]): PixelGridSpec {
  return gridForBounds(ref, boundsUnion([ref, ...onLattice(ref, others)].map(gridBounds)), 'nearest');
}

/** Pixel offset (col, row) of `inner`'s top-left corner on `outer`'s lattice (rounded). */
export function pixelOffset(outer: PixelGridSpec, inner: PixelGridSpec): { col: number; row: number } {
  return {
    col: Math.round((inner.transform[0] - outer.transform[0]) / outer.transform[1]) + 0, // + 0 turns -0 into 0
    row: Math.round((inner.transform[3] - outer.transform[3]) / outer.transform[5]) + 0,
  };
}

/** Normalise WKT for a cheap textual comparison. */
function normWkt(w: string): string {
  return w.replace(/\s+/g, '');
}

/** Pluggable deep CRS comparison (set by the GDAL layer; pure callers get textual equality). */
let projectionComparer: ((a: string, b: string) => boolean) | undefined;
export function setProjectionComparer(fn: (a: string, b: string) => boolean): void {
  projectionComparer = fn;
}

/** True when two projection strings describe the same CRS, even if written differently. */
export function equalProjection(a: string, b: string): boolean {
  if (normWkt(a) === normWkt(b)) return true;
  if (a === '' || b === '') return false;
  return projectionComparer ? projectionComparer(a, b) : false;
}

/** Transforms points in place from one projection to another; set by the GDAL layer. */
export type PointTransformer = (from: string, to: string, xs: Float64Array, ys: Float64Array) => void;
let pointTransformer: PointTransformer | undefined;
export function setPointTransformer(fn: PointTransformer): void {
  pointTransformer = fn;
}

/** Default number of points sampled along each edge of a footprint when reprojecting it. */
export const DENSIFY_POINTS = 21;

/**
 * Points along the boundary of a bounds: `n` per edge (corners included once), as x and y arrays,
 * going round clockwise from the top-left corner.
 */
export function boundaryPoints(b: Bounds, n: number = DENSIFY_POINTS): { xs: Float64Array; ys: Float64Array } {
  const per = Math.max(2, Math.floor(n)) - 1; // segments per edge
  const xs = new Float64Array(4 * per);
  const ys = new Float64Array(4 * per);
  const w = b.xMax - b.xMin;
  const h = b.yMax - b.yMin;
  for (let i = 0; i < per; i++) {
    const f = i / per;
    xs[i] = b.xMin + f * w; // top, left to right
    ys[i] = b.yMax;
    xs[per + i] = b.xMax; // right, top to bottom
    ys[per + i] = b.yMax - f * h;
    xs[2 * per + i] = b.xMax - f * w; // bottom, right to left
    ys[2 * per + i] = b.yMin;
    xs[3 * per + i] = b.xMin; // left, bottom to top
    ys[3 * per + i] = b.yMin + f * h;
  }
  return { xs, ys };
}

/**
 * The bounds, in projection `to`, of a grid's footprint: its edges are densified (`n` points each)
 * and transformed, so curved boundaries are covered. Identity when the projections are equal.
 * @throws {GridError} when no point of the boundary can be transformed.
 */
export function reprojectBounds(src: PixelGridSpec, to: string, n: number = DENSIFY_POINTS): Bounds {
  const b = gridBounds(src);
  if (equalProjection(src.projection, to)) return b;
  if (!pointTransformer) throw new GridError('reprojectBounds: no coordinate transformer is registered');
  if (src.projection === '' || to === '') throw new GridError('cannot reproject a grid that has no projection');
  const { xs, ys } = boundaryPoints(b, n);
  pointTransformer(src.projection, to, xs, ys);
  let xMin = Infinity;
  let yMin = Infinity;
  let xMax = -Infinity;
  let yMax = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i] as number;
    const y = ys[i] as number;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (x < xMin) xMin = x;
    if (x > xMax) xMax = x;
    if (y < yMin) yMin = y;
    if (y > yMax) yMax = y;
  }
  if (!(xMin <= xMax && yMin <= yMax)) throw new GridError('the footprint of a grid cannot be transformed into the target projection');
  return { xMin, yMin, xMax, yMax };
}

/**
 * The footprint of `src` in `target`'s projection, snapped outward onto `target`'s lattice (same
 * pixel size and alignment as `target`, any extent).
 */
export function gridReproject(src: PixelGridSpec, target: PixelGridSpec, n: number = DENSIFY_POINTS): PixelGridSpec {
  return gridForBounds(target, reprojectBounds(src, target.projection, n), 'out');
}

/**
 * The grid of a window of `g`, `cols` x `rows` pixels from pixel (`xoff`, `yoff`). The window may
 * reach beyond `g` (negative offsets included): it stays on `g`'s lattice.
 */
export function subGrid(g: PixelGridSpec, xoff: number, yoff: number, cols: number, rows: number): PixelGridSpec {
  const [x0, pw, , y0, , ph] = g.transform;
  return { projection: g.projection, transform: [x0 + xoff * pw, pw, 0, y0 + yoff * ph, 0, ph], cols, rows };
}

/** A pixel window: top-left pixel (may be negative, may reach beyond a raster) and size. The one window type of riots. */
export interface PixelWindow {
  col: number;
  row: number;
  cols: number;
  rows: number;
}

/**
 * The part of a window (in a raster's pixel coordinates, possibly reaching outside it) that lies
 * inside a `cols` x `rows` raster: `read` is that part in raster coordinates, `col`/`row` where it
 * goes in the window. Null when the window misses the raster.
 */
export function clipWindow(cols: number, rows: number, w: PixelWindow): { read: PixelWindow; col: number; row: number } | null {
  const x0 = Math.max(0, w.col);
  const y0 = Math.max(0, w.row);
  const x1 = Math.min(cols, w.col + w.cols);
  const y1 = Math.min(rows, w.row + w.rows);
  if (x1 <= x0 || y1 <= y0) return null;
  return { read: { col: x0, row: y0, cols: x1 - x0, rows: y1 - y0 }, col: x0 - w.col, row: y0 - w.row };
}

/**
 * Where grid `w` lies on `g`'s pixel lattice, as a pixel window of `g` (offsets may be negative).
 * @throws {GridError} when the two grids are not on the same lattice.
 */
export function windowOf(g: PixelGridSpec, w: PixelGridSpec): PixelWindow {
  if (!alignedWith(g, w)) throw new GridError("windowOf: the window is not on the grid's pixel lattice");
  const { col, row } = pixelOffset(g, w);
  return { col, row, cols: w.cols, rows: w.rows };
}

/** Same projection, same pixel size and aligned lattices. */
export function isComparable(a: PixelGridSpec, b: PixelGridSpec): boolean {
  return equalProjection(a.projection, b.projection) && alignedWith(a, b);
}

/** Say how two grids differ, for error messages; empty when they are comparable. */
export function describeDifference(a: PixelGridSpec, b: PixelGridSpec): string[] {
  const out: string[] = [];
  if (!equalProjection(a.projection, b.projection)) out.push('projection differs');
  if (!samePixelSize(a, b)) {
    out.push(`pixel size ${a.transform[1]}x${-a.transform[5]} vs ${b.transform[1]}x${-b.transform[5]}`);
  } else if (!alignedWith(a, b)) {
    out.push('pixel corners are not aligned');
  }
  return out;
}

export class PixelGrid implements PixelGridSpec {
  readonly projection: string;
  readonly transform: GeoTransform;
  readonly rows: number;
  readonly cols: number;

  constructor(spec: PixelGridSpec) {
    if (!isNorthUp(spec.transform)) {
      throw new GridError(`PixelGrid: only north-up grids are supported (geotransform ${spec.transform.join(', ')})`);
    }
    if (!Number.isInteger(spec.rows) || !Number.isInteger(spec.cols) || spec.rows < 0 || spec.cols < 0) {
      throw new GridError(`PixelGrid: rows and cols must be non-negative integers (got ${spec.rows}x${spec.cols})`);
    }
    this.projection = spec.projection;
    this.transform = Object.freeze([...spec.transform]) as unknown as GeoTransform;
    this.rows = spec.rows;
    this.cols = spec.cols;
    Object.freeze(this);
  }

  static from(spec: PixelGridSpec): PixelGrid {
    return spec instanceof PixelGrid ? spec : new PixelGrid(spec);
  }

  /** Pixel width (positive). */
  get xRes(): number {
    return this.transform[1];
  }
  /** Pixel height (positive). */
  get yRes(): number {
    return -this.transform[5];
  }
  get bounds(): Bounds {
    return gridBounds(this);
  }
  get isEmpty(): boolean {
    return this.rows === 0 || this.cols === 0;
  }

  alignedWith(other: PixelGridSpec): boolean {
    return alignedWith(this, other);
  }
  equalProjection(other: PixelGridSpec): boolean {
    return equalProjection(this.projection, other.projection);
  }
  isComparable(other: PixelGridSpec): boolean {
    return isComparable(this, other);
  }
  /** The intersection with other grids, on this grid's lattice (others reprojected onto it if needed). */
  intersection(...others: PixelGridSpec[]): PixelGrid {
    return new PixelGrid(gridIntersection(this, others));
  }
  /** The union with other grids, on this grid's lattice (others reprojected onto it if needed). */
  union(...others: PixelGridSpec[]): PixelGrid {
    return new PixelGrid(gridUnion(this, others));
  }
  /**
   * This grid's footprint in `target`'s projection (edges densified), snapped outward onto
   * `target`'s lattice: same projection, pixel size and alignment as `target`.
   */
  reproject(target: PixelGridSpec): PixelGrid {
    return new PixelGrid(gridReproject(this, target));
  }
  /** The grid of a window of this grid (may reach beyond it), on the same lattice. */
  window(xoff: number, yoff: number, cols: number, rows: number): PixelGrid {
    return new PixelGrid(subGrid(this, xoff, yoff, cols, rows));
  }
  /** World coordinates of a pixel's top-left corner. */
  pixelToWorld(col: number, row: number): [number, number] {
    const t = this.transform;
    return [t[0] + col * t[1], t[3] + row * t[5]];
  }
  /** Fractional pixel (col, row) of a world point. */
  worldToPixel(x: number, y: number): [number, number] {
    const t = this.transform;
    return [(x - t[0]) / t[1], (y - t[3]) / t[5]];
  }
  toJSON(): PixelGridSpec {
    return { projection: this.projection, transform: [...this.transform] as unknown as GeoTransform, rows: this.rows, cols: this.cols };
  }
  toString(): string {
    const b = this.bounds;
    return `PixelGrid(${this.cols}x${this.rows}, res ${this.xRes}x${this.yRes}, x ${b.xMin}..${b.xMax}, y ${b.yMin}..${b.yMax})`;
  }
}
