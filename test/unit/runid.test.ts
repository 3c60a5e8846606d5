/**
 * Run ids: unique, and carrying RIOS's jobName when one is given; the jobName control refuses
 * what would not fit the names of jobs and tasks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplierControls } from '../../src/controls.js';
import { ControlsError } from '../../src/errors.js';
import { newRunId } from '../../src/runid.js';

test('a run id is riots-<time>-<hex>, with the jobName after riots- when given, and fits ECS startedBy (36)', () => {
  assert.match(newRunId(), /^riots-[0-9a-z]+-[0-9a-f]{8}$/);
  const named = newRunId('ndvi_2024');
  assert.match(named, /^riots-ndvi_2024-[0-9a-z]+-[0-9a-f]{8}$/);
  assert.ok(newRunId('abcdefghijkl').length <= 36, newRunId('abcdefghijkl'));
  assert.notEqual(newRunId(), newRunId());
});

test('the jobName control takes letters, digits, - and _, at most 12', () => {
  assert.equal(new ApplierControls({ jobName: 'tile-T55_HFA' }).global.jobName, 'tile-T55_HFA');
  assert.equal(new ApplierControls({}).global.jobName, undefined);
  for (const bad of ['', 'has space', 'thirteen-long', 'a/b', 7]) {
    assert.throws(() => new ApplierControls({ jobName: bad as string }), ControlsError, String(bad));
  }
});
