// One W1 run in its own process, with riots built to JavaScript (as installed): the mean of two
// Float32 inputs, written as GTiff with statistics, histogram and pyramids. Prints JSON
// {applySeconds, importSeconds, report}. FN_MODULE is the module bench/lib/w1fn.ts writes.
// usage: node bench/lib/w1-run.mjs RIOTS_ROOT FN_MODULE A B OUT [concurrency-json]
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, fnModule, a, b, out, conc] = process.argv.slice(2);
const t0 = performance.now();
const { apply } = await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href);
const t1 = performance.now();
const { mean } = await import(pathToFileURL(fnModule).href);
const r = await apply(mean, { a, b }, { mean: out }, { controls: { statsIgnore: null, ...(conc ? { concurrency: JSON.parse(conc) } : {}) } });
const applySeconds = (performance.now() - t1) / 1000;
process.stdout.write(JSON.stringify({ applySeconds, importSeconds: (t1 - t0) / 1000, report: r.formatReport() }) + '\n');
