/**
 * Oracles for the grid tests: GDAL's own tools (gdalwarp, gdal_rasterize through osgeo.gdal)
 * run on the same inputs, results handed back as float64 arrays.
 */
import { readFileSync } from 'node:fs';
import { py } from './py.js';

export { py };

/** A whole raster as float64, band-major, read back with numpy. */
export function readAll(path: string, tmp: string): { data: Float64Array; bands: number; rows: number; cols: number } {
  const bin = `${tmp}.readall.bin`;
  const shape = py<[number, number, number]>(
    `
ds = gdal.Open(args['path'])
a = ds.ReadAsArray().astype('float64')
if a.ndim == 2: a = a[None]
a.tofile(args['bin'])
out(list(a.shape))
`,
    { path, bin },
  );
  const buf = readFileSync(bin);
  return { data: new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8), bands: shape[0], rows: shape[1], cols: shape[2] };
}

/** gdalwarp (gdal.Warp) of `src` onto a whole target grid, written to `dst` as GeoTIFF. */
export function gdalwarp(
  src: string,
  dst: string,
  grid: { projection: string; transform: readonly number[]; rows: number; cols: number },
  options: string[],
): void {
  py(
    `
g = args['grid']
t = g['transform']
te = [t[0], t[3] + g['rows'] * t[5], t[0] + g['cols'] * t[1], t[3]]
opts = gdal.WarpOptions(options=['-of', 'GTiff', '-t_srs', g['projection'], '-te', *[repr(v) for v in te], '-tr', repr(t[1]), repr(-t[5]), *args['options']])
ds = gdal.Warp(args['dst'], args['src'], options=opts)
assert ds.RasterXSize == g['cols'] and ds.RasterYSize == g['rows'], (ds.RasterXSize, ds.RasterYSize)
gt = ds.GetGeoTransform()
ds = None
out(list(gt))
`,
    { src, dst, grid, options },
  );
}
