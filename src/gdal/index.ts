/**
 * The private GDAL layer: the only code that imports gdal-async.
 *
 * gdal-async is loaded on first use, not when riots is imported: loading it (the GDAL library
 * and its drivers) costs about 0.12 s even with two unused imports deferred (./load.ts), which
 * a compute worker that never reads (its inputs come over the channel) or a user module that
 * imports riots only for `defineUserFunction` should not pay. Loading it sets a bounded GDAL block cache unless the user
 * set one (GDAL_CACHEMAX), so that memory stays bounded whatever the raster size.
 */
import type * as GdalModule from 'gdal-async';
import { requireGdalAsync } from './load.js';

/**
 * Default block cache, in MB, when the user has not set GDAL_CACHEMAX. riots reads and writes
 * whole tiles, so a small cache costs nothing measurable (W1 timed the same with 64 and 256 MB)
 * and keeps peak memory well under 400 MB at any raster size.
 */
export const DEFAULT_GDAL_CACHEMAX_MB = 64;

type Gdal = typeof GdalModule;
let loaded: Gdal | undefined;

/** gdal-async itself, loaded (and configured) on the first call. */
export function loadGdal(): Gdal {
  if (loaded === undefined) {
    const g = requireGdalAsync<Gdal>();
    if (!process.env.GDAL_CACHEMAX && !g.config.get('GDAL_CACHEMAX')) {
      g.config.set('GDAL_CACHEMAX', String(DEFAULT_GDAL_CACHEMAX_MB));
    }
    loaded = g;
  }
  return loaded;
}

/** True once gdal-async has been loaded in this process. */
export function gdalLoaded(): boolean {
  return loaded !== undefined;
}

/** gdal-async's namespace; the module is loaded the first time a member is used. */
export const gdal: Gdal = new Proxy({} as Gdal, {
  get: (_t, key) => Reflect.get(loadGdal(), key),
  has: (_t, key) => Reflect.has(loadGdal(), key),
});
// The types of gdal-async under the same name, for `gdal.Dataset` etc. in type positions.
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace gdal {
  export type Dataset = GdalModule.Dataset;
  export type RasterBand = GdalModule.RasterBand;
  export type Driver = GdalModule.Driver;
  export type SpatialReference = GdalModule.SpatialReference;
  export type CoordinateTransformation = GdalModule.CoordinateTransformation;
}
export type Dataset = GdalModule.Dataset;
export type RasterBand = GdalModule.RasterBand;
