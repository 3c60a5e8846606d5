/**
 * The container launcher's pure pieces: the env file (no value that could spill into a second
 * variable) and the bind mounts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { envFileText, mountArgs } from '../../../../src/aws/local/containers.js';

test('an env file has one K=V line per variable, values kept as they are', () => {
  assert.equal(envFileText({ A: '1', B: 'x y=z "q"', C: '' }), 'A=1\nB=x y=z "q"\nC=\n');
});

test('a value with a line break is refused: it would become a second variable', () => {
  assert.throws(() => envFileText({ A: 'ok\nRIOTS_CHANNEL_KEY=forged' }), /A has a line break/);
  assert.throws(() => envFileText({ 'A=B': 'x' }), /A=B has a line break or '='/);
});

test('mounts bind each folder at the same path, read-only unless writable', () => {
  assert.deepEqual(
    mountArgs([
      { path: '/data', writable: false },
      { path: '/out', writable: true },
    ]),
    ['-v', '/data:/data:ro', '-v', '/out:/out:rw'],
  );
  assert.deepEqual(mountArgs([]), []);
});
