/**
 * Typed arrays as gdal-async takes them. gdal-async picks the GDAL buffer type from the array's
 * class; it maps Int8Array to GDT_Int8 only when built against GDAL 3.7 or later, which added
 * that type. With an older GDAL an Int8 block cannot be read or written: refused here, saying so.
 */
import type * as GdalModule from 'gdal-async';
import type { AnyTypedArray } from '../dtypes.js';
import { GdalError } from '../errors.js';
import { gdal } from './index.js';

/** True when this GDAL has the Int8 data type (GDAL 3.7 and later). */
export function gdalHasInt8(): boolean {
  return (gdal as unknown as Record<string, unknown>).GDT_Int8 !== undefined;
}

/**
 * The array for a gdal-async pixel call.
 * @throws {GdalError} for an Int8Array where GDAL has no Int8 type.
 */
export function gdalArray(a: AnyTypedArray): GdalModule.TypedArray<number> | GdalModule.TypedArray<bigint> {
  if (a instanceof Int8Array && !gdalHasInt8()) {
    throw new GdalError(`Int8 pixels need GDAL 3.7 or later, which added the Int8 type; this is GDAL ${gdal.version}: use Int16`);
  }
  return a as GdalModule.TypedArray<number>;
}
