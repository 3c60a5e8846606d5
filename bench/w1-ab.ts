/**
 * W1 (sequential, or with compute workers) with two versions of riots side by side: a git
 * revision against this checkout, each compiled to JavaScript (bench/lib/built.ts), runs
 * alternating in one process tree. For measuring what one change does to W1 when the host's own
 * variation between sets is larger than the change.
 *
 * usage: node --import tsx bench/w1-ab.ts [--before HEAD~1] [--size 6000] [--repeats 7] [--concurrency JSON]
 *
 * Each run is a fresh `node bench/lib/w1-run.mjs` (the W1 benchmark's runner); the figure is the
 * wall time of apply(). `--concurrency` is passed to apply() as controls.concurrency, e.g.
 * '{"computeWorkerKind":"CW_SUBPROC","numComputeWorkers":2,"numReadWorkers":1}'.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makeFloatInput, OUT } from './lib/fixtures.js';
import { buildRiots } from './lib/built.js';
import { writeW1MeanModule } from './lib/w1fn.js';
import { machine, median, runMeasured } from './lib/measure.js';

const { values } = parseArgs({
  options: {
    before: { type: 'string', default: 'HEAD~1' },
    size: { type: 'string', default: '6000' },
    repeats: { type: 'string', default: '7' },
    concurrency: { type: 'string' },
  },
});
const size = Number(values.size);
const repeats = Number(values.repeats);
const runner = path.join(import.meta.dirname, 'lib', 'w1-run.mjs');
const versions = [
  { label: `before (${values.before})`, root: buildRiots(values.before) },
  { label: 'after (this checkout)', root: buildRiots() },
].map((v, i) => ({ ...v, fn: writeW1MeanModule(path.join(OUT, `w1-ab-fn-${i}.mjs`), path.join(v.root, 'dist', 'index.js')), times: [] as number[] }));
const a = makeFloatInput('w1a', size, 1);
const b = makeFloatInput('w1b', size, 2);
const out = path.join(OUT, `w1-ab-${size}.tif`);
const extra = values.concurrency ? [values.concurrency] : [];

console.log(
  `W1 ${size}x${size}, riots before and after, ${repeats} alternating runs each${values.concurrency ? `, concurrency ${values.concurrency}` : ''}, on ${machine()}`,
);
for (let i = 0; i < repeats; i++) {
  for (const v of versions) {
    const r = runMeasured(process.execPath, [runner, v.root, v.fn, a, b, out, ...extra]);
    v.times.push((JSON.parse(r.stdout.trim().split('\n').pop()!) as { applySeconds: number }).applySeconds);
  }
}
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(', ');
for (const v of versions) console.log(`${v.label.padEnd(28)} apply() median ${median(v.times).toFixed(2)} s  (runs: ${fmt(v.times)})`);
const wins = versions[1]!.times.filter((t, i) => t < versions[0]!.times[i]!).length;
console.log(
  `after faster in ${wins} of ${repeats} pairs; ratio of medians after/before ${(median(versions[1]!.times) / median(versions[0]!.times)).toFixed(3)}`,
);
