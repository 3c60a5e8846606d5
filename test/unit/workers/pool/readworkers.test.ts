/**
 * numReadWorkers for compute workers that read (RIOS: read threads of each compute worker): the
 * blocks a worker may hold cover its read-ahead, and its launch environment gives libuv the
 * threads for it (a worker cannot raise UV_THREADPOOL_SIZE itself once running).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConcurrencyStyle } from '../../../../src/concurrency.js';
import { workerCredit } from '../../../../src/workers/pool/settings.js';
import { workerReadEnv } from '../../../../src/workers/pool/workerenv.js';
import type { ImageRef } from '../../../../src/reader/inputs.js';

const refs = (n: number): ImageRef[] => Array.from({ length: n }, (_, i) => ({ name: `i${i}`, listIndex: null, path: `/d/${i}.tif` }));

test('credit: tasksPerWorker, raised to numReadWorkers + 1 for workers that read', () => {
  const reading = new ConcurrencyStyle({ computeWorkerKind: 'CW_AWSBATCH', numComputeWorkers: 2, numReadWorkers: 3 });
  assert.equal(workerCredit(2, reading), 4);
  assert.equal(workerCredit(6, reading), 6);
  assert.equal(workerCredit(2, new ConcurrencyStyle({ computeWorkerKind: 'CW_ECS', numComputeWorkers: 2 })), 2);
  // the main reads for these: numReadWorkers is its read-ahead, not the workers'
  assert.equal(workerCredit(2, new ConcurrencyStyle({ computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, numReadWorkers: 5 })), 2);
});

test('launch environment: UV_THREADPOOL_SIZE for n reads of every input, never below this process', () => {
  const saved = process.env.UV_THREADPOOL_SIZE;
  try {
    delete process.env.UV_THREADPOOL_SIZE;
    const c = (numReadWorkers: number, computeWorkersRead = true): ConcurrencyStyle =>
      new ConcurrencyStyle({ computeWorkerKind: 'CW_SLURM', numComputeWorkers: 2, numReadWorkers, computeWorkersRead });
    assert.deepEqual(workerReadEnv({ concurrency: c(4), inRefs: refs(3) }), { UV_THREADPOOL_SIZE: '14' });
    assert.deepEqual(workerReadEnv({ concurrency: c(2), inRefs: refs(1) }), { UV_THREADPOOL_SIZE: '4' });
    assert.deepEqual(workerReadEnv({ concurrency: c(1), inRefs: refs(3) }), {}, 'one read at a time needs nothing');
    assert.deepEqual(workerReadEnv({ concurrency: c(3, false), inRefs: refs(3) }), {}, 'workers that do not read');
    process.env.UV_THREADPOOL_SIZE = '32';
    assert.deepEqual(workerReadEnv({ concurrency: c(4), inRefs: refs(3) }), { UV_THREADPOOL_SIZE: '32' });
  } finally {
    if (saved === undefined) delete process.env.UV_THREADPOOL_SIZE;
    else process.env.UV_THREADPOOL_SIZE = saved;
  }
});
