/**
 * How close CW_SUBPROC is to the least any design with worker processes pays for W1 on this
 * machine. Four runs alternate, each a fresh process: riots' W1 sequential and with 2 CW_SUBPROC
 * workers (bench/lib/w1-run.mjs, riots built to JavaScript), and bench/lib/floor-run.mjs's bare
 * block loop, sequential and with 2 plain worker processes fed over raw loopback TCP (no
 * authentication, validation, statistics or pyramids; the sockets read in place, as riots'
 * channel does).
 *
 * The bare pair's difference is the cost of the worker processes and the pixels' trips through
 * the sockets alone. Added to riots' sequential time, it gives the floor of the W1 CW_SUBPROC
 * ratio on this machine: what the 1.25x target would need if riots itself cost nothing.
 *
 * usage: node --import tsx bench/w1-floor.ts [--size 6000] [--repeats 5]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makeFloatInput, OUT } from './lib/fixtures.js';
import { buildRiots } from './lib/built.js';
import { writeW1MeanModule } from './lib/w1fn.js';
import { machine, median, runMeasured } from './lib/measure.js';
import { GLIBC_TUNABLES_ENV, withWorkerMallocTunables } from '../src/workers/pool/malloc.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '6000' }, repeats: { type: 'string', default: '5' } } });
const size = Number(values.size);
const repeats = Number(values.repeats);
const riots = buildRiots();
const fn = writeW1MeanModule(path.join(OUT, 'w1-floor-fn.mjs'), path.join(riots, 'dist', 'index.js'));
const a = makeFloatInput('w1a', size, 1);
const b = makeFloatInput('w1b', size, 2);
const out = path.join(OUT, `w1-floor-${size}.tif`);
const w1Run = path.join(import.meta.dirname, 'lib', 'w1-run.mjs');
const floorRun = path.join(import.meta.dirname, 'lib', 'floor-run.mjs');
const subproc = JSON.stringify({ computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, numReadWorkers: 1 });

const last = (s: string): Record<string, number> => JSON.parse(s.trim().split('\n').pop()!) as Record<string, number>;
const runs = {
  riotsSeq: [] as number[],
  riotsSub: [] as number[],
  bareSeq: [] as number[],
  bareSub: [] as number[],
  bareSeqCpu: [] as number[],
  bareSubCpu: [] as number[],
};
for (let i = 0; i < repeats; i++) {
  runs.riotsSeq.push(last(runMeasured(process.execPath, [w1Run, riots, fn, a, b, out]).stdout).applySeconds!);
  runs.riotsSub.push(last(runMeasured(process.execPath, [w1Run, riots, fn, a, b, out, subproc]).stdout).applySeconds!);
  const s = last(runMeasured(process.execPath, [floorRun, 'seq', a, b, out]).stdout);
  runs.bareSeq.push(s.seconds!);
  runs.bareSeqCpu.push(s.mainCpu!);
  const p = last(
    runMeasured(process.execPath, [floorRun, 'sub', a, b, out], {
      ...process.env,
      FLOOR_WORKER_GLIBC_TUNABLES: withWorkerMallocTunables(process.env[GLIBC_TUNABLES_ENV]),
    }).stdout,
  );
  runs.bareSub.push(p.seconds!);
  runs.bareSubCpu.push(p.mainCpu! + p.workerCpu!);
}
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(', ');
const m = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)])) as Record<keyof typeof runs, number>;
console.log(`W1 ${size}x${size}, ${repeats} alternating runs each, on ${machine()}`);
console.log(`riots sequential apply():          median ${m.riotsSeq.toFixed(2)} s  (runs: ${fmt(runs.riotsSeq)})`);
console.log(
  `riots CW_SUBPROC x2 apply():       median ${m.riotsSub.toFixed(2)} s  (runs: ${fmt(runs.riotsSub)})  ratio ${(m.riotsSub / m.riotsSeq).toFixed(2)}`,
);
console.log(`bare loop, sequential:             median ${m.bareSeq.toFixed(2)} s  (runs: ${fmt(runs.bareSeq)}), ${m.bareSeqCpu.toFixed(2)} CPU-s`);
console.log(`bare loop, 2 worker processes:     median ${m.bareSub.toFixed(2)} s  (runs: ${fmt(runs.bareSub)}), ${m.bareSubCpu.toFixed(2)} CPU-s`);
console.log(`worker processes and sockets cost: ${(m.bareSub - m.bareSeq).toFixed(2)} s, ${(m.bareSubCpu - m.bareSeqCpu).toFixed(2)} CPU-s`);
console.log(`floor of the CW_SUBPROC ratio:     ${((m.riotsSeq + m.bareSub - m.bareSeq) / m.riotsSeq).toFixed(2)}  (target <= 1.25)`);
// The host's variation moves whole sets; within one repeat the four runs are close in time, so
// ratios taken run by run and then their median are steadier than ratios of medians.
const pairRiots = runs.riotsSub.map((t, i) => t / runs.riotsSeq[i]!);
const pairFloor = runs.riotsSeq.map((t, i) => (t + runs.bareSub[i]! - runs.bareSeq[i]!) / t);
console.log(
  `per repeat, median:                riots ratio ${median(pairRiots).toFixed(2)} (${fmt(pairRiots)}), floor ${median(pairFloor).toFixed(2)} (${fmt(pairFloor)})`,
);
