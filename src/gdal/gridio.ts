/**
 * Reading a raster's pixel grid (projection, geotransform, size) and telling rasters from
 * vectors, with riots errors instead of GDAL's.
 */
import { existsSync } from 'node:fs';
import { openWithNetworkDefaults } from './s3.js';
import { gdal } from './index.js';
import { GridError, InputMissingError, InputNotRasterError } from '../errors.js';
import { PixelGrid, type GeoTransform, type PixelGridSpec } from '../grid.js';
import './srs.js'; // deep projection comparison for the grids it reads

/** Whether a path is one GDAL may open although it is not a local file (/vsi*, URLs, connection strings). */
function isVirtual(path: string): boolean {
  return path.startsWith('/vsi') || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(path);
}

/**
 * Open a dataset read-only (raster or vector).
 * @throws {InputMissingError} when a local path does not exist.
 * @throws {InputNotRasterError} when GDAL cannot open it.
 */
export async function openReadOnly(path: string): Promise<gdal.Dataset> {
  if (!isVirtual(path) && !existsSync(path)) throw new InputMissingError(`input file ${path} does not exist`, { file: path });
  try {
    return await openWithNetworkDefaults(path, () => gdal.openAsync(path, 'r'));
  } catch (cause) {
    throw new InputNotRasterError(`GDAL cannot open ${path}`, { file: path, cause });
  }
}

/**
 * The pixel grid of an open raster dataset.
 * @throws {InputNotRasterError} when it has no raster bands.
 * @throws {GridError} when its geotransform is not north-up.
 */
export async function gridOfDataset(ds: gdal.Dataset, path = ds.description): Promise<PixelGridSpec> {
  const bands = await ds.bands.countAsync();
  if (bands === 0) throw new InputNotRasterError(`${path} has no raster bands`, { file: path });
  const [size, gt, srs] = await Promise.all([ds.rasterSizeAsync, ds.geoTransformAsync, ds.srsAsync]);
  const transform = (gt ?? [0, 1, 0, 0, 0, 1]) as unknown as GeoTransform;
  if (!(transform[2] === 0 && transform[4] === 0 && transform[1] > 0 && transform[5] < 0)) {
    throw new GridError(`${path} is not georeferenced north-up (geotransform ${transform.join(', ')})`, { file: path });
  }
  return { projection: srs ? srs.toWKT() : '', transform, rows: size.y, cols: size.x };
}

/** The pixel grid of a raster file (opened, read, closed). */
export async function readPixelGrid(src: string | gdal.Dataset): Promise<PixelGridSpec> {
  if (typeof src !== 'string') return gridOfDataset(src);
  const ds = await openReadOnly(src);
  try {
    return await gridOfDataset(ds, src);
  } finally {
    ds.close();
  }
}

/**
 * The grid of a raster file (RIOS: `pixelGridFromFile`).
 * @throws {InputMissingError} no such file; {@link InputNotRasterError} not a raster;
 *   {@link GridError} not georeferenced north-up.
 */
export async function pixelGridFromFile(path: string): Promise<PixelGrid> {
  return new PixelGrid(await readPixelGrid(path));
}

/** What a file is: a raster (with its grid), a vector (layers, no bands), or nothing GDAL reads. */
export type FileKind = { kind: 'raster'; grid: PixelGridSpec } | { kind: 'vector' } | { kind: 'unreadable'; reason: string };

/** Probe a file without throwing. */
export async function probeFile(path: string): Promise<FileKind> {
  let ds: gdal.Dataset;
  try {
    ds = await openReadOnly(path);
  } catch (e) {
    return { kind: 'unreadable', reason: e instanceof Error ? e.message : String(e) };
  }
  try {
    if ((await ds.bands.countAsync()) > 0) return { kind: 'raster', grid: await gridOfDataset(ds, path) };
    if ((await ds.layers.countAsync()) > 0) return { kind: 'vector' };
    return { kind: 'unreadable', reason: `${path} has neither raster bands nor vector layers` };
  } catch (e) {
    return { kind: 'unreadable', reason: e instanceof Error ? e.message : String(e) };
  } finally {
    ds.close();
  }
}
