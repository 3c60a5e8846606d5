/**
 * The private GDAL layer: the only code that imports gdal-async.
 *
 * Loading it sets a bounded GDAL block cache unless the user set one (GDAL_CACHEMAX), so that
 * memory stays bounded whatever the raster size.
 */
import gdal from 'gdal-async';

/**
 * Default block cache, in MB, when the user has not set GDAL_CACHEMAX. riots reads and writes
 * whole tiles, so a small cache costs nothing measurable (W1 timed the same with 64 and 256 MB)
 * and keeps peak memory well under 400 MB at any raster size.
 */
export const DEFAULT_GDAL_CACHEMAX_MB = 64;

if (!process.env.GDAL_CACHEMAX && !gdal.config.get('GDAL_CACHEMAX')) {
  gdal.config.set('GDAL_CACHEMAX', String(DEFAULT_GDAL_CACHEMAX_MB));
}
export { gdal };
export type Dataset = gdal.Dataset;
export type RasterBand = gdal.RasterBand;
