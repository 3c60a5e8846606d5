/**
 * W1: the mean of two 6000x6000 Float32 tiled deflate GTiff inputs, written as GTiff with
 * statistics, histogram and pyramids, against `gdal_translate` copying one input with the same
 * creation options (the baseline named in the issue), run alternately in one process tree.
 * Also peak RSS at 6000² and 12000².
 *
 * riots runs built to JavaScript (bench/lib/built.ts), each run a fresh `node` process, so the
 * whole-process figure is what a user's script pays: Node's start, loading riots and GDAL, the
 * apply() call and the exit. The apply() figure is the call alone (it includes loading GDAL,
 * which riots does on first use).
 *
 * usage: node --import tsx bench/w1.ts [--sizes 6000,12000] [--repeats 3] [--data smooth,noise]
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dataKinds, makeFloatInput, OUT } from './lib/fixtures.js';
import { buildRiots } from './lib/built.js';
import { writeW1MeanModule } from './lib/w1fn.js';
import { machine, median, runMeasured } from './lib/measure.js';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '6000,12000' }, repeats: { type: 'string', default: '3' }, data: { type: 'string' } },
});
const sizes = values.sizes.split(',').map(Number);
const repeats = Number(values.repeats);
const runner = path.join(import.meta.dirname, 'lib', 'w1-run.mjs');
const riots = buildRiots();
const fnModule = writeW1MeanModule(path.join(OUT, 'w1-fn-dist.mjs'), path.join(riots, 'dist', 'index.js'));

const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(', ');
console.log(`W1 on ${machine()}`);
for (const size of sizes)
  for (const kind of dataKinds(values.data)) {
    const a = makeFloatInput('w1a', size, 1, { kind });
    const b = makeFloatInput('w1b', size, 2, { kind });
    const gt: number[] = [];
    const proc: number[] = [];
    const applyT: number[] = [];
    let rss = 0;
    let report = '';
    for (let i = 0; i < repeats; i++) {
      const copy = path.join(OUT, `w1-copy-${size}.tif`);
      rmSync(copy, { force: true });
      gt.push(runMeasured('gdal_translate', ['-q', '-co', 'TILED=YES', '-co', 'COMPRESS=DEFLATE', '-co', 'NUM_THREADS=ALL_CPUS', a, copy]).wall);
      const out = path.join(OUT, `w1-mean-${size}.tif`);
      const r = runMeasured(process.execPath, [runner, riots, fnModule, a, b, out]);
      const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { applySeconds: number; report: string };
      proc.push(r.wall);
      applyT.push(j.applySeconds);
      rss = Math.max(rss, r.maxRssMB);
      report = j.report;
    }
    const g = median(gt);
    console.log(`\n## ${size}x${size}, ${kind} data`);
    console.log(`gdal_translate copy of one input:  median ${g.toFixed(2)} s  (runs: ${fmt(gt)})`);
    console.log(`riots W1, whole node process:      median ${median(proc).toFixed(2)} s  (runs: ${fmt(proc)})`);
    console.log(`riots W1, apply() alone:           median ${median(applyT).toFixed(2)} s  (runs: ${fmt(applyT)})`);
    console.log(`ratio process/gdal_translate:      ${(median(proc) / g).toFixed(2)}   (target <= 1.3)`);
    console.log(`ratio apply()/gdal_translate:      ${(median(applyT) / g).toFixed(2)}`);
    console.log(`riots peak RSS:                    ${rss.toFixed(0)} MB   (target <= 400)`);
    console.log(`last riots timing report:\n${report}`);
  }
