/**
 * What glibc's malloc settings for riots's workers (src/workers/pool/malloc.ts) change on this machine:
 * 1. fresh against reused 256 KiB buffers (CPU time and page faults of 2000 fills);
 * 2. W1 (built riots, each run plain node running bench/lib/w1-run.mjs), sequential and with 2
 *    CW_SUBPROC workers that do not read, with and without the same settings for the main process
 *    itself (the workers always get them), runs alternating.
 *
 * usage: node --import tsx bench/malloc.ts [--pairs 4] [--size 6000]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildRiots } from './lib/built.js';
import { makeFloatInput, OUT } from './lib/fixtures.js';
import { machine, median, runMeasuredAsync } from './lib/measure.js';
import { writeW1MeanModule } from './lib/w1fn.js';
import { WORKER_MALLOC_TUNABLES } from '../src/workers/pool/malloc.js';

const { values } = parseArgs({ options: { pairs: { type: 'string', default: '4' }, size: { type: 'string', default: '6000' } } });
const pairs = Number(values.pairs);
const size = Number(values.size);

const envWith = (tunables: boolean): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  if (tunables) env.GLIBC_TUNABLES = WORKER_MALLOC_TUNABLES;
  else delete env.GLIBC_TUNABLES;
  return env;
};

console.log(`glibc malloc settings (${WORKER_MALLOC_TUNABLES}) on ${machine()}\n`);

const FILLS = `
const n = 65536, N = 2000, reuse = process.argv[1] === 'reuse';
const one = new Float32Array(n);
const c0 = process.cpuUsage(), f0 = process.resourceUsage().minorPageFault;
for (let i = 0; i < N; i++) (reuse ? one : new Float32Array(n)).fill(i);
const c = process.cpuUsage(c0);
console.log(JSON.stringify({ cpuMs: (c.user + c.system) / 1000, faults: process.resourceUsage().minorPageFault - f0 }));
`;
for (const [label, reuse, tunables] of [
  ['fresh arrays, glibc defaults ', false, false],
  ['fresh arrays, riots settings ', false, true],
  ['one reused array             ', true, false],
] as const) {
  const r = spawnSync(process.execPath, ['-e', FILLS, reuse ? 'reuse' : 'fresh'], { env: envWith(tunables), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const j = JSON.parse(r.stdout) as { cpuMs: number; faults: number };
  console.log(`2000 fills of 256 KiB, ${label}: ${j.cpuMs.toFixed(0).padStart(4)} CPU-ms, ${String(j.faults).padStart(6)} page faults`);
}

const riots = buildRiots();
mkdirSync(OUT, { recursive: true });
const fnModule = writeW1MeanModule(path.join(OUT, 'w1-fn-dist.mjs'), path.join(riots, 'dist', 'index.js'));
const runner = path.join(import.meta.dirname, 'lib', 'w1-run.mjs');
const a = makeFloatInput('w1a', size, 1);
const b = makeFloatInput('w1b', size, 2);
const noread = JSON.stringify({ computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, computeWorkersRead: false, numReadWorkers: 1 });
const times = new Map<string, number[]>();
for (let i = 0; i < pairs; i++) {
  for (const [mode, conc] of [
    ['sequential', undefined],
    ['CW_SUBPROC x2, workers do not read', noread],
  ] as const) {
    for (const tunables of [false, true]) {
      const out = path.join(OUT, `w1-malloc-${size}.tif`);
      rmSync(out, { force: true });
      const r = await runMeasuredAsync(process.execPath, [runner, riots, fnModule, a, b, out, ...(conc ? [conc] : [])], envWith(tunables));
      const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { applySeconds: number };
      const key = `${mode}, main ${tunables ? 'with' : 'without'} the settings`;
      times.set(key, [...(times.get(key) ?? []), j.applySeconds]);
    }
  }
}
console.log(`\nW1 ${size}x${size}, apply() seconds, ${pairs} alternating runs each:`);
for (const [k, xs] of times) console.log(`${k.padEnd(64)} median ${median(xs).toFixed(2)}  (runs: ${xs.map((x) => x.toFixed(2)).join(', ')})`);
