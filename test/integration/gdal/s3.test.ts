/**
 * S3 inputs (/vsis3/bucket/key) read with GDAL's standard AWS settings from a local S3 server
 * (s3rver behind a logging proxy): by the main process, and by CW_AWSBATCH workers on the local
 * Batch endpoint with and without computeWorkersRead. The output equals the same run on local
 * files, and the server sees only ranged GETs of the objects: no whole-object download, no LIST.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { apply } from '../../../src/applier/apply.js';
import { startLocalAws, type LocalAws } from '../../../src/aws/local/server.js';
import { isNetworkPath, networkOpenOption, openWithNetworkDefaults } from '../../../src/gdal/s3.js';
import { BatchClient } from '@aws-sdk/client-batch';
import { activeJobs, batchControls, useEndpointEnv } from '../../helpers/awsbatch.js';
import { createBatchStack } from '../../helpers/localaws.js';
import { startLocalS3, type LocalS3, type S3Request } from '../../helpers/s3.js';
import { sequentialFixture } from '../../helpers/subproc.js';

const BUCKET = 'riots-in';
const BLOCKS = 25;

let dir: string;
let s3: LocalS3;
let aws: LocalAws;
let restoreEnv: () => void;
let inputs: { a: string; b: string };
let combine: Parameters<typeof apply>[0];
let seqBytes: Buffer;
const savedGdalEnv: Record<string, string | undefined> = {};

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-s3-test-'));
  ({ inputs, combine, seqBytes } = await sequentialFixture(dir, 300, 260));
  s3 = await startLocalS3([BUCKET]);
  aws = await startLocalAws({ startDelaySeconds: 1, stackDelaySeconds: 0.1, killGraceSeconds: 1 });
  restoreEnv = useEndpointEnv(aws);
  // GDAL's own S3 settings, in the environment of this process and so of the Batch jobs too
  // (the local endpoint accepts any credentials, s3rver wants its own)
  for (const [k, v] of Object.entries(s3.gdalEnv)) {
    if (k === 'AWS_REGION') continue;
    savedGdalEnv[k] = process.env[k];
    process.env[k] = v;
  }
  await createBatchStack(aws);
});

after(async () => {
  for (const [k, v] of Object.entries(savedGdalEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  restoreEnv?.();
  await aws?.close();
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Upload the inputs under a fresh prefix (GDAL caches what it read per object in a process). */
async function upload(prefix: string): Promise<{ a: string; b: string; sizes: Map<string, number> }> {
  const sizes = new Map<string, number>();
  for (const name of ['a', 'b'] as const) {
    await s3.put(BUCKET, `${prefix}/${name}.tif`, inputs[name]);
    sizes.set(`/${BUCKET}/${prefix}/${name}.tif`, statSync(inputs[name]).size);
  }
  return { a: `/vsis3/${BUCKET}/${prefix}/a.tif`, b: `/vsis3/${BUCKET}/${prefix}/b.tif`, sizes };
}

/** Every request of the run is a ranged GET of an input object, none returning the whole object. */
function assertOnlyRangedGets(log: S3Request[], sizes: Map<string, number>): void {
  assert.ok(log.length > 0, 'the inputs were read from S3');
  for (const r of log) {
    const what = JSON.stringify(r);
    assert.equal(r.method, 'GET', what);
    assert.ok(sizes.has(r.path), `only the input objects are requested (no LIST, no side-car probe): ${what}`);
    assert.match(String(r.range), /^bytes=\d+-\d+$/, `a ranged GET: ${what}`);
    assert.equal(r.status, 206, what);
    assert.ok(r.bytes < sizes.get(r.path)!, `not the whole object: ${what}`);
  }
  for (const p of sizes.keys())
    assert.ok(
      log.some((r) => r.path === p),
      `${p} was read`,
    );
}

describe('S3 inputs', () => {
  test('network paths are recognised; the open-time option is scoped to the open', async () => {
    for (const p of ['/vsis3/b/k.tif', '/vsizip//vsis3/b/k.zip/x.tif', '/vsicurl/https://h/x.tif', '/vsigs/b/x.tif', 'https://h/x.tif'])
      assert.equal(isNetworkPath(p), true, p);
    for (const p of ['/data/x.tif', '/vsimem/x.tif', 'x.tif', '/vsizip/local.zip/x.tif']) assert.equal(isNetworkPath(p), false, p);
    assert.equal(networkOpenOption('GDAL_DISABLE_READDIR_ON_OPEN'), null);
    let during: string | null = null;
    await openWithNetworkDefaults('/vsis3/b/k.tif', async () => {
      during = networkOpenOption('GDAL_DISABLE_READDIR_ON_OPEN');
      return undefined as never;
    });
    assert.equal(during, 'EMPTY_DIR');
    assert.equal(networkOpenOption('GDAL_DISABLE_READDIR_ON_OPEN'), null, 'restored after the open');
  });

  test('read by the main process (sequential): identical to local files, ranged GETs only', async () => {
    const up = await upload('seq');
    s3.log.length = 0;
    const out = path.join(dir, 'seq-s3.tif');
    await apply(combine, { a: up.a, b: up.b }, { out }, { controls: { windowXSize: 64, windowYSize: 64 } });
    assert.deepEqual(readFileSync(out), seqBytes);
    assertOnlyRangedGets(s3.log.splice(0), up.sizes);
  });

  for (const workersRead of [false, true]) {
    test(`CW_AWSBATCH, computeWorkersRead ${workersRead}: identical to local files, ranged GETs only`, async () => {
      const up = await upload(`batch-${workersRead}`);
      s3.log.length = 0;
      const out = path.join(dir, `batch-${workersRead}.tif`);
      // startupReadAheadMB 0: the main reads nothing ahead while the jobs start, so that reading
      // workers really read every block from S3
      const r = await apply(
        combine,
        { a: up.a, b: up.b },
        { out },
        { controls: batchControls(2, { startupReadAheadMB: 0 }, { computeWorkersRead: workersRead, numReadWorkers: workersRead ? 0 : 1 }) },
      );
      assert.deepEqual(readFileSync(out), seqBytes);
      const workerReads = [...r.workerTimings.values()].reduce((s, t) => s + (t.toJSON().reading?.count ?? 0), 0);
      assert.equal(workerReads, workersRead ? BLOCKS : 0, workersRead ? 'the workers read every block from S3' : 'the main read every block');
      assertOnlyRangedGets(s3.log.splice(0), up.sizes);
      const batch = new BatchClient({});
      try {
        assert.deepEqual(await activeJobs(batch, 'riosJobQueueWorker'), [], 'no job left active');
      } finally {
        batch.destroy();
      }
    });
  }
});
