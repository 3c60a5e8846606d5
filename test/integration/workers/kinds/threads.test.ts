/**
 * CW_THREADS: output byte-identical to a sequential run (pixels and statistics, read back by
 * Python GDAL), buffers moved by transfer, otherArgs per worker, errors with block and worker,
 * TypeScript user modules, and no thread left behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { apply, Block, ControlsError, UserFunctionError, WorkerError, Timings, ApplierControls, ConcurrencyStyle } from '../../../../src/index.js';
import type { RunDescription } from '../../../../src/workers/backend.js';
import { createBackend } from '../../../../src/workers/kinds/threads.js';
import { makeRaster, py } from '../../../helpers/py.js';
import { aliasing, combine, copyA, exitsOnBlock2, failsOnBlock3, spoilsOtherArgs, type CountArgs } from '../../../helpers/userfns.js';

let dir: string;
const f = (name: string): string => path.join(dir, name);
const THREADS = { computeWorkerKind: 'CW_THREADS' as const, numComputeWorkers: 2, numReadWorkers: 1 };
const srcIndex = pathToFileURL(path.resolve('src/index.ts')).href;
/** A plain exported function, referenced by module and name. */
const copyRef = { module: pathToFileURL(path.resolve('test/helpers/userfns.ts')).href, name: 'copyA' };

/** OS threads of this process (worker threads are OS threads). */
function osThreads(): number {
  return Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-threads-'));
  // odd sizes, two types, b with nodata: blocks of 64x48 give edge blocks on both sides
  makeRaster({ path: f('a.tif'), cols: 301, rows: 203, dtype: 'Float32', expr: '(r * 1.5 + c * 0.25 + 1)' });
  makeRaster({ path: f('b.tif'), cols: 301, rows: 203, dtype: 'Int16', expr: '((r * 7 + c * 3) % 200 - 20)', nodata: -5 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const newArgs = (): CountArgs => ({ blocks: 0, workerIds: [], detachedOutputs: 0, inComputeWorker: [] });

/** Pixels (hash of raw bytes), data type and every band's metadata (statistics) of a file. */
function describeFile(p: string): unknown {
  return py(
    `
import hashlib
ds = gdal.Open(args['p'])
bands = []
for i in range(ds.RasterCount):
    b = ds.GetRasterBand(i + 1)
    a = b.ReadAsArray()
    bands.append({'sha': hashlib.sha256(a.tobytes()).hexdigest(), 'type': gdal.GetDataTypeName(b.DataType), 'md': b.GetMetadata(), 'ovr': b.GetOverviewCount(), 'nd': b.GetNoDataValue()})
out({'size': [ds.RasterXSize, ds.RasterYSize], 'gt': list(ds.GetGeoTransform()), 'bands': bands})
`,
    { p },
  );
}

describe('CW_THREADS', () => {
  test('output is byte-identical to a sequential run (pixels and statistics); otherArgs per worker; caller untouched', async () => {
    const controls = { windowXSize: 64, windowYSize: 48 };
    const seqArgs = newArgs();
    const seq = await apply(combine, { a: f('a.tif'), b: f('b.tif') }, { sum: f('seq_sum.tif'), extra: f('seq_extra.tif') }, { otherArgs: seqArgs, controls });
    assert.equal(seq.blocks, 5 * 5);
    assert.equal(seqArgs.blocks, 25);

    const thrArgs = newArgs();
    const snapshot = structuredClone(thrArgs);
    const thr = await apply(
      combine,
      { a: f('a.tif'), b: f('b.tif') },
      { sum: f('thr_sum.tif'), extra: f('thr_extra.tif') },
      {
        otherArgs: thrArgs,
        controls: { ...controls, concurrency: THREADS },
      },
    );
    assert.deepEqual(thrArgs, snapshot, "the caller's otherArgs is left untouched");
    assert.equal(thr.otherArgsList.length, 2);
    const lists = thr.otherArgsList;
    assert.equal(lists[0]!.blocks + lists[1]!.blocks, 25, 'every block counted once across workers');
    lists.forEach((l, i) => {
      if (l.blocks > 0) assert.deepEqual(l.workerIds, [i]);
      if (l.blocks > 0) assert.deepEqual(l.inComputeWorker, [true]);
    });
    // outputs travelled back by transfer: earlier output buffers are detached in the worker
    assert.ok(lists[0]!.detachedOutputs + lists[1]!.detachedOutputs >= 2 * (25 - 2), JSON.stringify(lists));
    // timings merged, with one column per worker
    assert.equal(thr.workerTimings.size, 2);
    const perWorkerCalls = [...thr.workerTimings.values()].reduce((s, t) => s + (t.toJSON().userfunction?.count ?? 0), 0);
    assert.equal(perWorkerCalls, 25);
    assert.equal(thr.timings.toJSON().userfunction?.count, 25);
    assert.equal(thr.timings.toJSON()['wait:tasks']?.count, 25, "each worker's idle time before each block");
    assert.match(thr.formatReport(), /worker 0\s+worker 1/);

    for (const name of ['sum', 'extra']) {
      const s = describeFile(f(`seq_${name}.tif`)) as { bands: { md: Record<string, string> }[] };
      const t = describeFile(f(`thr_${name}.tif`));
      assert.deepEqual(t, s, `${name}: threads vs sequential`);
      assert.ok(
        Object.keys(s.bands[0]!.md).some((k) => k.startsWith('STATISTICS_')),
        'statistics were written',
      );
    }
  });

  test('input buffers are transferred to the worker (detached in the main thread), outputs come back', async () => {
    const concurrency = new ConcurrencyStyle(THREADS);
    const ctx = {
      projection: '',
      transform: [0, 1, 0, 0, 0, -1] as [number, number, number, number, number, number],
      cols: 8,
      rows: 4,
      windowXSize: 8,
      windowYSize: 4,
      overlap: 0,
    };
    const run = {
      userFunction: copyRef,
      layout: Promise.resolve({
        infoContext: ctx,
        sources: [{ ref: { name: 'a', listIndex: null, path: 'a.tif' }, dtype: 'Float32', bands: 1, nodata: [null] }],
      }),
      outRefs: [{ name: 'out', listIndex: null, path: 'x.tif' }],
      concurrency,
      otherArgs: undefined,
      controls: ApplierControls.from({}),
      timings: new Timings(),
    } as unknown as RunDescription;
    const backend = await createBackend(run);
    try {
      await backend.start();
      const a = Block.create('Float32', 1, 4, 8);
      a.data.forEach((_, i) => (a.data[i] = i * 0.5));
      const expected = Array.from(a.data);
      const p = backend.compute({ index: 0, xoff: 0, yoff: 0, xsize: 8, ysize: 4 }, { a });
      assert.equal(a.data.buffer.byteLength, 0, 'the input buffer was transferred, not copied');
      assert.equal(a.data.length, 0);
      const out = (await p).out as Block;
      assert.ok(out instanceof Block);
      assert.deepEqual(Array.from(out.data), expected);
      const fin = await backend.finish();
      assert.equal(fin.otherArgsList.length, 2);
    } finally {
      await backend.destroy();
    }
  });

  test('outputs that share memory (an input returned twice, a view into a larger buffer) arrive intact', async () => {
    await apply(
      aliasing,
      { a: f('a.tif') },
      { same1: f('s1.tif'), same2: f('s2.tif'), view: f('v.tif') },
      {
        controls: { calcStats: false, windowXSize: 64, windowYSize: 48, concurrency: THREADS },
      },
    );
    const res = py<{ same: boolean[] }>(
      `
ads = gdal.Open(args['a']); a = ads.ReadAsArray()
same = []
for p in args['outs']:
    ds = gdal.Open(p)
    same.append(bool((ds.ReadAsArray() == a).all()))
out({'same': same})
`,
      { a: f('a.tif'), outs: [f('s1.tif'), f('s2.tif'), f('v.tif')] },
    );
    assert.deepEqual(res.same, [true, true, true]);
  });

  test('a { module, name } reference to a plain exported function works sequentially and in threads', async () => {
    for (const concurrency of [undefined, THREADS]) {
      const o = f(`copy_${concurrency ? 'thr' : 'seq'}.tif`);
      await apply(
        copyRef,
        { a: f('a.tif') },
        { out: o },
        { controls: { calcStats: false, windowXSize: 112, windowYSize: 96, ...(concurrency ? { concurrency } : {}) } },
      );
    }
    const res = py<{ same: boolean }>(
      `
x = gdal.Open(args['x']); y = gdal.Open(args['y']); a = gdal.Open(args['a'])
out({'same': bool((x.ReadAsArray() == a.ReadAsArray()).all() and (y.ReadAsArray() == a.ReadAsArray()).all())})
`,
      { x: f('copy_seq.tif'), y: f('copy_thr.tif'), a: f('a.tif') },
    );
    assert.equal(res.same, true);
    assert.equal(typeof copyA, 'function');
  });

  test('an inline closure with CW_THREADS is a ControlsError that shows the fix, before anything starts', async () => {
    const before = osThreads();
    await assert.rejects(
      apply((_i, inputs, outputs) => void (outputs.out = inputs.a), { a: f('a.tif') }, { out: f('never.tif') }, { controls: { concurrency: THREADS } }),
      (e: unknown) => {
        assert.ok(e instanceof ControlsError);
        assert.match(e.message, /export const myFunction = defineUserFunction\(import\.meta\.url, \(info, inputs, outputs, otherArgs\) => \{ \.\.\. \}\);/);
        return true;
      },
    );
    assert.equal(existsSync(f('never.tif')), false);
    assert.equal(osThreads(), before, 'no thread was started');
  });

  test('otherArgs that cannot be copied is a ControlsError naming the path, before any worker starts', async () => {
    class Model {
      w = 2;
      predict(x: number): number {
        return x * this.w;
      }
    }
    const cases: [unknown, RegExp][] = [
      [{ scale: 2, model: { predict: (x: number) => x } }, /otherArgs\.model\.predict cannot be sent to compute workers: it is a function/],
      [{ list: [1, new Model()] }, /otherArgs\.list\[1\] cannot be sent .*class Model/],
      [{ tag: Symbol('x') }, /otherArgs\.tag .*symbol/],
    ];
    for (const [otherArgs, re] of cases) {
      const before = osThreads();
      // a missing input shows the check runs before inputs are even opened (so before any worker)
      await assert.rejects(
        apply(
          combine,
          { a: f('missing.tif'), b: f('b.tif') },
          { sum: f('x.tif'), extra: f('y.tif') },
          { otherArgs: otherArgs as CountArgs, controls: { concurrency: THREADS } },
        ),
        (e: unknown) => e instanceof ControlsError && re.test(e.message),
      );
      assert.equal(osThreads(), before);
    }
  });

  test('a user-function error surfaces with its block, worker id, cause and stack; no thread is left', async () => {
    // warm up libuv/GDAL threads so that the count below only sees worker threads
    await apply(copyRef, { a: f('a.tif') }, { out: f('warm.tif') }, { controls: { calcStats: false } });
    const baseline = osThreads();
    await assert.rejects(
      apply(failsOnBlock3, { a: f('a.tif') }, { out: f('fail.tif') }, { controls: { windowXSize: 64, windowYSize: 48, concurrency: THREADS } }),
      (e: unknown) => {
        assert.ok(e instanceof UserFunctionError, String(e));
        assert.equal(e.block?.index, 3);
        assert.deepEqual(e.block, { index: 3, xoff: 192, yoff: 0, xsize: 64, ysize: 48 });
        assert.ok(e.workerId === 0 || e.workerId === 1);
        assert.match(e.message, /block 3 \(x 192\.\.255, y 0\.\.47\) in worker [01]: boom on purpose/);
        assert.ok(e.cause instanceof Error);
        assert.equal(e.cause.message, 'boom on purpose');
        assert.match(e.cause.stack ?? '', /userfns\.ts/);
        return true;
      },
    );
    assert.equal(existsSync(f('fail.tif')), false);
    assert.equal(osThreads(), baseline, 'every worker thread has ended');
  });

  test('a worker thread that dies fails the run with a WorkerError naming the worker and block', async () => {
    await apply(copyRef, { a: f('a.tif') }, { out: f('warm2.tif') }, { controls: { calcStats: false } });
    const baseline = osThreads();
    await assert.rejects(
      apply(exitsOnBlock2, { a: f('a.tif') }, { out: f('exit.tif') }, { controls: { windowXSize: 64, windowYSize: 48, concurrency: THREADS } }),
      (e: unknown) => {
        assert.ok(e instanceof WorkerError, String(e));
        assert.match(e.message, /compute worker [01] \(thread\) exited unexpectedly with code 3 while computing block 2 /);
        assert.equal(e.block?.index, 2);
        return true;
      },
    );
    assert.equal(existsSync(f('exit.tif')), false);
    assert.equal(osThreads(), baseline, 'every worker thread has ended');
  });

  test('otherArgs that a worker made uncopyable fails the run at the end, naming the worker; no output is left', async () => {
    await assert.rejects(
      apply(spoilsOtherArgs, { a: f('a.tif') }, { out: f('spoiled.tif') }, { otherArgs: {}, controls: { calcStats: false, concurrency: THREADS } }),
      (e: unknown) => {
        assert.ok(e instanceof WorkerError, String(e));
        assert.match(e.message, /compute worker [01] could not send its final otherArgs: .*could not be cloned/);
        return true;
      },
    );
    assert.equal(existsSync(f('spoiled.tif')), false);
  });

  test('a TypeScript user module that imports a sibling .ts file runs in worker threads', async () => {
    const mod = mkdtempSync(path.join(dir, 'tsmod-'));
    writeFileSync(path.join(mod, 'package.json'), '{"type": "module"}\n');
    writeFileSync(path.join(mod, 'scale.ts'), 'export const factor: number = 3;\nexport function scale(v: number): number { return v * factor + 0.5; }\n');
    writeFileSync(
      path.join(mod, 'fn.ts'),
      [
        `import { Block, defineUserFunction } from ${JSON.stringify(srcIndex)};`,
        `import { scale } from './scale.js';`,
        `interface Inputs { [k: string]: Block; a: Block }`,
        `export const scaled = defineUserFunction(import.meta.url, (_info: unknown, inputs: Inputs, outputs: Record<string, Block>): void => {`,
        `  outputs.out = inputs.a.map((v: number) => scale(v), 'Float64');`,
        `});`,
      ].join('\n'),
    );
    const { scaled } = (await import(pathToFileURL(path.join(mod, 'fn.ts')).href)) as { scaled: Parameters<typeof apply>[0] };
    await apply(scaled, { a: f('a.tif') }, { out: f('ts.tif') }, { controls: { calcStats: false, windowXSize: 128, windowYSize: 64, concurrency: THREADS } });
    const res = py<{ maxdiff: number }>(
      `
ads = gdal.Open(args['a']); a = ads.ReadAsArray().astype(np.float64)
ods = gdal.Open(args['o']); o = ods.ReadAsArray()
out({'maxdiff': float(np.abs(o - (a * 3 + 0.5)).max())})
`,
      { a: f('a.tif'), o: f('ts.tif') },
    );
    assert.equal(res.maxdiff, 0);
  });

  test('one-file scripts: apply() guarded by isComputeWorker() works; unguarded, workers refuse to re-run it', async () => {
    const mod = mkdtempSync(path.join(dir, 'onefile-'));
    writeFileSync(path.join(mod, 'package.json'), '{"type": "module"}\n');
    const body = (guarded: boolean, out: string): string =>
      [
        `import { apply, defineUserFunction, isComputeWorker } from ${JSON.stringify(srcIndex)};`,
        `export const neg = defineUserFunction(import.meta.url, (_i: unknown, inputs: any, outputs: any) => { outputs.out = inputs.a.map((v: number) => -v); });`,
        `const run = () => apply(neg, { a: ${JSON.stringify(f('a.tif'))} }, { out: ${JSON.stringify(out)} }, { controls: { calcStats: false, concurrency: { computeWorkerKind: 'CW_THREADS', numComputeWorkers: 2, numReadWorkers: 1 } } });`,
        guarded ? `export const result = isComputeWorker() ? undefined : await run();` : `export const result = await run();`,
      ].join('\n');
    writeFileSync(path.join(mod, 'guarded.ts'), body(true, f('guarded.tif')));
    writeFileSync(path.join(mod, 'unguarded.ts'), body(false, f('unguarded.tif')));
    const g = (await import(pathToFileURL(path.join(mod, 'guarded.ts')).href)) as { result: { blocks: number } };
    assert.equal(g.result.blocks, 2);
    await assert.rejects(import(pathToFileURL(path.join(mod, 'unguarded.ts')).href), (e: unknown) => {
      assert.ok(e instanceof ControlsError, String(e));
      assert.match(e.message, /apply\(\) was called inside compute worker [01].*isComputeWorker/);
      return true;
    });
    assert.equal(existsSync(f('unguarded.tif')), false);
  });
});
