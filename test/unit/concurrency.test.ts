/**
 * ConcurrencyStyle: defaults per kind as in RIOS, and what RIOS refuses refused at construction
 * with a message that says why (the differential suite checks the same cases against RIOS).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { ConcurrencyStyle, ControlsError, type ConcurrencyStyleInit } from '../../src/index.js';

const bad = (init: unknown, re: RegExp): void =>
  assert.throws(
    () => new ConcurrencyStyle(init as ConcurrencyStyleInit),
    (e: unknown) => e instanceof ControlsError && re.test(e.message),
    JSON.stringify(init),
  );

describe('ConcurrencyStyle', () => {
  test('defaults: no workers, RIOS timeouts', () => {
    const c = new ConcurrencyStyle();
    assert.equal(c.computeWorkerKind, 'CW_NONE');
    assert.equal(c.numReadWorkers, 0);
    assert.equal(c.numComputeWorkers, 0);
    assert.equal(c.usesComputeWorkers, false);
    assert.equal(c.computeWorkersRead, false);
    assert.deepEqual(
      [c.readBufferInsertTimeout, c.readBufferPopTimeout, c.computeBufferInsertTimeout, c.computeBufferPopTimeout, c.computeBarrierTimeout],
      [10, 10, 10, 20, 600],
    );
    assert.ok(Object.isFrozen(c));
  });

  test('computeWorkersRead defaults: false for threads and subproc, true for the remote kinds', () => {
    assert.equal(new ConcurrencyStyle({ computeWorkerKind: 'CW_THREADS', numComputeWorkers: 1, numReadWorkers: 1 }).computeWorkersRead, false);
    assert.equal(new ConcurrencyStyle({ computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, numReadWorkers: 1 }).computeWorkersRead, false);
    for (const kind of ['CW_AWSBATCH', 'CW_ECS', 'CW_SLURM', 'CW_PBS'] as const) {
      assert.equal(new ConcurrencyStyle({ computeWorkerKind: kind, numComputeWorkers: 3 }).computeWorkersRead, true, kind);
    }
    assert.equal(new ConcurrencyStyle({ computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, computeWorkersRead: true }).computeWorkersRead, true);
  });

  test('timeouts: seconds or null for none', () => {
    const c = new ConcurrencyStyle({ readBufferPopTimeout: null, computeBarrierTimeout: 5.5 });
    assert.equal(c.readBufferPopTimeout, null);
    assert.equal(c.computeBarrierTimeout, 5.5);
    bad({ computeBufferPopTimeout: 0 }, /computeBufferPopTimeout must be a positive number of seconds or null/);
    bad({ readBufferInsertTimeout: '10' }, /readBufferInsertTimeout must be a positive number/);
  });

  // RIOS's ConcurrencyStyle (rios/structures.py) refuses these; riots refuses them too, in its own words
  test('combinations RIOS refuses are errors', () => {
    bad({ numComputeWorkers: 2 }, /compute workers need a computeWorkerKind other than CW_NONE/);
    bad({ computeWorkerKind: 'CW_THREADS', numComputeWorkers: 1, numReadWorkers: 1, computeWorkersRead: true }, /CW_THREADS workers cannot read/);
    bad({ computeWorkerKind: 'CW_THREADS', numComputeWorkers: os.availableParallelism() + 1, numReadWorkers: 1 }, /more than the \d+ CPUs for CW_THREADS/);
    bad(
      { computeWorkerKind: 'CW_SUBPROC', singleBlockComputeWorkers: true, numComputeWorkers: 2 },
      /singleBlockComputeWorkers .* do not also give numComputeWorkers/,
    );
    bad({ computeWorkerKind: 'CW_THREADS', singleBlockComputeWorkers: true }, /not CW_THREADS/);
    // no default worker count: a kind without numComputeWorkers is refused, as RIOS refuses it
    bad({ computeWorkerKind: 'CW_THREADS' }, /CW_THREADS needs numComputeWorkers >= 1/);
    bad({ computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 0, numReadWorkers: 1 }, /needs numComputeWorkers >= 1/);
    // compute workers that do not read need the main to read ahead for them
    bad(
      { computeWorkerKind: 'CW_THREADS', numComputeWorkers: 2 },
      /2 compute worker\(s\) that do not read, with numReadWorkers 0: .* give numReadWorkers >= 1/,
    );
    bad({ computeWorkerKind: 'CW_SLURM', numComputeWorkers: 2, computeWorkersRead: false }, /do not read, with numReadWorkers 0/);
    bad({ computeWorkerKind: 'CW_SUBPROC', singleBlockComputeWorkers: true, numReadWorkers: 1 }, /singleBlockComputeWorkers needs numReadWorkers 0/);
    bad({ computeWorkerKind: 'CW_SLURM', singleBlockComputeWorkers: true, numReadWorkers: 2 }, /singleBlockComputeWorkers needs numReadWorkers 0/);
    bad({ computeWorkerKind: 'CW_AWSBATCH', singleBlockComputeWorkers: true }, /CW_AWSBATCH workers are not for singleBlockComputeWorkers/);
    // riots' own: a setting that would do nothing
    bad({ computeWorkersRead: true }, /computeWorkersRead needs compute workers/);
    bad({ computeWorkerKind: 'CW_MAGIC' }, /computeWorkerKind must be one of CW_NONE, CW_THREADS/);
    bad({ numReadWorkers: -1 }, /numReadWorkers must be a non-negative integer/);
    bad({ numReadWorkers: 1.5 }, /numReadWorkers must be a non-negative integer/);
  });

  test('combinations RIOS accepts are accepted, reading workers with read threads of their own among them', () => {
    const ok: ConcurrencyStyleInit[] = [
      { numReadWorkers: 3 },
      { computeWorkerKind: 'CW_THREADS', numComputeWorkers: 1, numReadWorkers: 1 },
      { computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, numReadWorkers: 2 },
      { computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, computeWorkersRead: true },
      { computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, computeWorkersRead: true, numReadWorkers: 2 },
      { computeWorkerKind: 'CW_AWSBATCH', numComputeWorkers: 2, numReadWorkers: 1 },
      { computeWorkerKind: 'CW_ECS', numComputeWorkers: 3, numReadWorkers: 4 },
      { computeWorkerKind: 'CW_SLURM', singleBlockComputeWorkers: true },
      { computeWorkerKind: 'CW_PBS', numComputeWorkers: 2, computeWorkersRead: false, numReadWorkers: 1 },
    ];
    for (const init of ok) {
      const c = new ConcurrencyStyle(init);
      assert.equal(c.numReadWorkers, init.numReadWorkers ?? 0, JSON.stringify(init));
      assert.equal(c.numComputeWorkers, init.numComputeWorkers ?? 0, JSON.stringify(init));
    }
  });

  test('unknown settings and wrong types are errors, with a suggestion for typos', () => {
    bad(
      { numComputeWorker: 2 },
      /concurrency\.numComputeWorker is not a setting of concurrency \(did you mean numComputeWorkers\?\); its settings: numReadWorkers, /,
    );
    bad({ computeworkerkind: 'CW_THREADS' }, /did you mean computeWorkerKind\?/);
    bad({ haveSharedTemp: 'yes' }, /haveSharedTemp must be true or false/);
    bad({ computeWorkerKind: 'CW_SLURM', numComputeWorkers: 2, computeWorkerExtraParams: ['--mem=1G'] }, /computeWorkerExtraParams must be an object/);
    bad([], /concurrency must be an object/);
  });

  test('singleBlockComputeWorkers with a process kind; extra params kept, frozen', () => {
    const c = new ConcurrencyStyle({ computeWorkerKind: 'CW_SLURM', singleBlockComputeWorkers: true, computeWorkerExtraParams: { partition: 'short' } });
    assert.equal(c.numComputeWorkers, 0);
    assert.equal(c.singleBlockComputeWorkers, true);
    assert.deepEqual(c.computeWorkerExtraParams, { partition: 'short' });
    assert.ok(Object.isFrozen(c.computeWorkerExtraParams));
    assert.equal(ConcurrencyStyle.from(c), c);
  });
});
