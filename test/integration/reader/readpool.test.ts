/**
 * Read workers: n block reads in flight at once, each on its own set of dataset handles (so
 * gdal-async's per-dataset lock does not serialise them), and output identical to a plain run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apply, type BlockAssociations } from '../../../src/index.js';
import {
  ReadPool,
  STRIP_READ_AHEAD_BYTES,
  observeReadPools,
  openReadPool,
  readSetsFor,
  readStrips,
  stripSet,
  uvPoolSize,
  uvPoolSizeFor,
  type ReadPoolStats,
} from '../../../src/reader/readpool.js';
import type { InputSource } from '../../../src/reader/inputs.js';
import type { BlockCoords } from '../../../src/errors.js';
import { makeRaster, py } from '../../helpers/py.js';
import { makeTiledFixture, startRangeServer } from '../../helpers/rangeserver.js';
import { openInput, type OpenedRaster } from '../../../src/gdal/inputs.js';
import { readWindow } from '../../../src/gdal/window.js';
import { combine, type CountArgs } from '../../helpers/userfns.js';

let dir: string;
/** Byte offset of the first tile of tiles.tif: requests from there on are pixel reads. */
let tileDataOffset = 0;
const f = (name: string): string => path.join(dir, name);

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-readworkers-'));
  makeRaster({ path: f('a.tif'), cols: 333, rows: 251, dtype: 'Float32', expr: '(r * 0.75 - c * 0.5 + 3)' });
  makeRaster({ path: f('b.tif'), cols: 333, rows: 251, dtype: 'Int16', expr: '((r * 5 + c * 11) % 300 - 40)', nodata: -5 });
  // uncompressed 256x256 tiles: each block read over /vsicurl/ is one HTTP range request
  tileDataOffset = makeTiledFixture(f('tiles.tif'));
  // no directory listing or sidecar probes on the test server
  process.env.GDAL_DISABLE_READDIR_ON_OPEN = 'EMPTY_DIR';
});
after(() => rmSync(dir, { recursive: true, force: true }));

const coords = (index: number): BlockCoords => ({ index, xoff: 0, yoff: 0, xsize: 1, ysize: 1 });
const fakeSet = (id: number): InputSource[] => [{ id } as unknown as InputSource];

describe('ReadPool', () => {
  test('n reads run at once, each on a different set; the next waits for a free set', async () => {
    const pending: { set: number; index: number; done: () => void }[] = [];
    let started!: () => void;
    let startedP = new Promise<void>((r) => (started = r));
    const reader = (sources: InputSource[], c: BlockCoords): Promise<BlockAssociations> =>
      new Promise((resolve) => {
        pending.push({ set: (sources[0] as unknown as { id: number }).id, index: c.index, done: () => resolve({}) });
        started();
      });
    let closed = 0;
    const opened: number[] = [];
    let next = 1;
    const pool = await ReadPool.open(
      fakeSet(0),
      3,
      async () => {
        const id = next++;
        opened.push(id);
        return [{ id, close: () => void closed++ } as unknown as InputSource];
      },
      reader,
    );
    assert.deepEqual(opened, [1, 2]);
    const reads = [0, 1, 2, 3, 4].map((i) => pool.read(coords(i), 0));
    while (pending.length < 3) {
      await startedP;
      startedP = new Promise<void>((r) => (started = r));
    }
    assert.equal(pending.length, 3, 'three reads in flight, the fourth waits');
    assert.deepEqual(new Set(pending.map((p) => p.set)), new Set([0, 1, 2]), 'on three different sets');
    const first = pending.shift()!;
    first.done();
    await reads[0];
    while (pending.length < 3) {
      await startedP;
      startedP = new Promise<void>((r) => (started = r));
    }
    assert.equal(pending.at(-1)!.index, 3);
    assert.equal(pending.at(-1)!.set, first.set, 'block 3 takes the set block 0 freed');
    while (pending.length > 0) {
      pending.shift()!.done();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(reads);
    const s = pool.stats();
    assert.equal(s.maxInFlight, 3);
    assert.equal(s.maxSetsBusy, 3);
    assert.equal(
      s.readsPerSet.reduce((a, b) => a + b, 0),
      5,
    );
    pool.close();
    assert.equal(closed, 2, 'the pool closes the sets it opened, not the caller’s');
  });

  test('reads given a set wait for that set, in the order asked, while other sets read', async () => {
    const pending: { set: number; index: number; done: () => void }[] = [];
    const reader = (sources: InputSource[], c: BlockCoords): Promise<BlockAssociations> =>
      new Promise((resolve) => pending.push({ set: (sources[0] as unknown as { id: number }).id, index: c.index, done: () => resolve({}) }));
    let next = 1;
    const pool = await ReadPool.open(fakeSet(0), 2, async () => fakeSet(next++), reader);
    const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
    // blocks 0-2 to set 0, block 3 to set 1, block 4 to any set
    const reads = [
      pool.read(coords(0), 0, undefined, undefined, 0),
      pool.read(coords(1), 0, undefined, undefined, 0),
      pool.read(coords(2), 0, undefined, undefined, 0),
    ];
    reads.push(pool.read(coords(3), 0, undefined, undefined, 1), pool.read(coords(4), 0));
    await settle();
    assert.deepEqual(
      pending.map((p) => [p.index, p.set]),
      [
        [0, 0],
        [3, 1],
      ],
      'one read per set at a time; block 3 does not wait behind set 0',
    );
    pending.splice(1, 1)[0]!.done(); // block 3 done: set 1 is free, and block 4 (any set) takes it
    await settle();
    assert.deepEqual(
      pending.map((p) => [p.index, p.set]),
      [
        [0, 0],
        [4, 1],
      ],
    );
    pending.shift()!.done(); // block 0 done: set 0 goes to block 1, which asked for it, not to anyone else
    await settle();
    assert.deepEqual(
      pending.map((p) => [p.index, p.set]),
      [
        [4, 1],
        [1, 0],
      ],
    );
    while (pending.length > 0) {
      pending.shift()!.done();
      await settle();
    }
    await Promise.all(reads);
    assert.deepEqual(pool.stats().readsPerSet, [3, 2]);
    await assert.rejects(pool.read(coords(5), 0, undefined, undefined, 2), /read set 2 outside 0\.\.1/);
    pool.close();
  });

  test('a set that fails to open closes the others', async () => {
    let closed = 0;
    let calls = 0;
    await assert.rejects(
      ReadPool.open(fakeSet(0), 3, async () => {
        if (calls++ === 1) throw new Error('cannot open');
        return [{ close: () => void closed++ } as unknown as InputSource];
      }),
      /cannot open/,
    );
    assert.equal(closed, 1);
  });

  test("riots' own choice of sets falls back to one with a warning when more cannot be opened; a count given fails", async () => {
    const warnings: (Error & { code?: string })[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    let closed = 0;
    let calls = 0;
    const openSet = async (): Promise<InputSource[]> => {
      if (calls++ === 1) throw new Error('too many open files');
      return [{ close: () => void closed++ } as unknown as InputSource];
    };
    try {
      const first = fakeSet(0);
      const r = await openReadPool(first, { sets: 3, auto: true }, openSet);
      await new Promise((res) => setImmediate(res));
      assert.equal(r.pool, undefined);
      assert.deepEqual(r.readSets, { sets: 1, auto: true });
      assert.equal(closed, 1, 'the set that did open is closed again');
      const w = warnings.find((x) => x.code === 'RIOTS_READ_SETS');
      assert.ok(w, 'a RIOTS_READ_SETS warning');
      assert.match(w.message, /3 sets of input handles .*too many open files.*one block at a time/);
      calls = 1; // the next set fails (2 sets of 1 input: within libuv's 4 threads, so no pool-size warning here)
      await assert.rejects(openReadPool(first, { sets: 2, auto: false }, openSet), /too many open files/);
      const ok = await openReadPool(first, { sets: 2, auto: true }, async () => fakeSet(1));
      assert.equal(ok.pool?.stats().sets, 2);
      assert.deepEqual((await openReadPool(first, { sets: 1, auto: true }, openSet)).pool, undefined);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('libuv pool size wanted: n reads of every input plus the writer', () => {
    assert.equal(uvPoolSizeFor(1, 1), 4);
    assert.equal(uvPoolSizeFor(3, 2), 8);
    assert.equal(uvPoolSizeFor(4, 4), 18);
  });
});

describe('numReadWorkers in apply()', () => {
  test('3 read workers: 3 reads at once on 3 handle sets; output identical to a sequential run (pixels and statistics)', async () => {
    const controls = { windowXSize: 64, windowYSize: 32 };
    const run = async (tag: string, concurrency?: object): Promise<{ stats: ReadPoolStats[]; blocks: number; otherArgsList: unknown[] }> => {
      const stats: ReadPool[] = [];
      observeReadPools((p) => stats.push(p));
      try {
        const args: CountArgs = { blocks: 0, workerIds: [], detachedOutputs: 0, inComputeWorker: [] };
        const r = await apply(
          combine,
          { a: f('a.tif'), b: f('b.tif') },
          { sum: f(`${tag}_sum.tif`), extra: f(`${tag}_extra.tif`) },
          {
            otherArgs: args,
            controls: { ...controls, ...(concurrency ? { concurrency } : {}) },
          },
        );
        return { stats: stats.map((p) => p.stats()), blocks: r.blocks, otherArgsList: r.otherArgsList };
      } finally {
        observeReadPools(undefined);
      }
    };
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    const seq = await run('seq');
    const rw = await run('rw3', { numReadWorkers: 3 });
    const both = await run('rw3thr', { numReadWorkers: 3, computeWorkerKind: 'CW_THREADS', numComputeWorkers: 2 });
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    assert.equal(seq.stats.length, 0, 'no pool without read workers');
    assert.equal(seq.blocks, 6 * 8);
    for (const r of [rw, both]) {
      assert.equal(r.stats.length, 1);
      const s = r.stats[0]!;
      assert.equal(s.sets, 3);
      assert.equal(s.maxInFlight, 3, 'three block reads in flight at once');
      assert.equal(s.maxSetsBusy, 3, 'on three different handle sets');
      assert.equal(
        s.readsPerSet.reduce((a, b) => a + b, 0),
        48,
      );
    }
    if (!process.env.UV_THREADPOOL_SIZE || Number(process.env.UV_THREADPOOL_SIZE) < 8) {
      assert.ok(warnings.some((w) => (w as Error & { code?: string }).code === 'RIOTS_UV_THREADPOOL' && /UV_THREADPOOL_SIZE >= 8/.test(w.message)));
    }
    const res = py<{ same: boolean[] }>(
      `
import hashlib
def d(p):
    ds = gdal.Open(p)
    return [(hashlib.sha256(ds.GetRasterBand(i + 1).ReadAsArray().tobytes()).hexdigest(), ds.GetRasterBand(i + 1).GetMetadata()) for i in range(ds.RasterCount)]
same = []
for tag in ['rw3', 'rw3thr']:
    for name in ['sum', 'extra']:
        same.append(d(args['dir'] + '/' + tag + '_' + name + '.tif') == d(args['dir'] + '/seq_' + name + '.tif'))
out({'same': same})
`,
      { dir },
    );
    assert.deepEqual(res.same, [true, true, true, true]);
  });
});

describe('read sets riots chooses when numReadWorkers is not given', () => {
  /** Run a − w + v (w resampled, v rasterized) and return the read pools it opened. */
  /** Open file descriptors of this process on `file` (what GDAL holds open). */
  const fdsOn = (file: string): number =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === file;
      } catch {
        return false;
      }
    }).length;
  /** The read pools the run opened, and the most descriptors on w.tif seen by the user function. */
  const run = async (
    tag: string,
    infiles: Record<string, string>,
    concurrency?: object,
  ): Promise<ReadPoolStats[] & { wFds?: number; setOf?: Map<number, number | undefined> }> => {
    const pools: ReadPool[] = [];
    let wFds = 0;
    /** The set each block's read asked for (undefined: any free set). */
    const setOf = new Map<number, number | undefined>();
    observeReadPools((p) => {
      pools.push(p);
      const read = p.read.bind(p);
      p.read = (c, overlap, info, alloc, set) => {
        setOf.set(c.index, set);
        return read(c, overlap, info, alloc, set);
      };
    });
    try {
      await apply(
        (_i, inputs, outputs) => {
          wFds = Math.max(wFds, fdsOn(f('w.tif')));
          const o = inputs.a!.like('Float32');
          const names = Object.keys(inputs);
          for (let k = 0; k < o.data.length; k++) {
            let v = 0;
            for (const n of names) v += (n === 'a' ? 1 : -1) * inputs[n]!.data[k]!;
            o.data[k] = v;
          }
          outputs.out = o;
        },
        infiles,
        { out: f(`${tag}.tif`) },
        { controls: { windowXSize: 64, windowYSize: 64, referenceImage: 'a', resampleMethod: 'bilinear', ...(concurrency ? { concurrency } : {}) } },
      );
      return Object.assign(
        pools.map((p) => p.stats()),
        { wFds, setOf },
      );
    } finally {
      observeReadPools(undefined);
    }
  };

  before(() => {
    // the same area on a 20 m lattice offset by 10 m: resampled for every block
    makeRaster({ path: f('w.tif'), cols: 520, rows: 390, transform: [499990, 20, 0, 6100010, 0, -20], expr: '(r * 0.3 + c * 0.2)' });
    writeFileSync(
      f('v.geojson'),
      JSON.stringify({
        type: 'FeatureCollection',
        crs: { type: 'name', properties: { name: 'EPSG:32755' } },
        features: [
          {
            type: 'Feature',
            properties: {},
            geometry: {
              type: 'Polygon',
              coordinates: [
                [
                  [501000, 6099000],
                  [505000, 6099000],
                  [505000, 6094000],
                  [501000, 6099000],
                ],
              ],
            },
          },
        ],
      }),
    );
  });

  test('inputs resampled or rasterized per block are read on every core; the output is the same byte for byte', async (t) => {
    const cores = os.availableParallelism();
    const inputs = { a: f('a.tif'), w: f('w.tif'), v: f('v.geojson') };
    const auto = await run('auto', inputs);
    const one = await run('one', inputs, { numReadWorkers: 1 });
    assert.equal(one.length, 0, 'numReadWorkers given as 1: one read at a time, no pool');
    if (cores < 2) {
      t.diagnostic(`this machine has ${cores} core: one set is riots' choice, nothing to compare`);
      assert.equal(auto.length, 0);
    } else {
      assert.equal(auto.length, 1, 'a pool of read sets');
      const s = auto[0]!;
      assert.equal(s.sets, Math.min(cores, Math.max(2, Math.floor(uvPoolSize() / 3))));
      assert.ok(s.maxInFlight >= 2, `reads in flight at once: ${s.maxInFlight}`);
      // GDAL datasets are not safe to read from two threads: each set must warp from source
      // handles of its own (a warped VRT reopened from XML opens its source itself; a GDAL that
      // shared it between sets would show fewer descriptors here)
      assert.ok(one.wFds! > 0, 'the one-set run holds w.tif open');
      assert.equal(auto.wFds, s.sets * one.wFds!, `descriptors on w.tif with ${s.sets} sets against one set`);
      assert.equal(
        s.readsPerSet.reduce((x, y) => x + y, 0),
        6 * 4,
      );
      // each set reads its strip of every row (the grid is 6 x 4 blocks of 64 x 64, small enough for whole strips)
      const strips = readStrips(s.sets, 6, 0);
      assert.equal(strips.blocksPerStrip, Math.ceil(6 / s.sets));
      const expected = new Map(Array.from({ length: 24 }, (_, i) => [i, stripSet(i % 6, strips, s.sets)]));
      assert.deepEqual(auto.setOf, expected, `block -> set, strips of ${strips.blocksPerStrip} blocks`);
      assert.deepEqual(
        s.readsPerSet,
        Array.from({ length: s.sets }, (_, set) => [...expected.values()].filter((v) => v === set).length),
      );
      assert.ok(s.maxSetsBusy >= 2, 'the sets read at once');
    }
    const res = py<{ same: boolean; valid: number }>(
      `
import hashlib
x = gdal.Open(args['x']); y = gdal.Open(args['y'])
a = x.GetRasterBand(1).ReadAsArray()
out({'same': x.GetRasterBand(1).ReadAsArray().tobytes() == y.GetRasterBand(1).ReadAsArray().tobytes() and x.GetRasterBand(1).GetMetadata() == y.GetRasterBand(1).GetMetadata(), 'valid': int((a != 0).sum())})
`,
      { x: f('auto.tif'), y: f('one.tif') },
    );
    assert.equal(res.same, true, 'pixels and statistics equal to the one-at-a-time run');
    assert.ok(res.valid > 0);
  });

  test('inputs all on the working lattice: one read at a time (no pool)', async () => {
    assert.equal((await run('direct', { a: f('a.tif'), b: f('b.tif') })).length, 0);
  });
});

describe('readStrips', () => {
  const KB = 1024;
  test('two sets: each reads half of every row, and reads run far enough ahead to reach the second half', () => {
    assert.deepEqual(readStrips(2, 24, 512 * KB), { blocksPerStrip: 12, readAhead: 16 });
    assert.deepEqual(
      [0, 11, 12, 23].map((c) => stripSet(c, readStrips(2, 24, 512 * KB), 2)),
      [0, 0, 1, 1],
    );
    // rows of odd length: the first strip takes the extra block
    assert.deepEqual(readStrips(2, 5, KB), { blocksPerStrip: 3, readAhead: 7 });
  });
  test('more sets: strips of a row in turn, the read-ahead reaching the last strip', () => {
    const s = readStrips(4, 24, 512 * KB);
    assert.deepEqual(s, { blocksPerStrip: 6, readAhead: 26 });
    assert.deepEqual(
      [0, 5, 6, 12, 18, 23].map((c) => stripSet(c, s, 4)),
      [0, 0, 1, 2, 3, 3],
    );
  });
  test('the read-ahead stays within its budget: narrower strips, down to one block a set in turn', () => {
    const wide = readStrips(2, 400, 512 * KB);
    assert.ok(wide.readAhead * 512 * KB <= STRIP_READ_AHEAD_BYTES, `${wide.readAhead} blocks of 512 KB`);
    assert.deepEqual(wide, { blocksPerStrip: 60, readAhead: 64 });
    assert.deepEqual(
      [0, 59, 60, 119, 120].map((c) => stripSet(c, wide, 2)),
      [0, 0, 1, 1, 0],
      'strips alternate along the row',
    );
    const big = readStrips(2, 24, 8 * 2 ** 20);
    assert.deepEqual(big, { blocksPerStrip: 1, readAhead: 4 });
    assert.deepEqual(
      [0, 1, 2, 3].map((c) => stripSet(c, big, 2)),
      [0, 1, 0, 1],
    );
    // blocks larger than the budget: still one block ahead per set
    assert.deepEqual(readStrips(3, 24, 64 * 2 ** 20), { blocksPerStrip: 1, readAhead: 3 });
  });
  test('one set: the whole row, one block ahead', () => {
    assert.deepEqual(readStrips(1, 24, KB), { blocksPerStrip: 24, readAhead: 1 });
  });
});

describe('readSetsFor', () => {
  const given = (n: number) => ({ numReadWorkers: n, numReadWorkersGiven: true, computeWorkersRead: false });
  const auto = { numReadWorkers: 0, numReadWorkersGiven: false, computeWorkersRead: false };
  const direct = { readKind: 'direct' } as const;
  const warped = { readKind: 'warped' } as const;
  const burnt = { readKind: 'rasterized' } as const;
  test('the count given wins, whatever the inputs (0 reads one at a time)', () => {
    assert.deepEqual(readSetsFor(given(0), [warped], 8, 64), { sets: 1, auto: false });
    assert.deepEqual(readSetsFor(given(3), [direct], 2, 4), { sets: 3, auto: false });
  });
  test('not given: one set for direct reads, else one per core within libuv pool threads per input, at least 2', () => {
    assert.deepEqual(readSetsFor(auto, [direct, direct], 16, 64), { sets: 1, auto: true });
    assert.deepEqual(readSetsFor(auto, [direct, warped], 2, 4), { sets: 2, auto: true });
    assert.deepEqual(readSetsFor(auto, [direct, warped, burnt], 16, 4), { sets: 2, auto: true });
    assert.deepEqual(readSetsFor(auto, [burnt], 16, 4), { sets: 4, auto: true });
    assert.deepEqual(readSetsFor(auto, [direct, warped], 16, 64), { sets: 16, auto: true });
    assert.deepEqual(readSetsFor(auto, [warped], 1, 4), { sets: 1, auto: true });
  });
  test('compute workers that read: the main reads nothing', () => {
    assert.deepEqual(readSetsFor({ ...auto, computeWorkersRead: true }, [warped], 8, 4), { sets: 0, auto: false });
  });
});

describe('reads really run at once in GDAL (counted at an HTTP server behind /vsicurl/)', () => {
  const tile = (h: OpenedRaster, i: number): Promise<unknown> =>
    readWindow(h.ds, [1], { col: (i % 3) * 256, row: Math.floor(i / 3) * 256, cols: 256, rows: 256 }, 'Float32', [0], 768, 512);

  test('one dataset handle serialises reads (gdal-async locks it); one handle per read lets them overlap', async () => {
    const server = await startRangeServer(f('tiles.tif'), tileDataOffset);
    const handles: OpenedRaster[] = [];
    try {
      const one = (await openInput(`/vsicurl/${server.url}`, 'a')) as OpenedRaster;
      handles.push(one);
      // answers come 150 ms late, so reads that could overlap would be seen overlapping
      await server.delay(150);
      // tiles 0, 2, 4: not adjacent in the file, so GDAL's read-ahead cannot merge them
      await Promise.all([0, 2, 4].map((i) => tile(one, i)));
      assert.deepEqual(await server.stats(), { maxInFlight: 1, dataRequests: 3 }, 'three reads on one handle: one request at a time');
      const three = (await Promise.all([0, 1, 2].map(() => openInput(`/vsicurl/${server.url}`, 'a')))) as OpenedRaster[];
      handles.push(...three);
      // a barrier: nothing is answered until three reads are in flight at once
      const { opened } = await server.barrier(3);
      await Promise.all([1, 3, 5].map((i, k) => tile(three[k]!, i)));
      await opened;
      assert.equal((await server.stats()).maxInFlight, 3);
    } finally {
      for (const h of handles) h.ds.close();
      await server.close();
    }
  });

  test('apply() with numReadWorkers 3 has three reads in flight in GDAL at once; output equals the file', async () => {
    const server = await startRangeServer(f('tiles.tif'), tileDataOffset);
    try {
      const { opened } = await server.barrier(3);
      const run = apply(
        (_i, inputs, outputs) => {
          outputs.out = inputs.a.clone();
        },
        { a: `/vsicurl/${server.url}` },
        { out: f('fromhttp.tif') },
        { controls: { calcStats: false, windowXSize: 256, windowYSize: 256, concurrency: { numReadWorkers: 3, readBufferPopTimeout: 60 } } },
      );
      const [r] = await Promise.all([run, opened]);
      assert.equal(r.blocks, 6);
      assert.equal((await server.stats()).maxInFlight, 3, 'the barrier opened with three reads in flight');
      const res = py<{ same: boolean }>(
        `
x = gdal.Open(args['x']); y = gdal.Open(args['y'])
out({'same': bool((x.ReadAsArray() == y.ReadAsArray()).all())})
`,
        { x: f('tiles.tif'), y: f('fromhttp.tif') },
      );
      assert.equal(res.same, true);
    } finally {
      await server.close();
    }
  });
});
