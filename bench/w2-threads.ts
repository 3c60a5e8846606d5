/**
 * W2: 200 iterations of arithmetic per pixel on a 4000x4000 Float32 input, written as a tiled
 * deflate GTiff with statistics (riots' defaults); 2 CW_THREADS workers against a sequential
 * run, alternately, in this one process. Target: threads >= 1.7x faster.
 *
 * The file is also the user function's module (the one-file layout): compute workers import it,
 * so the benchmark itself only runs where isComputeWorker() is false.
 *
 * usage: node --import tsx bench/w2-threads.ts [--size 4000] [--repeats 3] [--workers 2]
 */
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { apply, defineUserFunction, isComputeWorker, type Block } from '../src/index.js';
import { makeFloatInput, OUT } from './lib/fixtures.js';
import { machine, median } from './lib/measure.js';

export const ITERATIONS = 200;

/** 200 multiply-adds per pixel, with a non-linear step so no iteration can be folded away. */
export const w2 = defineUserFunction(import.meta.url, (_info, inputs, outputs) => {
  const a = inputs.a as Block<'Float32'>;
  const out = a.like('Float32');
  const src = a.data;
  const dst = out.data;
  for (let i = 0; i < src.length; i++) {
    let v = src[i]! * 0.001;
    for (let k = 0; k < ITERATIONS; k++) v = v * 0.999 + 0.5 / (1 + v * v);
    dst[i] = v;
  }
  outputs.out = out;
});

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { size: { type: 'string', default: '4000' }, repeats: { type: 'string', default: '3' }, workers: { type: 'string', default: '2' } },
  });
  const size = Number(values.size);
  const repeats = Number(values.repeats);
  const workers = Number(values.workers);
  const input = makeFloatInput('w2a', size, 3);
  const out = path.join(OUT, `w2-out-${size}.tif`);
  const seq: number[] = [];
  const thr: number[] = [];
  const reports = ['', ''];
  console.log(`W2 on ${machine()}`);
  console.log(`before: ${load()}`);
  for (let i = 0; i < repeats; i++) {
    for (const threads of [false, true]) {
      rmSync(out, { force: true });
      const t0 = performance.now();
      const r = await apply(
        w2,
        { a: input },
        { out },
        threads ? { controls: { concurrency: { computeWorkerKind: 'CW_THREADS', numComputeWorkers: workers, numReadWorkers: 1 } } } : {},
      );
      const s = (performance.now() - t0) / 1000;
      (threads ? thr : seq).push(s);
      reports[threads ? 1 : 0] = r.formatReport();
      console.log(`run ${i + 1} ${threads ? `CW_THREADS x${workers}` : 'sequential   '}: ${s.toFixed(2)} s`);
    }
  }
  const ms = median(seq);
  const mt = median(thr);
  console.log(`\n## W2 ${size}x${size} Float32, ${ITERATIONS} iterations per pixel`);
  console.log(`sequential:            median ${ms.toFixed(2)} s  (runs: ${seq.map((x) => x.toFixed(2)).join(', ')})`);
  console.log(`CW_THREADS, ${workers} workers: median ${mt.toFixed(2)} s  (runs: ${thr.map((x) => x.toFixed(2)).join(', ')})`);
  console.log(`speed-up:              ${(ms / mt).toFixed(2)}x  (target >= 1.7)`);
  console.log(`after: ${load()}`);
  console.log(`\nlast sequential report:\n${reports[0]}\n\nlast CW_THREADS report:\n${reports[1]}`);
  rmSync(out, { force: true });
}

/** Other work on the machine skews the comparison: say how busy it was. */
function load(): string {
  let pressure = '';
  try {
    pressure = `, CPU pressure ${/avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? '?'}%`;
  } catch {
    // no PSI on this kernel
  }
  return `load average ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}${pressure}`;
}

if (!isComputeWorker()) await main();
