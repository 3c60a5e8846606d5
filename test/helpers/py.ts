/**
 * The independent oracle: /usr/bin/python3 with Debian's GDAL and numpy. A script reads its
 * arguments as JSON from `args` and prints one JSON value as its last line of output.
 */
import { spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

const PRELUDE = `
import json, sys, subprocess
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
args = json.loads(sys.stdin.read())
def out(v):
    print(json.dumps(v))
`;

/** Run a Python snippet with `args` and return the JSON it prints last. */
export function py<T = unknown>(script: string, args: unknown = {}): T {
  const r = spawnSync(PYTHON, ['-c', PRELUDE + script], { input: JSON.stringify(args), encoding: 'utf8', maxBuffer: 1 << 28, timeout: 300_000 });
  if (r.error) throw new Error(`python oracle did not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`python failed (status ${r.status}, signal ${r.signal}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

/** Make a GeoTIFF from a numpy expression over (b, r, c) index arrays. */
export function makeRaster(o: {
  path: string;
  cols: number;
  rows: number;
  bands?: number;
  dtype?: string;
  /** numpy expression using b, r, c (broadcast index arrays) */
  expr: string;
  epsg?: number;
  transform?: number[];
  nodata?: number | null;
  options?: string[];
}): void {
  py(
    `
a = args
bands = a.get('bands', 1)
b, r, c = np.meshgrid(np.arange(bands), np.arange(a['rows']), np.arange(a['cols']), indexing='ij')
data = eval(a['expr'])
dt = gdal.GetDataTypeByName(a.get('dtype', 'Float32'))
ds = gdal.GetDriverByName('GTiff').Create(a['path'], a['cols'], a['rows'], bands, dt, a.get('options') or ['TILED=YES', 'COMPRESS=DEFLATE'])
from osgeo import osr
srs = osr.SpatialReference(); srs.ImportFromEPSG(a.get('epsg', 32755))
ds.SetProjection(srs.ExportToWkt())
ds.SetGeoTransform(a.get('transform') or [500000, 30, 0, 6100000, 0, -30])
for i in range(bands):
    band = ds.GetRasterBand(i + 1)
    if a.get('nodata') is not None:
        band.SetNoDataValue(a['nodata'])
    band.WriteArray(np.broadcast_to(data, (bands, a['rows'], a['cols']))[i])
ds = None
out(True)
`,
    o,
  );
}
