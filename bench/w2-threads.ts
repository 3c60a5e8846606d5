/**
 * W2: 200 iterations of arithmetic per pixel on a 4000x4000 Float32 input, written as a tiled
 * deflate GTiff with statistics (riots' defaults); 2 CW_THREADS workers against a sequential
 * run, alternately, in this one process. Target: threads >= 1.7x faster. With --scaling, how
 * CW_THREADS and CW_SUBPROC scale from 1 to 2 workers (--setups picks any list).
 *
 * The file is also the user function's module (the one-file layout): compute workers import it,
 * so the benchmark itself only runs where isComputeWorker() is false.
 *
 * usage: node --import tsx bench/w2-threads.ts [--size 4000] [--repeats 3] [--workers 2]
 *        [--scaling | --setups none,CW_THREADS:1,CW_SUBPROC:2,...]
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

/** One configuration of the benchmark: sequential, or a compute worker kind with a count. */
interface Setup {
  label: string;
  concurrency?: { computeWorkerKind: 'CW_THREADS' | 'CW_SUBPROC'; numComputeWorkers: number; numReadWorkers: number };
}

/** "none" or KIND:COUNT, e.g. "none,CW_THREADS:1,CW_THREADS:2,CW_SUBPROC:2". */
function parseSetups(spec: string): Setup[] {
  return spec.split(',').map((s) => {
    if (s === 'none') return { label: 'sequential' };
    const [kind, count] = s.split(':');
    if ((kind !== 'CW_THREADS' && kind !== 'CW_SUBPROC') || !(Number(count) >= 1))
      throw new Error(`--setups: "${s}" is not none or CW_THREADS:N or CW_SUBPROC:N`);
    return { label: `${kind} x${count}`, concurrency: { computeWorkerKind: kind, numComputeWorkers: Number(count), numReadWorkers: 1 } };
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '4000' },
      repeats: { type: 'string', default: '3' },
      workers: { type: 'string', default: '2' },
      setups: { type: 'string' },
      scaling: { type: 'boolean', default: false },
    },
  });
  const size = Number(values.size);
  const repeats = Number(values.repeats);
  const spec = values.setups ?? (values.scaling ? 'none,CW_THREADS:1,CW_THREADS:2,CW_SUBPROC:1,CW_SUBPROC:2' : `none,CW_THREADS:${values.workers}`);
  const setups = parseSetups(spec);
  const input = makeFloatInput('w2a', size, 3);
  const out = path.join(OUT, `w2-out-${size}.tif`);
  const times = setups.map((): number[] => []);
  const reports = setups.map(() => '');
  console.log(`W2 on ${machine()}`);
  console.log(`before: ${load()}`);
  for (let i = 0; i < repeats; i++) {
    // Rotate the starting setup each round so no setup always follows the same one.
    for (let j = 0; j < setups.length; j++) {
      const k = (i + j) % setups.length;
      const setup = setups[k]!;
      rmSync(out, { force: true });
      const t0 = performance.now();
      const r = await apply(w2, { a: input }, { out }, setup.concurrency ? { controls: { concurrency: setup.concurrency } } : {});
      const s = (performance.now() - t0) / 1000;
      times[k]!.push(s);
      reports[k] = r.formatReport();
      console.log(`run ${i + 1} ${setup.label.padEnd(14)}: ${s.toFixed(2)} s`);
    }
  }
  const base = median(times[0]!);
  console.log(`\n## W2 ${size}x${size} Float32, ${ITERATIONS} iterations per pixel, medians of ${repeats}`);
  console.log('| setup | median | runs | speed-up vs ' + setups[0]!.label + ' |');
  console.log('|---|---|---|---|');
  setups.forEach((setup, k) => {
    const m = median(times[k]!);
    console.log(`| ${setup.label} | ${m.toFixed(2)} s | ${times[k]!.map((x) => x.toFixed(2)).join(', ')} | ${(base / m).toFixed(2)}x |`);
  });
  console.log(`after: ${load()}`);
  setups.forEach((setup, k) => console.log(`\nlast ${setup.label} report:\n${reports[k]}`));
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
