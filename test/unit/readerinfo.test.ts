/**
 * ReaderInfo as RIOS defines it: the current block's (x, y) index, the totals per axis, RIOS's
 * integer percentage, [null, null] for a point outside the current block, and nodata cast to
 * the block's data type. Expected values come from the block walk itself (row-major blocks of
 * the window size), not from riots' own helpers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Block } from '../../src/block.js';
import { ReaderInfo, type InfoContext } from '../../src/readerinfo.js';

// 250 x 130 pixels of 10 m, windows of 100 x 50: 3 x 3 blocks, the last ones partial
const ctx: InfoContext = { projection: '', transform: [1000, 10, 0, 5000, 0, -10], cols: 250, rows: 130, windowXSize: 100, windowYSize: 50, overlap: 2 };

function at(index: number): ReaderInfo {
  const info = new ReaderInfo(ctx);
  const xb = index % 3;
  const yb = Math.floor(index / 3);
  info.setBlock({ index, xoff: xb * 100, yoff: yb * 50, xsize: Math.min(100, 250 - xb * 100), ysize: Math.min(50, 130 - yb * 50) });
  return info;
}

test('getBlockCount is the current block (x, y); getTotalBlocks the blocks per axis; getBlockTotal all of them', () => {
  for (let i = 0; i < 9; i++) {
    const info = at(i);
    assert.deepEqual(info.getBlockCount(), [i % 3, Math.floor(i / 3)], `block ${i}`);
    assert.deepEqual(info.getBlockPosition(), info.getBlockCount());
    assert.deepEqual(info.getTotalBlocks(), [3, 3]);
    assert.equal(info.getBlockTotal(), 9);
    assert.deepEqual(info.getPixelSize(), [10, 10], 'positive, as RIOS gives xRes and yRes');
  }
});

test("getPercent is RIOS's whole percent of the blocks before this one", () => {
  assert.deepEqual(
    Array.from({ length: 9 }, (_, i) => at(i).getPercent()),
    [0, 11, 22, 33, 44, 55, 66, 77, 88],
  );
});

test('getPixRowColBlock: the pixel in the block arrays (margins included), [null, null] outside the block', () => {
  const info = at(4); // x block 1, y block 1: pixels cols 100..199, rows 50..99, arrays 104 x 54 with the margins
  const world = (col: number, row: number): [number, number] => [1000 + (col + 0.5) * 10, 5000 - (row + 0.5) * 10];
  assert.deepEqual(info.getPixRowColBlock(...world(100, 50)), [2, 2], 'the first core pixel, after the margin');
  assert.deepEqual(info.getPixRowColBlock(...world(98, 48)), [0, 0], 'the first margin pixel');
  assert.deepEqual(info.getPixRowColBlock(...world(201, 101)), [53, 103], 'the last margin pixel');
  assert.deepEqual(info.getPixRowColBlock(...world(202, 60)), [null, null], 'past the right margin');
  assert.deepEqual(info.getPixRowColBlock(...world(150, 47)), [null, null], 'above the top margin');
  assert.deepEqual(info.getPixRowColBlock(...world(97, 60)), [null, null], 'left of the left margin');
});

test("getNoDataValueFor casts the nodata to the block's data type, as RIOS does", () => {
  const info = at(0);
  const cases: [Block['dtype'], number, number][] = [
    ['Int16', 7.6, 7],
    ['Int16', -7.6, -7],
    ['Byte', 255.9, 255],
    ['Float32', 0.1, Math.fround(0.1)],
    ['Float64', 0.1, 0.1],
    ['UInt32', 4e9, 4e9],
  ];
  for (const [dtype, nodata, expected] of cases) {
    const b = Block.create(dtype, 2, 1, 1);
    info.registerBlock(b, { imageName: 'x', listIndex: null, filename: '/x.tif', nodata: [nodata, null] });
    assert.equal(info.getNoDataValueFor(b), expected, `${dtype} ${nodata}`);
    assert.equal(info.getNoDataValueFor(b, 2), null);
  }
  assert.notEqual(Math.fround(0.1), 0.1, 'float32(0.1) is not the double 0.1');
});
