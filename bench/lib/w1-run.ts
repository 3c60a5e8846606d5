/**
 * One W1 run in its own process: the mean of two Float32 inputs, written as GTiff with
 * statistics, histogram and pyramids. Prints JSON {applySeconds, report}.
 * usage: node --import tsx bench/lib/w1-run.ts A B OUT [concurrency-json]
 */
import { apply } from '../../src/index.js';

const [a, b, out, conc] = process.argv.slice(2);
const t0 = performance.now();
const r = await apply(
  (_info, inputs, outputs) => {
    const x = inputs.a!.data as Float32Array;
    const y = inputs.b!.data as Float32Array;
    const o = inputs.a!.like('Float32', 1);
    const d = o.data;
    for (let i = 0; i < d.length; i++) d[i] = (x[i]! + y[i]!) * 0.5;
    outputs.mean = o;
  },
  { a: a!, b: b! },
  { mean: out! },
  { controls: { statsIgnore: null, ...(conc ? { concurrency: JSON.parse(conc) } : {}) } },
);
const applySeconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ applySeconds, report: r.formatReport() }) + '\n');
