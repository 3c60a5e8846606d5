/**
 * The error tree: context fields exist only when given (an uncaught error prints no
 * `block: undefined`), and errors survive errorToJSON / errorFromJSON with class, code, context
 * and the extra fields of SchedulerCommandError's kind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { InputError, SchedulerCommandError, UsageError, errorFromJSON, errorToJSON } from '../../src/errors.js';

test('a context field exists only when given', () => {
  const e = new InputError('boom', { file: 'a.tif' });
  assert.deepEqual(
    Object.keys(e).filter((k) => ['file', 'imageName', 'block', 'workerId', 'jobId'].includes(k)),
    ['file'],
  );
  const printed = inspect(e);
  assert.match(printed, /file: 'a\.tif'/);
  assert.doesNotMatch(printed, /undefined/);
});

test('SchedulerCommandError and UsageError are in the tree and cross a process as themselves', () => {
  const s = new SchedulerCommandError('sbatch failed: invalid partition', { exitCode: 1, stderr: 'sbatch: error', workerId: 2 });
  const back = errorFromJSON(errorToJSON(s));
  assert.ok(back instanceof SchedulerCommandError);
  assert.equal(back.code, 'SCHEDULER_COMMAND');
  assert.equal(back.workerId, 2);
  const u = errorFromJSON(errorToJSON(new UsageError('unknown option --x')));
  assert.ok(u instanceof UsageError);
  assert.equal(u.code, 'USAGE');
});
