/**
 * ValueSpill: the scratch copy of a band's values that float histograms are binned from. Values
 * come back exactly, in order, across chunk boundaries, for every type; the file goes away.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SPILL_CHUNK_BYTES, ValueSpill } from '../../../src/stats/spill.js';
import { apply } from '../../../src/index.js';
import { makeRaster, py } from '../../helpers/py.js';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-spill-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('Float32 and Float64 values replay in order across several chunks, and the file is removed', async () => {
  for (const dtype of ['Float32', 'Float64'] as const) {
    const Ctor = dtype === 'Float32' ? Float32Array : Float64Array;
    const file = path.join(dir, `s-${dtype}`);
    const spill = await ValueSpill.create(file, dtype);
    // pieces of odd sizes (sub-arrays at odd offsets too), 2.6 chunks in all
    const total = Math.floor((2.6 * SPILL_CHUNK_BYTES) / Ctor.BYTES_PER_ELEMENT);
    const expected = new Ctor(total);
    let k = 0;
    let size = 1;
    while (k < total) {
      const n = Math.min(size, total - k);
      const backing = new Ctor(n + 3);
      for (let i = 0; i < n; i++) backing[i + 3] = (k + i) * 0.25 - 1e6;
      await spill.add(backing.subarray(3));
      expected.set(backing.subarray(3), k);
      k += n;
      size = (size * 7 + 12345) % 300_001;
    }
    assert.equal(spill.bytes, total * Ctor.BYTES_PER_ELEMENT);
    const got = new Ctor(total);
    let at = 0;
    let chunks = 0;
    await spill.replay((values) => {
      assert.ok(values instanceof Ctor);
      got.set(values, at);
      at += values.length;
      chunks++;
    });
    assert.equal(at, total);
    assert.equal(chunks, 3);
    assert.deepEqual(Buffer.from(got.buffer), Buffer.from(expected.buffer));
    assert.ok(existsSync(file));
    await spill.dispose();
    await spill.dispose(); // twice is harmless
    assert.ok(!existsSync(file));
    await assert.rejects(spill.add(new Ctor(1)), /disposed/);
  }
});

test('an empty spill replays nothing; a failing callback stops the replay', async () => {
  const empty = await ValueSpill.create(path.join(dir, 'empty'), 'Float32');
  let calls = 0;
  await empty.replay(() => calls++);
  assert.equal(calls, 0);
  await empty.dispose();
  const s = await ValueSpill.create(path.join(dir, 'fail'), 'Float32');
  await s.add(new Float32Array(3 * (SPILL_CHUNK_BYTES / 4)));
  await assert.rejects(
    s.replay(() => {
      throw new Error('binning failed');
    }),
    /binning failed/,
  );
  await s.dispose();
  assert.ok(!existsSync(path.join(dir, 'fail')));
});

test('apply(): a Float32 output histogram from the spill equals numpy; no scratch file is left, after success or failure', async () => {
  const a = path.join(dir, 'a.tif');
  // 1300 x 1100 Float32 = 5.7 MB: more than one spill chunk
  makeRaster({ path: a, cols: 1300, rows: 1100, dtype: 'Float32', expr: '(np.cos(r / 53.0) * 40 + c * 0.01 - 5).astype(np.float32)' });
  const out = path.join(dir, 'o.tif');
  let scratchSeen: string[] = [];
  await apply(
    (info, inputs, outputs) => {
      // by the last block, the earlier blocks' values are in the scratch file beside the output
      if (info.isLastBlock()) scratchSeen = readdirSync(dir).filter((f) => /^o\.riots-tmp-.*\.tif\.riots-hist-b1$/.test(f));
      outputs.o = inputs.a.map((v) => (v < -30 ? -999 : v), 'Float32');
    },
    { a },
    { o: out },
    { controls: { statsIgnore: -999 } },
  );
  const n = py<{ hist: number[]; md: Record<string, string> }>(
    `
ds = gdal.Open(args['f'])
b = ds.GetRasterBand(1)
v = b.ReadAsArray().astype(np.float64).ravel()
v = v[v != -999]
md = b.GetMetadata()
assert float(md['STATISTICS_HISTOMIN']) == v.min() and float(md['STATISTICS_HISTOMAX']) == v.max()
lo, hi = v.min(), v.max()
h = np.bincount(np.minimum(((v - lo) / (hi - lo) * 256).astype(np.int64), 255), minlength=256)
out({'hist': [int(x) for x in h], 'md': md})
`,
    { f: out },
  );
  const stored = n.md
    .STATISTICS_HISTOBINVALUES!.split('|')
    .filter((s) => s !== '')
    .map(Number);
  assert.equal(scratchSeen.length, 1, 'the histogram is binned from a scratch copy, not by reading the output back');
  assert.equal(stored.length, 256);
  assert.deepEqual(stored, n.hist);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('riots-')),
    [],
  );

  const failed = path.join(dir, 'failed.tif');
  await assert.rejects(
    apply(
      (info, inputs, outputs) => {
        if (info.isLastBlock()) throw new Error('last block fails');
        outputs.o = inputs.a.map((v) => v, 'Float32');
      },
      { a },
      { o: failed },
    ),
    /last block fails/,
  );
  assert.ok(!existsSync(failed));
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('riots-')),
    [],
  );
});
