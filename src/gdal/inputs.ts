/**
 * Opening inputs: rasters (and vectors, which are rasterized per block), with typed errors.
 */
import { existsSync } from 'node:fs';
import { openWithNetworkDefaults } from './s3.js';
import { gdal, loadGdal, type Dataset } from './index.js';
import { InputMissingError, InputNotRasterError } from '../errors.js';
import { isDataType, type DataType } from '../dtypes.js';
import { PixelGrid } from '../grid.js';
import { noteBlockLayout } from './window.js';

export interface OpenedRaster {
  kind: 'raster';
  path: string;
  ds: Dataset;
  grid: PixelGrid;
  dtype: DataType;
  bandCount: number;
  /** Nodata per band (1..bandCount, index 0 = band 1) as stored in the file. */
  fileNoData: (number | null)[];
}

export interface OpenedVector {
  kind: 'vector';
  path: string;
  ds: Dataset;
  layerNames: string[];
}

export type OpenedInput = OpenedRaster | OpenedVector;

function isVirtualPath(p: string): boolean {
  return p.startsWith('/vsi') || /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || /^[A-Z_]+:/.test(p);
}

/**
 * Open an input with GDAL.
 * @throws {InputMissingError} when a local file does not exist.
 * @throws {InputNotRasterError} when GDAL cannot open it as a raster (or, with allowVector, a vector).
 */
export async function openInput(path: string, imageName: string, allowVector = true): Promise<OpenedInput> {
  if (!isVirtualPath(path) && !existsSync(path)) {
    throw new InputMissingError(`input '${imageName}': file ${path} does not exist`, { file: path, imageName });
  }
  loadGdal(); // a GDAL that cannot load is its own error, not this file's
  let ds: Dataset;
  try {
    ds = await openWithNetworkDefaults(path, () => gdal.openAsync(path, 'r'));
  } catch (cause) {
    throw new InputNotRasterError(`input '${imageName}': GDAL cannot open ${path} as a raster or vector: ${(cause as Error).message}`, {
      file: path,
      imageName,
      cause,
    });
  }
  const bandCount = ds.bands.count();
  if (bandCount === 0) {
    const layerCount = ds.layers.count();
    if (layerCount > 0 && allowVector) {
      const layerNames: string[] = [];
      for (let i = 0; i < layerCount; i++) layerNames.push(ds.layers.get(i).name);
      return { kind: 'vector', path, ds, layerNames };
    }
    ds.close();
    throw new InputNotRasterError(
      layerCount > 0 ? `input '${imageName}': ${path} is a vector file, which cannot be used here` : `input '${imageName}': ${path} has no raster bands`,
      { file: path, imageName },
    );
  }
  return describeRaster(ds, path, imageName);
}

export function describeRaster(ds: Dataset, path: string, imageName: string): OpenedRaster {
  const gt = ds.geoTransform;
  const size = ds.rasterSize;
  if (!gt) {
    throw new InputNotRasterError(`input '${imageName}': ${path} has no geotransform (it is not georeferenced)`, { file: path, imageName });
  }
  let grid: PixelGrid;
  try {
    grid = new PixelGrid({
      projection: ds.srs ? ds.srs.toWKT() : '',
      transform: gt as unknown as PixelGrid['transform'],
      rows: size.y,
      cols: size.x,
    });
  } catch (cause) {
    throw new InputNotRasterError(`input '${imageName}': ${path}: ${(cause as Error).message}`, { file: path, imageName, cause });
  }
  const bandCount = ds.bands.count();
  const fileNoData: (number | null)[] = [];
  let dtype: DataType | undefined;
  let blocks: { x: number; y: number } | null | undefined;
  for (let i = 1; i <= bandCount; i++) {
    const b = ds.bands.get(i);
    const bs = b.blockSize;
    blocks = blocks === undefined || (blocks !== null && blocks.x === bs.x && blocks.y === bs.y) ? bs : null;
    const t = b.dataType;
    if (!isDataType(t)) {
      throw new InputNotRasterError(
        `input '${imageName}': ${path} band ${i} has data type ${String(t)}, which riots does not handle${unhandledWhy(String(t))}`,
        {
          file: path,
          imageName,
        },
      );
    }
    if (t === 'Byte' && (b.getMetadata('IMAGE_STRUCTURE') as Record<string, string | undefined>).PIXELTYPE === 'SIGNEDBYTE') {
      // GDAL before 3.7 has no Int8: it reports these bands as Byte and reads -1 as 255
      throw new InputNotRasterError(
        `input '${imageName}': ${path} band ${i} holds signed bytes (PIXELTYPE=SIGNEDBYTE), which GDAL ${gdal.version} reads as 0..255: ` +
          'riots refuses rather than misread them (GDAL 3.7 and later read them as Int8)',
        { file: path, imageName },
      );
    }
    if (dtype === undefined) dtype = t;
    else if (dtype !== t) {
      throw new InputNotRasterError(`input '${imageName}': ${path} mixes data types across bands (${dtype} and ${t})`, { file: path, imageName });
    }
    fileNoData.push(b.noDataValue);
  }
  if (blocks) noteBlockLayout(ds, blocks.x, blocks.y, dtype!);
  return { kind: 'raster', path, ds, grid, dtype: dtype!, bandCount, fileNoData };
}

/** Why a GDAL data type is not one of riots': for the error message. */
function unhandledWhy(t: string): string {
  if (t.startsWith('C')) {
    return ' (complex pixels: gdal-async reads and writes pixels through JavaScript typed arrays, and none holds complex values, so a complex band would come through as its real parts only)';
  }
  return '';
}
