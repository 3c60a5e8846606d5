/**
 * Writing small synthetic rasters (for `riots demo` and examples): a value function per pixel,
 * written in strips so memory stays bounded.
 */
import { gdal } from './index.js';
import { gdalArray } from './arrays.js';
import { allocate, type DataType } from '../dtypes.js';
import type { PixelGridSpec } from '../grid.js';

export interface SampleRasterSpec {
  path: string;
  grid: PixelGridSpec;
  dtype: DataType;
  bands: number;
  nodata?: number | null;
  creationOptions?: string[];
  /** Value of pixel (col, row) of band b (0-based). */
  value: (col: number, row: number, band: number) => number;
}

export async function writeSampleRaster(s: SampleRasterSpec): Promise<void> {
  const driver = gdal.drivers.get('GTiff');
  const ds = await driver.createAsync(
    s.path,
    s.grid.cols,
    s.grid.rows,
    s.bands,
    s.dtype,
    s.creationOptions ?? ['TILED=YES', 'COMPRESS=DEFLATE', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256'],
  );
  try {
    if (s.grid.projection) ds.srs = gdal.SpatialReference.fromWKT(s.grid.projection);
    ds.geoTransform = [...s.grid.transform];
    const strip = 256;
    const buf = allocate(s.dtype, strip * s.grid.cols);
    for (let b = 0; b < s.bands; b++) {
      const band = await ds.bands.getAsync(b + 1);
      if (s.nodata !== undefined && s.nodata !== null) band.noDataValue = s.nodata;
      for (let r0 = 0; r0 < s.grid.rows; r0 += strip) {
        const h = Math.min(strip, s.grid.rows - r0);
        for (let r = 0; r < h; r++) {
          for (let c = 0; c < s.grid.cols; c++) buf[r * s.grid.cols + c] = s.value(c, r0 + r, b);
        }
        await band.pixels.writeAsync(0, r0, s.grid.cols, h, gdalArray(buf.subarray(0, h * s.grid.cols)) as Uint8Array);
      }
    }
    await ds.flushAsync();
  } finally {
    ds.close();
  }
}

/** WKT of an EPSG code. */
export function epsgWkt(code: number): string {
  return gdal.SpatialReference.fromEPSG(code).toWKT();
}
