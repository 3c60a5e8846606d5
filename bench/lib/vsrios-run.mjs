// One riots run of W1 or W3 in its own process, riots built to JavaScript (as installed), with
// riots' default controls but for what the job itself needs (W3: A's grid, bilinear). Prints
// JSON {applySeconds, importSeconds, report}. The same jobs as bench/lib/rios-job.py.
// usage: node bench/lib/vsrios-run.mjs RIOTS_ROOT w1|w3 A B OUT [controls-json]
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, job, a, b, out, extra] = process.argv.slice(2);
const t0 = performance.now();
const { apply } = await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href);
const t1 = performance.now();
const controls = { ...(job === 'w3' ? { referenceImage: 'a', resampleMethod: 'bilinear' } : {}), ...(extra ? JSON.parse(extra) : {}) };
const r = await apply(
  (_info, inputs, outputs) => {
    const x = inputs.a.data;
    const y = inputs.b.data;
    const o = inputs.a.like('Float32', 1);
    const d = o.data;
    if (job === 'w1') for (let i = 0; i < d.length; i++) d[i] = (x[i] + y[i]) * 0.5;
    else for (let i = 0; i < d.length; i++) d[i] = x[i] - y[i];
    outputs.out = o;
  },
  { a, b },
  { out },
  { controls },
);
const applySeconds = (performance.now() - t1) / 1000;
process.stdout.write(JSON.stringify({ applySeconds, importSeconds: (t1 - t0) / 1000, report: r.formatReport() }) + '\n');
