/**
 * Read workers inside a reading compute worker (RIOS: `numReadWorkers` threads for each compute
 * worker that reads): counted at an HTTP server behind /vsicurl/, where each block read is one
 * tile request made by the worker process itself. With numReadWorkers 3 one worker has three
 * reads in flight at once; with 0 it reads one block at a time. Outputs equal the file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apply } from '../../../../src/index.js';
import { py } from '../../../helpers/py.js';
import { makeTiledFixture, startRangeServer } from '../../../helpers/rangeserver.js';

let dir: string;
let tileDataOffset = 0;
const f = (name: string): string => path.join(dir, name);
const copyA = { module: new URL('../../../helpers/userfns.ts', import.meta.url).href, name: 'copyA' };

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-workerreads-'));
  // uncompressed 256x256 tiles: each block read over /vsicurl/ is one HTTP range request
  tileDataOffset = makeTiledFixture(f('tiles.tif'));
  // no directory listing or sidecar probes on the test server (the workers inherit it)
  process.env.GDAL_DISABLE_READDIR_ON_OPEN = 'EMPTY_DIR';
});
after(() => {
  delete process.env.GDAL_DISABLE_READDIR_ON_OPEN;
  rmSync(dir, { recursive: true, force: true });
});

/** One CW_SUBPROC worker that reads its own blocks; the main reads none (no start-up read-ahead). */
function controls(numReadWorkers: number): Record<string, unknown> {
  return {
    calcStats: false,
    windowXSize: 256,
    windowYSize: 256,
    concurrency: {
      computeWorkerKind: 'CW_SUBPROC',
      numComputeWorkers: 1,
      computeWorkersRead: true,
      numReadWorkers,
      computeBarrierTimeout: 60,
      computeWorkerExtraParams: { startupReadAheadMB: 0, workerLostSeconds: 60 },
    },
  };
}

function sameAsFile(out: string): boolean {
  return py<boolean>(
    `
x = gdal.Open(args['x']); y = gdal.Open(args['y'])
out(bool((x.ReadAsArray() == y.ReadAsArray()).all()))
`,
    { x: f('tiles.tif'), y: out },
  );
}

describe('numReadWorkers in a compute worker that reads', () => {
  test('numReadWorkers 3: the worker has three block reads in flight at once; output equals the file', async () => {
    const server = await startRangeServer(f('tiles.tif'), tileDataOffset);
    try {
      // nothing is answered until three reads are in flight at once
      const { opened } = await server.barrier(3, 30_000);
      const [r] = await Promise.all([apply(copyA, { a: `/vsicurl/${server.url}` }, { out: f('ahead3.tif') }, { controls: controls(3) }), opened]);
      assert.equal(r.blocks, 6);
      const s = await server.stats();
      assert.equal(s.maxInFlight, 3, 'three reads in flight at once, none more');
      assert.equal(sameAsFile(f('ahead3.tif')), true);
    } finally {
      await server.close();
    }
  });

  test('numReadWorkers 0: the worker reads one block at a time; output equals the file', async () => {
    const server = await startRangeServer(f('tiles.tif'), tileDataOffset);
    try {
      // each answer 100 ms late, so that reads that could overlap would be seen overlapping
      await server.delay(100);
      const r = await apply(copyA, { a: `/vsicurl/${server.url}` }, { out: f('ahead0.tif') }, { controls: controls(0) });
      assert.equal(r.blocks, 6);
      const s = await server.stats();
      // (GDAL's read-ahead may merge the requests of neighbouring tiles read in turn: their number is not asserted)
      assert.equal(s.maxInFlight, 1, 'one read at a time');
      assert.equal(sameAsFile(f('ahead0.tif')), true);
    } finally {
      await server.close();
    }
  });
});
