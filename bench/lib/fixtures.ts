/**
 * Benchmark inputs, made once with Python GDAL + numpy and kept under bench/out/ (ignored by git).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export const OUT = path.resolve(import.meta.dirname, '..', 'out');

/** A smooth field plus noise, Float32, tiled deflate GTiff: compresses like real imagery. */
export function makeFloatInput(name: string, size: number, seed: number, extra: { epsg?: number; transform?: number[] } = {}): string {
  mkdirSync(OUT, { recursive: true });
  const p = path.join(OUT, `${name}-${size}.tif`);
  if (existsSync(p)) return p;
  const script = `
import sys, numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
p, size, seed, epsg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
gt = [float(v) for v in sys.argv[5].split(',')] if len(sys.argv) > 5 else [500000, 10, 0, 6100000, 0, -10]
rng = np.random.default_rng(seed)
ds = gdal.GetDriverByName('GTiff').Create(p, size, size, 1, gdal.GDT_Float32,
    ['TILED=YES', 'COMPRESS=DEFLATE', 'NUM_THREADS=ALL_CPUS'])
srs = osr.SpatialReference(); srs.ImportFromEPSG(epsg)
ds.SetProjection(srs.ExportToWkt()); ds.SetGeoTransform(gt)
band = ds.GetRasterBand(1)
c = np.arange(size)
for r0 in range(0, size, 512):
    r = np.arange(r0, min(size, r0 + 512))[:, None]
    v = 1000 + 400 * np.sin(c[None, :] / (150.0 + seed)) * np.cos(r / 211.0) + 50 * np.sin((c[None, :] + r) / 23.0)
    v = v + rng.normal(0, 5, v.shape)
    band.WriteArray(np.round(v, 1).astype(np.float32), 0, r0)
ds = None
`;
  const args = [p, String(size), String(seed), String(extra.epsg ?? 32755)];
  if (extra.transform) args.push(extra.transform.join(','));
  const r = spawnSync('/usr/bin/python3', ['-c', script, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`making ${p} failed`);
  return p;
}
