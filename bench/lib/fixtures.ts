/**
 * Benchmark inputs, made once with Python GDAL + numpy and kept under bench/out/ (ignored by git).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export const OUT = path.resolve(import.meta.dirname, '..', 'out');

/**
 * The two kinds of input every benchmark runs on: `smooth` compresses like real imagery (a smooth
 * field plus a little noise, rounded to 0.1); `noise` barely compresses (the same field plus
 * full-precision Float32 noise of every mantissa bit), the worst case for decoding and encoding.
 */
export type DataKind = 'smooth' | 'noise';
export const DATA_KINDS: readonly DataKind[] = ['smooth', 'noise'];

/** The kinds named by a benchmark's `--data` option (comma-separated; both by default). */
export function dataKinds(option: string | undefined): DataKind[] {
  const kinds = (option ?? DATA_KINDS.join(',')).split(',').map((s) => s.trim());
  for (const k of kinds) if (!DATA_KINDS.includes(k as DataKind)) throw new Error(`--data takes ${DATA_KINDS.join(', ')} (got ${k})`);
  return kinds as DataKind[];
}

/** A Float32 tiled deflate GTiff of the given kind (smooth by default). */
export function makeFloatInput(name: string, size: number, seed: number, extra: { epsg?: number; transform?: number[]; kind?: DataKind } = {}): string {
  mkdirSync(OUT, { recursive: true });
  const kind = extra.kind ?? 'smooth';
  const p = path.join(OUT, `${name}${kind === 'noise' ? '-noise' : ''}-${size}.tif`);
  if (existsSync(p)) return p;
  const script = `
import sys, numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
p, size, seed, epsg, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
gt = [float(v) for v in sys.argv[6].split(',')] if len(sys.argv) > 6 else [500000, 10, 0, 6100000, 0, -10]
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
    if kind == 'noise':
        v = (v + rng.normal(0, 100, v.shape)).astype(np.float32)
    else:
        v = np.round(v + rng.normal(0, 5, v.shape), 1).astype(np.float32)
    band.WriteArray(v, 0, r0)
ds = None
`;
  const args = [p, String(size), String(seed), String(extra.epsg ?? 32755), kind];
  if (extra.transform) args.push(extra.transform.join(','));
  const r = spawnSync('/usr/bin/python3', ['-c', script, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`making ${p} failed`);
  return p;
}

/** W3's B: a second field made in UTM over A's area (seed 2), warped once to EPSG:4326. */
export function makeGeographicInput(size: number, kind: DataKind = 'smooth'): string {
  const p = path.join(OUT, `w3b-4326${kind === 'noise' ? '-noise' : ''}-${size}.tif`);
  if (existsSync(p)) return p;
  const src = makeFloatInput('w3b-utm', size, 2, { kind });
  const co = ['TILED=YES', 'COMPRESS=DEFLATE', 'INTERLEAVE=BAND', 'BIGTIFF=IF_SAFER', 'NUM_THREADS=ALL_CPUS'].flatMap((c) => ['-co', c]);
  const r = spawnSync('gdalwarp', ['-q', '-t_srs', 'EPSG:4326', '-r', 'bilinear', '-multi', '-wo', 'NUM_THREADS=ALL_CPUS', ...co, src, p], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`making ${p} failed`);
  return p;
}
