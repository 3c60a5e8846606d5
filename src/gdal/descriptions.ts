/**
 * Band descriptions (layer names) of a closed file, set as its driver keeps them: an HFA layer
 * name, a PAM description in `.aux.xml` for GTiff and most others. gdal-async's band description
 * is read-only, so this goes through GDAL's C API (ratffi.ts).
 */
import { GdalError } from '../errors.js';
import { GDAL_OF, ratApi } from './ratffi.js';

/** Set bands 1.. of `file` to `names` (extra names are ignored by the caller's slicing). */
export function setBandDescriptions(file: string, names: readonly string[]): void {
  const api = ratApi();
  api.CPLErrorReset();
  const ds = api.GDALOpenEx(file, GDAL_OF.RASTER | GDAL_OF.UPDATE | GDAL_OF.VERBOSE_ERROR, null, null, null);
  if (ds === null) throw new GdalError(`${file}: cannot open it to name its bands: ${api.CPLGetLastErrorMsg() || 'no reason given'}`, { file });
  try {
    const n = Math.min(names.length, api.GDALGetRasterCount(ds));
    for (let b = 1; b <= n; b++) api.GDALSetDescription(api.GDALGetRasterBand(ds, b), names[b - 1]!);
  } finally {
    api.GDALClose(ds);
  }
}
