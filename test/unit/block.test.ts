import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Block, isBigIntBlock, DATA_TYPES } from '../../src/index.js';

test('Block.create gives the typed array of the data type, zero-filled', () => {
  const expected: Record<string, unknown> = {
    Byte: Uint8Array,
    Int8: Int8Array,
    Int16: Int16Array,
    UInt16: Uint16Array,
    Int32: Int32Array,
    UInt32: Uint32Array,
    Int64: BigInt64Array,
    UInt64: BigUint64Array,
    Float32: Float32Array,
    Float64: Float64Array,
  };
  for (const dt of DATA_TYPES) {
    const b = Block.create(dt, 2, 3, 4);
    assert.equal(b.data.constructor, expected[dt]);
    assert.equal(b.data.length, 24);
    assert.ok(Array.from(b.data as ArrayLike<number | bigint>).every((v) => Number(v) === 0));
  }
});

test('64-bit blocks: bigints inside, numbers through get, set, map and create', () => {
  const b = Block.create('Int64', 1, 2, 2, -3.7);
  assert.deepEqual(Array.from(b.data), [-3n, -3n, -3n, -3n], 'filled truncated toward zero');
  b.data[1] = 2n ** 62n + 1n;
  assert.equal(b.get(0, 0, 1), 2 ** 62, 'get gives the nearest number');
  b.set(0, 1, 0, 1e15 + 0.9);
  assert.equal(b.data[2], 1000000000000000n);
  b.set(0, 1, 1, NaN);
  assert.equal(b.data[3], 0n, 'NaN becomes 0, as in integer typed arrays');
  const m = b.map((v) => v * 2, 'Float64');
  assert.deepEqual(Array.from(m.data), [-6, 2 ** 63, 2e15, 0]);
  const u = Block.create('Int16', 1, 1, 3).map((_v, i) => i - 5, 'UInt64');
  assert.deepEqual(Array.from(u.data), [18446744073709551611n, 18446744073709551611n, 18446744073709551611n], 'wrapped as BigUint64Array stores');
  assert.equal(isBigIntBlock(b), true);
  assert.equal(isBigIntBlock(m), false);
  assert.deepEqual(Array.from(b.clone().data), Array.from(b.data));
});

test('band-major layout: get/set agree with band() views, which are zero-copy', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), (bands, rows, cols) => {
      const b = Block.create('Int32', bands, rows, cols);
      for (let k = 0; k < bands; k++) for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) b.set(k, r, c, k * 1000 + r * 10 + c);
      for (let k = 0; k < bands; k++) {
        const v = b.band(k);
        assert.equal(v.buffer, b.data.buffer);
        assert.equal(v.length, rows * cols);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) assert.equal(v[r * cols + c], k * 1000 + r * 10 + c);
      }
      b.band(bands - 1)[0] = -7;
      assert.equal(b.get(bands - 1, 0, 0), -7);
    }),
  );
});

test('like() keeps rows and cols, and may change type and band count', () => {
  const a = Block.create('UInt16', 3, 5, 7);
  const l = a.like('Float64', 1);
  assert.deepEqual([l.dtype, l.bands, l.rows, l.cols], ['Float64', 1, 5, 7]);
  assert.ok(l.data instanceof Float64Array);
  const same = a.like();
  assert.deepEqual([same.dtype, same.bands], ['UInt16', 3]);
  assert.notEqual(same.data.buffer, a.data.buffer);
});

test('wrapping an array checks its type and length', () => {
  assert.throws(() => new Block('Float32', 1, 2, 2, new Float64Array(4) as never), TypeError);
  assert.throws(() => new Block('Float32', 1, 2, 2, new Float32Array(5)), RangeError);
  assert.throws(() => Block.create('Float32', 1, -1, 2), RangeError);
  assert.throws(() => a().band(3), RangeError);
  function a(): Block {
    return Block.create('Byte', 3, 1, 1);
  }
  const w = Block.fromArray(new Int16Array([1, 2, 3, 4, 5, 6]), 1, 2, 3);
  assert.equal(w.dtype, 'Int16');
  assert.deepEqual(Array.from(w.window(0, 1, 2, 2).data as Int16Array), [2, 3, 5, 6]);
});

test('map() applies per band into a new block', () => {
  const b = Block.fromArray(new Uint8Array([1, 2, 3, 4]), 2, 1, 2);
  const m = b.map((v, band) => v * 10 + band, 'Int16');
  assert.deepEqual(Array.from(m.data), [10, 20, 31, 41]);
  assert.equal(m.dtype, 'Int16');
});

test('flattenBlocks and assembleBlocks are inverses; assembleBlocks refuses duplicates, mixed kinds and gaps', async () => {
  const { assembleBlocks, flattenBlocks } = await import('../../src/block.js');
  const a = Block.create('Byte', 1, 2, 2);
  const b = Block.create('Int16', 2, 2, 2);
  const c = Block.create('Float32', 1, 2, 2);
  const assoc = { one: a, list: [b, c] };
  const flat = flattenBlocks(assoc);
  assert.deepEqual(
    flat.map((n) => [n.name, n.listIndex]),
    [
      ['one', null],
      ['list', 0],
      ['list', 1],
    ],
  );
  const back = assembleBlocks([...flat].reverse());
  assert.equal(back.one, a);
  assert.deepEqual(back.list, [b, c]);
  assert.throws(
    () =>
      assembleBlocks([
        { name: 'x', listIndex: null, block: a },
        { name: 'x', listIndex: null, block: a },
      ]),
    { code: 'PROTOCOL', message: /'x' appears twice/ },
  );
  assert.throws(
    () =>
      assembleBlocks([
        { name: 'x', listIndex: 0, block: a },
        { name: 'x', listIndex: 0, block: a },
      ]),
    { code: 'PROTOCOL', message: /'x\[0\]' appears twice/ },
  );
  assert.throws(
    () =>
      assembleBlocks([
        { name: 'x', listIndex: null, block: a },
        { name: 'x', listIndex: 1, block: a },
      ]),
    { code: 'PROTOCOL', message: /both a single block and a list/ },
  );
  assert.throws(() => assembleBlocks([{ name: 'x', listIndex: 2, block: a }]), { code: 'PROTOCOL', message: /'x' has missing blocks/ });
});

test('types riots does not handle: the error says why', () => {
  assert.throws(() => Block.fromArray(new Uint8ClampedArray(4) as never, 1, 2, 2), /unsupported array type Uint8ClampedArray/);
  assert.throws(() => new Block('CFloat32' as never, 1, 1, 1), /unknown data type CFloat32 \(complex pixels cannot pass through gdal-async/);
});

test('Int8 blocks hold Int8Array', () => {
  const b = Block.fromArray(Int8Array.from([-128, -1, 0, 127]), 1, 2, 2);
  assert.equal(b.dtype, 'Int8');
  assert.deepEqual(Array.from(b.map((v) => v - 1).data as Int8Array), [127, -2, -1, 126], 'wrapped as Int8Array stores');
});
