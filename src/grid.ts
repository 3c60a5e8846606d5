/**
 * PixelGrid: a projection, a north-up geotransform and a size in pixels.
 *
 * The maths are pure functions on plain values; the class is a thin immutable wrapper. Only
 * `fromFile` and projection comparison go through the GDAL layer.
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

/** Intersection of grids that share `ref`'s lattice, as a grid on that lattice. Empty grids have 0 rows or cols. */
export function gridIntersection(ref: PixelGridSpec, others: PixelGridSpec[]): PixelGridSpec {
  return gridForBounds(ref, boundsIntersection([ref, ...others].map(gridBounds)), 'nearest');
}

export function gridUnion(ref: PixelGridSpec, others: PixelGridSpec[]): PixelGridSpec {
  return gridForBounds(ref, boundsUnion([ref, ...others].map(gridBounds)), 'nearest');
}

/** Pixel offset (col, row) of `inner`'s top-left corner on `outer`'s lattice (rounded). */
export function pixelOffset(outer: PixelGridSpec, inner: PixelGridSpec): { col: number; row: number } {
  return {
    col: Math.round((inner.transform[0] - outer.transform[0]) / outer.transform[1]),
    row: Math.round((inner.transform[3] - outer.transform[3]) / outer.transform[5]),
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
  /** The intersection with other comparable grids, on this grid's lattice. */
  intersection(...others: PixelGridSpec[]): PixelGrid {
    return new PixelGrid(gridIntersection(this, others));
  }
  /** The union with other comparable grids, on this grid's lattice. */
  union(...others: PixelGridSpec[]): PixelGrid {
    return new PixelGrid(gridUnion(this, others));
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
