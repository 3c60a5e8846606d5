/**
 * Coordinate reference systems through OSR: deep equality of CRSs written differently (WKT1,
 * WKT2, PROJ strings, "EPSG:n") and point transformation in traditional GIS (x = easting or
 * longitude) axis order. Objects are cached, so per-block callers pay for a Map lookup only.
 */
import { gdal } from './index.js';
import { GridError } from '../errors.js';
import { setPointTransformer, setProjectionComparer } from '../grid.js';

const srsCache = new Map<string, gdal.SpatialReference | null>();
const plainCache = new Map<string, gdal.SpatialReference | null>();
const sameCache = new Map<string, boolean>();
const transformCache = new Map<string, gdal.CoordinateTransformation>();

/**
 * Parse any CRS text OSR understands. Axis mapping is the traditional GIS order, so points go
 * in and come out as (x, y) = (easting, northing) or (longitude, latitude) whatever the
 * authority says. Returns null for text OSR cannot parse. Cached by text.
 */
export function parseSrs(text: string): gdal.SpatialReference | null {
  const hit = srsCache.get(text);
  if (hit !== undefined) return hit;
  let srs: gdal.SpatialReference | null = null;
  if (text.trim() !== '') {
    const key = 'OSR_DEFAULT_AXIS_MAPPING_STRATEGY';
    const before = gdal.config.get(key);
    gdal.config.set(key, 'TRADITIONAL_GIS_ORDER');
    try {
      srs = gdal.SpatialReference.fromUserInput(text);
    } catch {
      srs = null;
    } finally {
      gdal.config.set(key, before);
    }
  }
  srsCache.set(text, srs);
  return srs;
}

/**
 * Parse CRS text with the default (authority) axis mapping. Comparison uses these: OSR's IsSame
 * also compares the data-axis mapping, which under the traditional GIS order differs between a
 * lat/long WKT and a long/lat PROJ string of the same CRS.
 */
function parsePlain(text: string): gdal.SpatialReference | null {
  const hit = plainCache.get(text);
  if (hit !== undefined) return hit;
  let srs: gdal.SpatialReference | null = null;
  if (text.trim() !== '') {
    try {
      srs = gdal.SpatialReference.fromUserInput(text);
    } catch {
      srs = null;
    }
  }
  plainCache.set(text, srs);
  return srs;
}

/** True when OSR considers the two CRSs the same (any spelling), or their PROJ definitions are identical. Unparseable text compares false. */
export function sameCrs(a: string, b: string): boolean {
  if (a === b) return true;
  const key = a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
  const hit = sameCache.get(key);
  if (hit !== undefined) return hit;
  const sa = parsePlain(a);
  const sb = parsePlain(b);
  let same = false;
  if (sa && sb) {
    try {
      // OSR's equivalence first; then identical PROJ definitions, which catches a CRS against its
      // own PROJ string when the string lost the datum's name (e.g. GDA94 as +ellps=GRS80 +towgs84=0,...)
      same = sa.isSame(sb) || (sa.toProj4() !== '' && sa.toProj4().trim() === sb.toProj4().trim());
    } catch {
      same = false;
    }
  }
  sameCache.set(key, same);
  return same;
}

/** The WKT (WKT1, as GDAL writes it into datasets) of any CRS text, e.g. "EPSG:32755". */
export function toWkt(text: string): string {
  const srs = parseSrs(text);
  if (!srs) throw new GridError(`cannot parse the projection "${text.slice(0, 200)}"`);
  return srs.toWKT();
}

/**
 * Transform points in place from one CRS to another (traditional GIS axis order). Points that
 * fail to transform become NaN.
 * @throws {GridError} when either CRS cannot be parsed or no transformation exists.
 */
export function transformPoints(from: string, to: string, xs: Float64Array, ys: Float64Array): void {
  const key = `${from}\u0000${to}`;
  let ct = transformCache.get(key);
  if (!ct) {
    const sa = parseSrs(from);
    const sb = parseSrs(to);
    if (!sa || !sb) throw new GridError(`cannot transform coordinates: unparseable projection "${(sa ? to : from).slice(0, 200)}"`);
    try {
      ct = new gdal.CoordinateTransformation(sa, sb);
    } catch (cause) {
      throw new GridError('no coordinate transformation between the two projections', { cause });
    }
    transformCache.set(key, ct);
  }
  for (let i = 0; i < xs.length; i++) {
    try {
      const p = ct.transformPoint(xs[i] as number, ys[i] as number);
      xs[i] = p.x;
      ys[i] = p.y;
    } catch {
      xs[i] = NaN;
      ys[i] = NaN;
    }
  }
}

// The pure grid maths (src/grid.ts) compare projections and reproject footprints through these.
setProjectionComparer(sameCrs);
setPointTransformer(transformPoints);
