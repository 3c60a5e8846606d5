/**
 * W3: A is N×N Float32 in EPSG:32755 and B covers the same area in EPSG:4326 at a similar
 * resolution. riots resamples B bilinearly onto A's grid block by block and writes A − B with
 * riots' default GTiff creation options. The baseline is the sum of
 *   gdalwarp -r bilinear -ovr NONE -multi -wo NUM_THREADS=ALL_CPUS  (B onto A's grid)
 *   gdal_translate                                                  (a copy of A)
 * with the same creation options, run alternately with riots. Also riots' peak RSS.
 *
 * usage: node --import tsx bench/w3-reproject.ts [--sizes 6000,12000] [--repeats 3] [--stats] [--data smooth,noise]
 *   (--stats: let riots compute statistics, histogram and pyramids, which the baseline does not)
 * Inner mode (one riots run in its own process): ... --run A B OUT STATS
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dataKinds, makeFloatInput, makeGeographicInput, OUT } from './lib/fixtures.js';
import { machine, median, runMeasured } from './lib/measure.js';

const CREATION = ['TILED=YES', 'COMPRESS=DEFLATE', 'INTERLEAVE=BAND', 'BIGTIFF=IF_SAFER', 'NUM_THREADS=ALL_CPUS'];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sizes: { type: 'string', default: '6000,12000' },
    data: { type: 'string' },
    repeats: { type: 'string', default: '3' },
    stats: { type: 'boolean', default: false },
    run: { type: 'boolean', default: false },
  },
});

if (values.run) {
  const [a, b, out, stats] = positionals;
  const { apply } = await import('../src/index.js');
  const t0 = performance.now();
  const r = await apply(
    (_info, inputs, outputs) => {
      const x = inputs.a.data as Float32Array;
      const y = inputs.b.data as Float32Array;
      const o = inputs.a.like('Float32', 1);
      const d = o.data;
      for (let i = 0; i < d.length; i++) d[i] = x[i]! - y[i]!;
      outputs.diff = o;
    },
    { a: a!, b: b! },
    { diff: out! },
    { controls: { referenceImage: 'a', resampleMethod: 'bilinear', statsIgnore: null, calcStats: stats === 'true' } },
  );
  const applySeconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ applySeconds, report: r.formatReport() }) + '\n');
  process.exit(0);
}

const sizes = values.sizes.split(',').map(Number);
const repeats = Number(values.repeats);
console.log(`W3 on ${machine()}${values.stats ? ' (riots with statistics and pyramids)' : ''}`);
for (const size of sizes)
  for (const kind of dataKinds(values.data)) {
    const a = makeFloatInput('w1a', size, 1, { kind }); // 10 m pixels from (500000, 6100000), EPSG:32755
    const b = makeGeographicInput(size, kind);
    const te = ['500000', String(6100000 - size * 10), String(500000 + size * 10), '6100000'];
    const warp: number[] = [];
    const copy: number[] = [];
    const riots: number[] = [];
    const riotsProc: number[] = [];
    let rss = 0;
    let report = '';
    for (let i = 0; i < repeats; i++) {
      const w = path.join(OUT, `w3-warp-${size}.tif`);
      const c = path.join(OUT, `w3-copy-${size}.tif`);
      const o = path.join(OUT, `w3-diff-${size}.tif`);
      for (const f of [w, c, o]) rmSync(f, { force: true });
      const co = CREATION.flatMap((x) => ['-co', x]);
      warp.push(
        runMeasured('gdalwarp', [
          '-q',
          '-r',
          'bilinear',
          '-ovr',
          'NONE',
          '-multi',
          '-wo',
          'NUM_THREADS=ALL_CPUS',
          '-t_srs',
          'EPSG:32755',
          '-te',
          ...te,
          '-tr',
          '10',
          '10',
          ...co,
          b,
          w,
        ]).wall,
      );
      copy.push(runMeasured('gdal_translate', ['-q', ...co, a, c]).wall);
      const r = runMeasured(process.execPath, ['--import', 'tsx', import.meta.filename, '--run', a, b, o, String(values.stats)]);
      const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { applySeconds: number; report: string };
      riots.push(j.applySeconds);
      riotsProc.push(r.wall);
      rss = Math.max(rss, r.maxRssMB);
      report = j.report;
    }
    const base = median(warp) + median(copy);
    console.log(`\n## ${size}x${size}, ${kind} data`);
    console.log(`gdalwarp -multi B onto A:        median ${median(warp).toFixed(2)} s  (runs: ${warp.map((x) => x.toFixed(2)).join(', ')})`);
    console.log(`gdal_translate A:                median ${median(copy).toFixed(2)} s  (runs: ${copy.map((x) => x.toFixed(2)).join(', ')})`);
    console.log(`riots W3 apply():                median ${median(riots).toFixed(2)} s  (runs: ${riots.map((x) => x.toFixed(2)).join(', ')})`);
    console.log(`riots W3 whole process:          median ${median(riotsProc).toFixed(2)} s`);
    console.log(`ratio apply()/(warp+translate):  ${(median(riots) / base).toFixed(2)}   (target <= 1.3)`);
    console.log(`ratio process/(warp+translate):  ${(median(riotsProc) / base).toFixed(2)}`);
    console.log(`riots peak RSS:                  ${rss.toFixed(0)} MB`);
    console.log(`last riots timing report:\n${report}`);
  }
