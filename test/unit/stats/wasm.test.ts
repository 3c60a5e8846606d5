/**
 * The WebAssembly encoding the kernels are written with (src/stats/wasm.ts): LEB128 numbers,
 * and a module of several functions that the engine accepts and runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileModule, instantiate, leb, moduleBytes, op, sleb, type } from '../../../src/stats/wasm.js';

/** Decode LEB128 (signed or not) the way the WebAssembly specification reads it. */
function decode(bytes: number[], signed: boolean): number {
  let value = 0n;
  let shift = 0n;
  let byte = 0;
  for (const b of bytes) {
    byte = b;
    value |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) break;
  }
  if (signed && byte & 0x40) value -= 1n << shift;
  return Number(value);
}

test('LEB128: unsigned and signed numbers decode to themselves, in as few bytes as they need', () => {
  for (const n of [0, 1, 63, 64, 127, 128, 16383, 16384, 65536, 2 ** 31 - 1]) {
    assert.equal(decode(leb(n), false), n, `leb(${n})`);
    assert.equal(leb(n).length, Math.max(1, Math.ceil(Math.log2(n + 1) / 7)), `leb(${n}) length`);
  }
  for (const n of [0, 1, 63, 64, -1, -64, -65, 127, 128, 65536, -123456, 2 ** 31 - 1, -(2 ** 31)]) {
    assert.equal(decode(sleb(n), true), n, `sleb(${n})`);
  }
  assert.deepEqual(sleb(64), [0xc0, 0x00], '64 needs a second byte signed (0x40 alone is −64)');
  assert.deepEqual(sleb(-1), [0x7f]);
});

test('a module of two functions of different types and a shared one compiles and runs', () => {
  const { localGet: get } = op;
  const add = { name: 'add', params: [type.i32, type.i32], results: [type.i32], locals: [], code: [get, 0, get, 1, op.i32Add] };
  const shl = { name: 'shl', params: [type.i32, type.i32], results: [type.i32], locals: [], code: [get, 0, get, 1, op.i32Shl] };
  const big = { name: 'big', params: [], results: [type.i32], locals: [[1, type.i32]] as [number, number][], code: [op.i32Const, ...sleb(70000)] };
  const mod = compileModule(moduleBytes(1, [add, shl, big]));
  assert.ok(mod, 'the module compiles');
  const ex = instantiate<{ add: (a: number, b: number) => number; shl: (a: number, b: number) => number; big: () => number }>(mod);
  assert.equal(ex.add(2, 40), 42);
  assert.equal(ex.shl(3, 4), 48);
  assert.equal(ex.big(), 70000);
  assert.equal(ex.mem.buffer.byteLength, 65536);
  assert.equal(compileModule(new Uint8Array([0, 0x61, 0x73, 0x6d, 9, 0, 0, 0])), null, 'not a module: null, not a throw');
});
