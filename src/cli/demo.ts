/**
 * `riots demo [DIR]`: make a small synthetic scene (surface reflectance, elevation, cloud mask),
 * run a multi-input apply with a progress bar, and print the timing report.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { apply } from '../applier/apply.js';
import { epsgWkt, writeSampleRaster } from '../gdal/sample.js';
import type { PixelGridSpec } from '../grid.js';

export const help = `usage: riots demo [DIR] [--size N]

Makes a synthetic scene in DIR (default: a new temporary folder):
  reflectance.tif  4-band UInt16 surface reflectance (blue, green, red, nir), scale 10000
  dem.tif          Float32 elevation in metres
  cloud.tif        Byte cloud mask (1 = cloud)
then runs one apply() over the three inputs that writes
  ndvi.tif         Float32 NDVI, -2 where cloudy (the nodata value)
  classes.tif      thematic Byte: 1 water, 2 bare, 3 sparse vegetation, 4 dense vegetation, 5 high ground; 0 = cloud
with statistics, histograms and pyramids, a progress bar, and a timing report.

options:
  --size N         scene size in pixels (default 3000)
  --report FILE    also write the run report there (an HTML page: timeline, phases, quicklooks;
                   its events go beside it as .json)
`;

/** Smooth pseudo-random field in 0..1 from a few sine waves (deterministic). */
function field(c: number, r: number, seed: number): number {
  const a = Math.sin((c + seed * 37) / 97) * Math.cos((r - seed * 11) / 131);
  const b = Math.sin((c * 0.7 + r * 0.3 + seed) / 43) * 0.5;
  const d = Math.cos((c * 0.2 - r * 0.9) / 29 + seed) * 0.25;
  return Math.min(1, Math.max(0, 0.5 + 0.35 * a + 0.2 * b + 0.1 * d));
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { size: { type: 'string' }, report: { type: 'string' } }, allowPositionals: true });
  const size = values.size ? Number(values.size) : 3000;
  if (!Number.isInteger(size) || size < 16) {
    process.stderr.write(`riots demo: --size must be an integer >= 16 (got ${values.size})\n`);
    return 2;
  }
  const dir = positionals[0] ? path.resolve(positionals[0]) : mkdtempSync(path.join(os.tmpdir(), 'riots-demo-'));
  mkdirSync(dir, { recursive: true });
  const grid: PixelGridSpec = {
    projection: epsgWkt(32755),
    transform: [500000, 30, 0, 6100000, 0, -30],
    cols: size,
    rows: size,
  };
  const log = (s: string): void => void process.stderr.write(s + '\n');
  log(`riots demo: making a ${size}x${size} synthetic scene (30 m pixels, UTM 55S) in ${dir}`);
  const elev = (c: number, r: number): number => 50 + 900 * field(c, r, 3) ** 2;
  const water = (c: number, r: number): boolean => Math.abs(r - size / 2 - 120 * Math.sin(c / 150)) < 12 || elev(c, r) < 60;
  const veg = (c: number, r: number): number => (water(c, r) ? 0 : field(c, r, 7));
  const cloud = (c: number, r: number): boolean => field(c, r, 19) > 0.82;
  await Promise.all([
    writeSampleRaster({
      path: path.join(dir, 'reflectance.tif'),
      grid,
      dtype: 'UInt16',
      bands: 4,
      value: (c, r, b) => {
        if (cloud(c, r)) return 6000 + b * 200;
        if (water(c, r)) return [600, 500, 300, 150][b]!;
        const v = veg(c, r);
        // vegetation: low red, high nir; bare soil: bright in every band
        return Math.round([700, 900, 1800 - 1500 * v, 2200 + 2800 * v][b]!);
      },
    }),
    writeSampleRaster({ path: path.join(dir, 'dem.tif'), grid, dtype: 'Float32', bands: 1, value: (c, r) => elev(c, r) }),
    writeSampleRaster({ path: path.join(dir, 'cloud.tif'), grid, dtype: 'Byte', bands: 1, nodata: 255, value: (c, r) => (cloud(c, r) ? 1 : 0) }),
  ]);

  log('riots demo: apply() -> ndvi.tif, classes.tif');
  const result = await apply(
    (_info, inputs, outputs) => {
      const refl = inputs.refl;
      const dem = inputs.dem.band(0);
      const cloudy = inputs.cloud.band(0);
      const red = refl.band(2);
      const nir = refl.band(3);
      const ndvi = refl.like('Float32', 1);
      const classes = refl.like('Byte', 1);
      const nd = ndvi.data;
      const cl = classes.data;
      for (let i = 0; i < nd.length; i++) {
        if (cloudy[i] === 1) {
          nd[i] = -2;
          cl[i] = 0;
          continue;
        }
        const v = (nir[i]! - red[i]!) / (nir[i]! + red[i]! || 1);
        nd[i] = v;
        cl[i] = v < 0 ? 1 : dem[i]! > 700 ? 5 : v < 0.2 ? 2 : v < 0.5 ? 3 : 4;
      }
      outputs.ndvi = ndvi;
      outputs.classes = classes;
    },
    { refl: path.join(dir, 'reflectance.tif'), dem: path.join(dir, 'dem.tif'), cloud: path.join(dir, 'cloud.tif') },
    { ndvi: path.join(dir, 'ndvi.tif'), classes: path.join(dir, 'classes.tif') },
    {
      controls: {
        progress: true,
        ...(values.report !== undefined ? { report: path.resolve(values.report) } : {}),
        images: {
          ndvi: { statsIgnore: -2, layerNames: ['NDVI'] },
          classes: { thematic: true, statsIgnore: 0, layerNames: ['landcover'] },
        },
      },
    },
  );
  process.stdout.write(`\n${result.formatReport()}\n\n`);
  process.stdout.write(`outputs: ${path.join(dir, 'ndvi.tif')}\n         ${path.join(dir, 'classes.tif')}\n`);
  process.stdout.write(`inputs:  ${dir}/{reflectance,dem,cloud}.tif\n`);
  if (values.report !== undefined) process.stdout.write(`report:  ${path.resolve(values.report)}\n`);
  process.stdout.write(`look at them with: gdalinfo -hist ${path.join(dir, 'ndvi.tif')}   or   riots printstats ${path.join(dir, 'classes.tif')}\n`);
  return 0;
}
