/**
 * src/png.ts: the PNG structure (signature, IHDR, IDAT, IEND with their CRCs) and the pixels
 * back through inflate. (The report tests decode its PNGs in a real browser too.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32, inflateSync } from 'node:zlib';
import { encodePngRgba } from '../../src/png.js';

test('an RGBA PNG: chunks with valid CRCs, IHDR as given, rows back through inflate', () => {
  const [w, h] = [5, 3];
  const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 37) & 255);
  const png = encodePngRgba(w, h, rgba);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length;) {
    const len = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + len);
    assert.equal(png.readUInt32BE(at + 8 + len), crc32(png.subarray(at + 4, at + 8 + len)), `${type} CRC`);
    chunks.push({ type, data });
    at += 12 + len;
  }
  assert.deepEqual(
    chunks.map((c) => c.type),
    ['IHDR', 'IDAT', 'IEND'],
  );
  const ihdr = chunks[0]!.data;
  assert.deepEqual([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]], [w, h, 8, 6, 0, 0, 0]);
  const raw = inflateSync(chunks[1]!.data);
  assert.equal(raw.length, h * (w * 4 + 1));
  for (let r = 0; r < h; r++) {
    assert.equal(raw[r * (w * 4 + 1)], 0, 'filter none');
    assert.deepEqual([...raw.subarray(r * (w * 4 + 1) + 1, (r + 1) * (w * 4 + 1))], [...rgba.subarray(r * w * 4, (r + 1) * w * 4)]);
  }
  assert.throws(() => encodePngRgba(w, h, rgba.subarray(1)), /RGBA/);
});
