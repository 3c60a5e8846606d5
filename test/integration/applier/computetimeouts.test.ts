/**
 * computeBufferPopTimeout through apply(): a CW_SUBPROC worker stuck on one block fails the run
 * with a TimeoutError that names the block and the option, cleanly (no output, no worker left);
 * with the timeout null the same slow block is only slow; with CW_NONE the limit does not apply.
 * (computeBufferInsertTimeout needs a writer held up: see test/pipeline.test.ts.)
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { apply } from '../../../src/applier/apply.js';
import { TimeoutError } from '../../../src/errors.js';
import { channelFixture, type ChannelFixture, subprocControls, withEventLog } from '../../helpers/subproc.js';

let dir: string;
let inputs: { a: string; b: string };
let combine: Parameters<typeof apply>[0];
let seqBytes: Buffer;

let fx: ChannelFixture;

before(async () => {
  fx = await channelFixture('riots-ctimeout-test-', 192, 128);
  ({ dir, inputs, combine, seqBytes } = fx);
});

after(() => fx.close());

function controls(pop: number | null): Record<string, unknown> {
  // a stuck worker sends no heartbeats: loss detection is set far beyond the timeout under test
  const c = subprocControls(2, { workerLostSeconds: 60 });
  (c.concurrency as Record<string, unknown>).computeBufferPopTimeout = pop;
  return c;
}

describe('computeBufferPopTimeout', () => {
  test('CW_SUBPROC: a user function stuck on block 4 fails the run naming the block and the option; no output, no worker left', async () => {
    await withEventLog(
      async (log) => {
        const out = path.join(dir, 'stuck.tif');
        const err = await apply(combine, inputs, { out }, { controls: controls(0.5), otherArgs: { stallOnBlock: 4 } }).then(
          () => assert.fail('the run should time out'),
          (e: unknown) => e as TimeoutError,
        );
        assert.ok(err instanceof TimeoutError, String(err));
        assert.match(err.message, /waiting for the result of block 4 \(x 64\.\.127, y 64\.\.127\) from compute worker \d/);
        assert.match(err.message, /computeBufferPopTimeout/);
        assert.equal(err.block?.index, 4);
        assert.equal(err.workerId, log.of('dispatched').find((d) => d.blockIndex === 4)!.workerId);
        assert.deepEqual(
          readdirSync(dir).filter((n) => n.startsWith('stuck')),
          [],
          'no output or temporary output left',
        );
      },
      { workersStarted: true },
    );
  });

  test('CW_SUBPROC: null, the same slow block is only slow (output identical)', async () => {
    await withEventLog(
      async () => {
        const out = path.join(dir, 'slow.tif');
        await apply(combine, inputs, { out }, { controls: controls(null), otherArgs: { stallOnBlock: 4, stallMs: 1500 } });
        assert.deepEqual(readFileSync(out), seqBytes);
      },
      { workersStarted: true },
    );
  });

  test('CW_NONE: not applied, the function runs in this thread', async () => {
    const out = path.join(dir, 'none.tif');
    await apply(
      async (_info, i, o) => {
        await new Promise((r) => setTimeout(r, 50));
        o.out = i.a.clone();
      },
      { a: inputs.a },
      { out },
      { controls: { windowXSize: 64, windowYSize: 64, concurrency: { computeBufferPopTimeout: 0.001, computeBufferInsertTimeout: 0.001 } } },
    );
    assert.ok(readFileSync(out).length > 0);
  });
});
