/**
 * Read workers: one deflate-compressed 6000x6000 Float32 input, a trivial user function and an
 * uncompressed output without statistics, so that reading (decompression) dominates.
 * numReadWorkers 1, 2 and 4, each in a fresh child process with UV_THREADPOOL_SIZE=4 (libuv's
 * default) and =10, alternately. (Several inputs of one block are already read at once, each on
 * its own handle, so one input is where read workers matter most.)
 *
 * Then the mechanism alone, in this process: every 256x256 block of the input read with 4 reads
 * in flight, on one dataset handle versus on 4 handles (gdal-async locks each handle).
 *
 * Last, a network file: a 2048x2048 Float32 GTiff of 256x256 uncompressed tiles served over HTTP
 * (/vsicurl/) by a local server that answers each tile request 30 ms late, numReadWorkers 1 vs 4,
 * with 256x256 windows (one tile per block, read in file order) and 512x512 (four tiles per block);
 * and the same file read by one CW_SUBPROC worker that reads its own blocks, numReadWorkers 0 vs 4.
 *
 * usage: node --import tsx bench/readworkers.ts [--size 6000] [--repeats 3]
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { apply, type Block } from '../src/index.js';
import { openInput, type OpenedRaster } from '../src/gdal/inputs.js';
import { readWindow } from '../src/gdal/window.js';
import { makeFloatInput, OUT } from './lib/fixtures.js';
import { machine, median } from './lib/measure.js';
import { startRangeServer } from '../test/helpers/rangeserver.js';

const { values } = parseArgs({
  options: { size: { type: 'string', default: '6000' }, repeats: { type: 'string', default: '3' }, child: { type: 'string' } },
});
const size = Number(values.size);
const input = makeFloatInput('w1a', size, 1);

if (values.child !== undefined) {
  const out = path.join(OUT, `rw-out-${process.pid}.tif`);
  const t0 = performance.now();
  await apply(
    (_info, ins, outs) => {
      const a = ins.a as Block<'Float32'>;
      const o = a.like('Float32');
      for (let i = 0; i < o.data.length; i++) o.data[i] = a.data[i]! * 2;
      outs.sum = o;
    },
    { a: input },
    { sum: out },
    { controls: { calcStats: false, omitPyramids: true, creationOptions: ['TILED=YES'], concurrency: { numReadWorkers: Number(values.child) } } },
  );
  rmSync(out, { force: true });
  console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000 }));
} else {
  const repeats = Number(values.repeats);
  const cases = [
    { n: 1, pool: 4 },
    { n: 2, pool: 4 },
    { n: 4, pool: 4 },
    { n: 1, pool: 10 },
    { n: 2, pool: 10 },
    { n: 4, pool: 10 },
  ];
  const times = cases.map(() => [] as number[]);
  console.log(`read workers on ${machine()}`);
  for (let r = 0; r < repeats; r++) {
    cases.forEach((c, i) => {
      const p = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--size', String(size), '--child', String(c.n)], {
        encoding: 'utf8',
        env: { ...process.env, UV_THREADPOOL_SIZE: String(c.pool) },
      });
      if (p.status !== 0) throw new Error(p.stderr);
      times[i]!.push((JSON.parse(p.stdout.trim().split('\n').pop()!) as { seconds: number }).seconds);
    });
  }
  cases.forEach((c, i) => {
    console.log(
      `numReadWorkers ${c.n}, UV_THREADPOOL_SIZE ${String(c.pool).padStart(2)}: median ${median(times[i]!).toFixed(2)} s  (runs: ${times[i]!.map((x) => x.toFixed(2)).join(', ')})`,
    );
  });
  console.log(`\nall ${size}x${size} in 256x256 windows, 4 reads in flight (UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}):`);
  for (let r = 0; r < repeats; r++) {
    for (const handles of [1, 4]) console.log(`  ${handles} handle(s): ${(await readAll(handles)).toFixed(2)} s`);
  }
  console.log('\n2048x2048 over HTTP (/vsicurl/), 64 tiles of 256x256, each request answered 30 ms late:');
  for (const win of [256, 512]) {
    for (let r = 0; r < repeats; r++) {
      for (const n of [1, 4]) console.log(`  windows ${win}, numReadWorkers ${n}: ${await networkRun(n, win)}`);
    }
  }
  console.log('\nthe same file read by one CW_SUBPROC worker that reads (computeWorkersRead), windows 512:');
  for (let r = 0; r < repeats; r++) {
    for (const n of [0, 4]) console.log(`  worker numReadWorkers ${n}: ${await networkRun(n, 512, true)}`);
  }
}

/**
 * apply() over a file served with 30 ms latency per request, with `n` read workers and square
 * windows of `win`: in the main, or (`inWorker`) in one CW_SUBPROC worker that reads its blocks.
 */
async function networkRun(n: number, win: number, inWorker = false): Promise<string> {
  const file = path.join(OUT, 'rw-tiles-2048.tif');
  const made = spawnSync('gdal_translate', [
    '-q',
    '-srcwin',
    '0',
    '0',
    '2048',
    '2048',
    '-co',
    'TILED=YES',
    '-co',
    'BLOCKXSIZE=256',
    '-co',
    'BLOCKYSIZE=256',
    input,
    file,
  ]);
  if (made.status !== 0) throw new Error(`gdal_translate failed: ${made.stderr}`);
  const off = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      `from osgeo import gdal; b = gdal.Open('${file}').GetRasterBand(1); print(min(int(b.GetMetadataItem('BLOCK_OFFSET_%d_%d' % (x, y), 'TIFF')) for x in range(8) for y in range(8)))`,
    ],
    { encoding: 'utf8' },
  );
  process.env.GDAL_DISABLE_READDIR_ON_OPEN = 'EMPTY_DIR';
  const server = await startRangeServer(file, Number(off.stdout.trim()));
  try {
    await server.delay(30);
    const out = path.join(OUT, `rw-net-${process.pid}.tif`);
    const t0 = performance.now();
    const concurrency = inWorker
      ? {
          computeWorkerKind: 'CW_SUBPROC' as const,
          numComputeWorkers: 1,
          computeWorkersRead: true,
          numReadWorkers: n,
          computeWorkerExtraParams: { startupReadAheadMB: 0 },
        }
      : { numReadWorkers: n };
    const copy = inWorker
      ? { module: new URL('../test/helpers/userfns.ts', import.meta.url).href, name: 'copyA' }
      : (_i: unknown, ins: Record<string, Block>, outs: Record<string, Block>): void => {
          outs.out = ins.a!.clone();
        };
    await apply(
      copy,
      { a: `/vsicurl/${server.url}` },
      { out },
      {
        controls: {
          calcStats: false,
          omitPyramids: true,
          creationOptions: ['TILED=YES'],
          windowXSize: win,
          windowYSize: win,
          concurrency,
        },
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    rmSync(out, { force: true });
    const st = await server.stats();
    return `${seconds.toFixed(2)} s (${st.dataRequests} tile requests, at most ${st.maxInFlight} at once)`;
  } finally {
    await server.close();
  }
}

/** Read every block of the input with 4 reads in flight spread over `handles` dataset handles. */
async function readAll(handles: number): Promise<number> {
  const ds = (await Promise.all(Array.from({ length: handles }, () => openInput(input, 'a')))) as OpenedRaster[];
  const wins: { col: number; row: number }[] = [];
  for (let row = 0; row < size; row += 256) for (let col = 0; col < size; col += 256) wins.push({ col, row });
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    [0, 1, 2, 3].map(async (lane) => {
      const h = ds[lane % handles]!;
      while (next < wins.length) {
        const w = wins[next++]!;
        await readWindow(h.ds, [1], { col: w.col, row: w.row, cols: 256, rows: 256 }, 'Float32', [0], size, size);
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  for (const d of ds) d.ds.close();
  return s;
}
