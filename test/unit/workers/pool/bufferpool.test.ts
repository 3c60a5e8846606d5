/**
 * BufferPool (src/bufferpool.ts) and the frame parser's payload allocator: a buffer is reused only
 * after it was given back, never handed to two holders at once, and foreign or repeated gives
 * are ignored.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BufferPool } from '../../../../src/workers/pool/bufferpool.js';
import { encodeFrame, FrameParser } from '../../../../src/workers/channel/framing.js';
import { ProtocolError } from '../../../../src/errors.js';

describe('BufferPool', () => {
  test('a given-back buffer is reused for the same size only, once', () => {
    const pool = new BufferPool(1 << 20);
    const a = pool.take(8192);
    assert.equal(a.byteLength, 8192);
    const b = pool.take(8192);
    assert.notEqual(a, b);
    pool.give(a);
    assert.notEqual(pool.take(16384), a, 'another size gets a new buffer');
    assert.equal(pool.take(8192), a, 'the same size gets the given-back buffer');
    assert.notEqual(pool.take(8192), a, 'and only once');
    assert.deepEqual(pool.stats, { taken: 5, reused: 1, given: 1 });
  });

  test('a buffer given back twice, or one the pool never handed out, is ignored', () => {
    const pool = new BufferPool(1 << 20);
    const a = pool.take(8192);
    pool.give(a);
    pool.give(a);
    pool.give(new ArrayBuffer(8192));
    pool.give(Buffer.allocUnsafeSlow(8192).buffer);
    assert.equal(pool.held, 8192);
    const x = pool.take(8192);
    const y = pool.take(8192);
    assert.equal(x, a);
    assert.notEqual(y, a, 'the buffer was not kept twice: two holders never share it');
  });

  test('small buffers are not kept; the free bytes stay under the cap', () => {
    const pool = new BufferPool(3 * 8192);
    const small = pool.take(100);
    pool.give(small);
    assert.equal(pool.held, 0);
    const bufs = Array.from({ length: 5 }, () => pool.take(8192));
    for (const b of bufs) pool.give(b);
    assert.equal(pool.held, 3 * 8192);
    assert.equal(pool.stats.given, 3);
  });

  test('a transferred (detached) buffer is ignored', () => {
    const pool = new BufferPool(1 << 20);
    const a = pool.take(8192);
    structuredClone(a, { transfer: [a] });
    assert.equal(a.byteLength, 0);
    pool.give(a);
    assert.equal(pool.held, 0);
  });
});

describe('FrameParser with a payload allocator', () => {
  test('payloads are received into the allocated buffers, each owning its whole buffer', () => {
    const pool = new BufferPool(1 << 20);
    const given: ArrayBuffer[] = [];
    const parser = new FrameParser({}, undefined, (n) => {
      const b = pool.take(n);
      given.push(b);
      return b;
    });
    const p1 = Buffer.alloc(10000, 7);
    const p2 = Buffer.alloc(5000, 9);
    const bytes = Buffer.concat(encodeFrame({ type: 'x' }, [p1, p2, Buffer.alloc(0)]));
    const frames = [];
    // fed in small pieces, as a socket would
    for (let i = 0; i < bytes.length; i += 777) frames.push(...parser.push(bytes.subarray(i, i + 777)));
    assert.equal(frames.length, 1);
    const [q1, q2, q3] = frames[0]!.payloads;
    assert.deepEqual(q1, p1);
    assert.deepEqual(q2, p2);
    assert.equal(q3!.length, 0);
    assert.equal(given.length, 2, 'the empty payload takes nothing');
    assert.equal(q1.buffer, given[0]);
    assert.equal(q2.buffer, given[1]);
    assert.ok(q1.byteOffset === 0 && q1.byteLength === q1.buffer.byteLength);
  });

  test('an allocator that returns the wrong length fails the frame', () => {
    const parser = new FrameParser({}, undefined, (n) => new ArrayBuffer(n + 1));
    const bytes = Buffer.concat(encodeFrame({ type: 'x' }, [Buffer.alloc(100)]));
    assert.throws(
      () => [...parser.push(bytes)],
      (e: unknown) => e instanceof ProtocolError && /allocator returned 101 bytes for a payload of 100/.test(e.message),
    );
  });
});
