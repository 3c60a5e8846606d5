/**
 * The work W1 and W3 do, counted rather than timed: deflate blocks compressed and decoded
 * (calls of libdeflate's `libdeflate_deflate_compress` and `libdeflate_deflate_decompress_ex`,
 * one per tile that goes through libdeflate) and pixels warped (GDAL's
 * `GDALWarpOperation::WarpRegionToBuffer`, destination width × height summed), for riots and,
 * with RIOTS_RIOS_SOURCE, for RIOS. Counts do not move with a busy host, so a change that saves
 * work shows here even when alternating timings cannot resolve it.
 *
 * How: uprobes (`perf probe`) on those functions, each job run once under `perf record`. Needs
 * root, `perf` (Debian's linux-perf) and x86-64 (the warp probe reads its size arguments from
 * registers). The probes it adds (group `riotswc`) are removed at the end.
 *
 * usage: [RIOTS_RIOS_SOURCE=/path/to/rios] node --import tsx bench/workcount.ts
 *          [--size 6000] [--jobs w1,w3] [--kinds smooth,noise]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildRiots } from './lib/built.js';
import { makeFloatInput, makeGeographicInput, type DataKind } from './lib/fixtures.js';
import { machine } from './lib/measure.js';
import { PYTHON } from '../test/helpers/py.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '6000' },
    jobs: { type: 'string', default: 'w1,w3' },
    kinds: { type: 'string', default: 'smooth,noise' },
  },
});

const GROUP = 'riotswc';
const WARP_SYMBOL = /^_ZN17GDALWarpOperation18WarpRegionToBufferEiiiiPv12GDALDataTypeiiiidddd$/;

function fail(why: string): never {
  console.error(`workcount: ${why}`);
  process.exit(2);
}

/** The file a library name resolves to (from ldconfig's cache). */
function library(name: string): string {
  const line = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' })
    .split('\n')
    .find((l) => l.trim().startsWith(`${name} `) && l.includes('x86-64'));
  if (!line) fail(`${name} not found by ldconfig -p`);
  return line.split('=>')[1]!.trim();
}

/** The address of a defined dynamic symbol: probing by address avoids its PLT stub, so each call counts once. */
function address(lib: string, match: (sym: string) => boolean): string {
  for (const l of execFileSync('nm', ['-D', '--defined-only', lib], { encoding: 'utf8' }).split('\n')) {
    const [addr, , sym] = l.trim().split(/\s+/);
    if (sym && match(sym)) return `0x${addr!.replace(/^0+/, '')}`;
  }
  fail(`no symbol to probe in ${lib}`);
}

function perf(args: string[]): string {
  const r = spawnSync('perf', args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) fail(`perf ${args.join(' ')} failed: ${r.stderr.trim().split('\n').pop() ?? r.error?.message}`);
  return r.stdout;
}

function addProbes(): void {
  const deflate = library('libdeflate.so.0');
  const gdal = library('libgdal.so.32');
  perf(['probe', '-q', '-x', deflate, '-a', `${GROUP}:compress=${address(deflate, (s) => s === 'libdeflate_deflate_compress')}`]);
  perf(['probe', '-q', '-x', deflate, '-a', `${GROUP}:decode=${address(deflate, (s) => s === 'libdeflate_deflate_decompress_ex')}`]);
  // x86-64 System V: this in %di, then nDstXOff %si, nDstYOff %dx, nDstXSize %cx, nDstYSize %r8
  perf(['probe', '-q', '-x', gdal, '-a', `${GROUP}:warp=${address(gdal, (s) => WARP_SYMBOL.test(s))} xs=%cx:s32 ys=%r8:s32`]);
}

function removeProbes(): void {
  spawnSync('perf', ['probe', '-q', '-d', `${GROUP}:*`]);
}

interface Counts {
  compressed: number;
  decoded: number;
  warps: number;
  warpedPixels: number;
}

/** Run a command under perf record with the probes; count the events. */
function count(cmd: string[], env: NodeJS.ProcessEnv): Counts {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'riots-workcount-'));
  try {
    const data = path.join(dir, 'perf.data');
    const r = spawnSync('perf', ['record', '-q', '-e', `${GROUP}:*`, '-o', data, '--', ...cmd], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
    if (r.status !== 0) fail(`${cmd.join(' ')} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const c: Counts = { compressed: 0, decoded: 0, warps: 0, warpedPixels: 0 };
    for (const line of perf(['script', '-i', data]).split('\n')) {
      if (line.includes(`${GROUP}:compress:`)) c.compressed++;
      else if (line.includes(`${GROUP}:decode:`)) c.decoded++;
      else if (line.includes(`${GROUP}:warp:`)) {
        const m = /xs=(-?\d+) ys=(-?\d+)/.exec(line);
        if (!m) fail(`cannot read the warp size from: ${line}`);
        c.warps++;
        c.warpedPixels += Number(m[1]) * Number(m[2]);
      }
    }
    return c;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.arch !== 'x64' || process.platform !== 'linux') fail('x86-64 Linux only (the warp probe reads registers)');
if (process.getuid?.() !== 0) fail('uprobes need root');
if (spawnSync('perf', ['--version']).status !== 0) fail('perf is not installed (Debian: linux-perf)');

const size = Number(values.size);
const riosSource = process.env.RIOTS_RIOS_SOURCE;
const riots = buildRiots();
const lib = path.join(import.meta.dirname, 'lib');
console.log(`# work counted with uprobes, ${size}², ${machine()}`);
if (riosSource === undefined) console.log('# RIOS not counted: set RIOTS_RIOS_SOURCE to a folder with its source');
console.log('| job | data | who | libdeflate compress calls | libdeflate decode calls | warp calls | pixels warped |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
removeProbes(); // left from an interrupted run
addProbes();
const out = path.join(os.tmpdir(), `riots-workcount-${process.pid}.tif`);
try {
  for (const job of values.jobs.split(',')) {
    for (const kind of values.kinds.split(',') as DataKind[]) {
      const a = makeFloatInput('w1a', size, 1, { kind });
      const b = job === 'w1' ? makeFloatInput('w1b', size, 2, { kind }) : makeGeographicInput(size, kind);
      const runs: [string, string[], NodeJS.ProcessEnv][] = [
        ['riots', [process.execPath, path.join(lib, 'vsrios-run.mjs'), riots, job, a, b, out], process.env],
      ];
      if (riosSource !== undefined)
        runs.push(['RIOS', [PYTHON, path.join(lib, 'rios-job.py'), job, a, b, out], { ...process.env, RIOTS_RIOS_SOURCE: riosSource }]);
      for (const [who, cmd, env] of runs) {
        for (const f of [out, `${out}.aux.xml`, `${out}.ovr`]) rmSync(f, { force: true });
        const c = count(cmd, env);
        console.log(`| ${job.toUpperCase()} | ${kind} | ${who} | ${c.compressed} | ${c.decoded} | ${c.warps} | ${c.warpedPixels.toLocaleString('en')} |`);
      }
    }
  }
} finally {
  removeProbes();
  for (const f of [out, `${out}.aux.xml`, `${out}.ovr`]) rmSync(f, { force: true });
}
