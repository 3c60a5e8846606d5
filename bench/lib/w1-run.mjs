// One W1 run in its own process, with riots built to JavaScript (as installed): the mean of two
// Float32 inputs, written as GTiff with statistics, histogram and pyramids. Prints JSON
// {applySeconds, importSeconds, report}.
// usage: node bench/lib/w1-run.mjs RIOTS_ROOT A B OUT [concurrency-json]
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, a, b, out, conc] = process.argv.slice(2);
const t0 = performance.now();
const { apply } = await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href);
const t1 = performance.now();
const r = await apply(
  (_info, inputs, outputs) => {
    const x = inputs.a.data;
    const y = inputs.b.data;
    const o = inputs.a.like('Float32', 1);
    const d = o.data;
    for (let i = 0; i < d.length; i++) d[i] = (x[i] + y[i]) * 0.5;
    outputs.mean = o;
  },
  { a, b },
  { mean: out },
  { controls: { statsIgnore: null, ...(conc ? { concurrency: JSON.parse(conc) } : {}) } },
);
const applySeconds = (performance.now() - t1) / 1000;
process.stdout.write(JSON.stringify({ applySeconds, importSeconds: (t1 - t0) / 1000, report: r.formatReport() }) + '\n');
