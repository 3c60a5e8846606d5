/**
 * runPipeline's buffer timeouts, with a scripted backend, reader and writer: what each one
 * counts (readBufferPopTimeout from when the block is next in line; computeBufferPopTimeout from
 * the hand-over of the block the writer waits for; computeBufferInsertTimeout while the writer
 * is writing), what it does not count, and that the
 * error names the block and the option. Events are ordered with promises and event-loop turns; the only waits on the
 * clock are runs that must outlive a timeout that does not apply.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BlockAssociations } from '../../../src/block.js';
import type { ComputeBackend, DispatchHook } from '../../../src/workers/backend.js';
import { runPipeline, type PipelineOptions } from '../../../src/applier/pipeline.js';
import { Timings } from '../../../src/timings.js';
import { TimeoutError, type BlockCoords } from '../../../src/errors.js';

const coords = (index: number): BlockCoords => ({ index, xoff: index * 64, yoff: 0, xsize: 64, ysize: 64 });
const blocks = (n: number): BlockCoords[] => Array.from({ length: n }, (_, i) => coords(i));

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A backend whose blocks are handed out and answered when the test says (or at once, by default). */
class ScriptedBackend implements ComputeBackend {
  readonly capacity: number;
  readonly calls = new Map<number, { onDispatch: DispatchHook | undefined; resolve: (v: BlockAssociations) => void; settled: boolean }>();
  private readonly held: Set<number>;
  private readonly waiters = new Map<number, () => void>();

  constructor(capacity: number, held: number[] = []) {
    this.capacity = capacity;
    this.held = new Set(held);
  }
  async start(): Promise<void> {}
  compute(c: BlockCoords, _inputs: BlockAssociations | undefined, onDispatch?: DispatchHook): Promise<BlockAssociations> {
    return new Promise((resolve) => {
      const call = { onDispatch, settled: false, resolve: (v: BlockAssociations) => ((call.settled = true), resolve(v)) };
      this.calls.set(c.index, call);
      this.waiters.get(c.index)?.();
      if (!this.held.has(c.index)) {
        onDispatch?.(0);
        call.resolve({});
      }
    });
  }
  /** Resolves once compute() was called for block `i`. */
  called(i: number): Promise<void> {
    if (this.calls.has(i)) return Promise.resolve();
    return new Promise((r) => this.waiters.set(i, r));
  }
  dispatch(i: number, workerId: number): void {
    this.calls.get(i)!.onDispatch?.(workerId);
  }
  answer(i: number): void {
    this.calls.get(i)!.resolve({});
  }
  async finish(): Promise<{ otherArgsList: unknown[]; workerTimings: Map<number, Timings> }> {
    return { otherArgsList: [], workerTimings: new Map() };
  }
  async destroy(): Promise<void> {}
}

function options(
  backend: ComputeBackend,
  n: number,
  more: Partial<PipelineOptions> & { pop?: number | null; insert?: number | null; readPop?: number | null },
): PipelineOptions {
  return {
    blocks: blocks(n),
    readAhead: 1,
    read: async () => ({}),
    backend,
    write: async () => undefined,
    timings: new Timings(),
    ...more,
    timeouts: {
      readBufferInsert: 10,
      readBufferPop: more.readPop === undefined ? 10 : more.readPop,
      computeBufferInsert: more.insert ?? null,
      computeBufferPop: more.pop ?? null,
    },
  };
}

/** Only for runs that must outlive a timeout that does not apply: never to order events. */
const afterMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Let the pipeline do everything it can do now. With in-memory reads and a scripted backend
 * every step it takes is a promise continuation, so a few turns of the event loop run them all:
 * this orders by events, not by the clock.
 */
async function idle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

describe('readBufferPopTimeout', () => {
  test('counted from when the block is next in line, not while its read waits behind earlier reads on its set', async () => {
    // 8 reads start at once and finish one after another, 50 ms apart (as on one handle set):
    // block 7's read takes 400 ms from its start, but only ~50 ms once block 6 has gone to compute
    let chain = Promise.resolve();
    const read = (): Promise<BlockAssociations> => {
      chain = chain.then(() => afterMs(50));
      return chain.then(() => ({}));
    };
    const written: number[] = [];
    await runPipeline(options(new ScriptedBackend(1), 8, { readAhead: 8, read, readPop: 0.3, write: async (c) => void written.push(c.index) }));
    assert.deepEqual(written, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('a read that does not come once its block is next: TimeoutError naming the block and the option', async () => {
    const read = (c: BlockCoords): Promise<BlockAssociations> => (c.index === 1 ? new Promise(() => undefined) : Promise.resolve({}));
    const written: number[] = [];
    const err = await runPipeline(
      options(new ScriptedBackend(1), 3, { readAhead: 2, read, readPop: 0.1, write: async (c) => void written.push(c.index) }),
    ).then(
      () => assert.fail('the pipeline should time out'),
      (e: unknown) => e as TimeoutError,
    );
    assert.ok(err instanceof TimeoutError, String(err));
    assert.match(err.message, /timed out after 0\.1 s waiting for the read of block 1 \(x 64\.\.127, y 0\.\.63\) \(readBufferPopTimeout\)/);
    assert.deepEqual(written, [0]);
  });

  test('the first timeout ends the run: the blocks queued behind it do not each wait out theirs', async () => {
    // every read hangs (a network gone): five blocks in flight, each would count 1 s once next in line
    const read = (): Promise<BlockAssociations> => new Promise(() => undefined);
    const t0 = performance.now();
    const err = await runPipeline(options(new ScriptedBackend(1), 5, { readAhead: 5, read, readPop: 1 })).then(
      () => assert.fail('the pipeline should time out'),
      (e: unknown) => e as TimeoutError,
    );
    const secs = (performance.now() - t0) / 1000;
    assert.match(err.message, /waiting for the read of block 0 /);
    assert.ok(secs < 2.5, `the run failed after ${secs.toFixed(2)} s: one timeout, not one per block (5 s)`);
  });
});

describe('computeBufferPopTimeout', () => {
  test('a block handed to a worker whose result does not come: TimeoutError naming the block, the worker and the option; the stalled compute does not hold the pipeline', async () => {
    const backend = new ScriptedBackend(2, [1]);
    const written: number[] = [];
    const p = runPipeline(options(backend, 4, { pop: 0.2, write: async (c) => void written.push(c.index) }));
    await backend.called(1);
    backend.dispatch(1, 7);
    const err = await p.then(
      () => assert.fail('the pipeline should time out'),
      (e: unknown) => e as TimeoutError,
    );
    assert.ok(err instanceof TimeoutError, String(err));
    assert.match(err.message, /timed out after 0\.2 s waiting for the result of block 1 \(x 64\.\.127, y 0\.\.63\) from compute worker 7/);
    assert.match(err.message, /computeBufferPopTimeout/);
    assert.equal(err.block?.index, 1);
    assert.equal(err.workerId, 7);
    assert.deepEqual(written, [0]);
    assert.equal(backend.calls.get(1)!.settled, false, 'rejected while the compute was still running');
  });

  test('the wait for a worker before the block is handed out is not counted', async () => {
    const backend = new ScriptedBackend(2, [0]);
    const written: number[] = [];
    const p = runPipeline(options(backend, 3, { pop: 0.1, write: async (c) => void written.push(c.index) }));
    await backend.called(0);
    await afterMs(400); // no worker yet: four times the timeout
    backend.dispatch(0, 1);
    backend.answer(0);
    await p;
    assert.deepEqual(written, [0, 1, 2]);
  });

  test('null: no limit', async () => {
    const backend = new ScriptedBackend(1, [0]);
    const p = runPipeline(options(backend, 2, { pop: null }));
    await backend.called(0);
    backend.dispatch(0, 0);
    await afterMs(300);
    backend.answer(0);
    await p;
  });
});

describe('computeBufferInsertTimeout', () => {
  test('the writer stuck on a block while the buffer is full: TimeoutError naming both blocks and the option; the write is told and awaited', async () => {
    const backend = new ScriptedBackend(1);
    let writeSettled = false;
    let aborted: unknown;
    const write = async (c: BlockCoords, _o: BlockAssociations, signal: AbortSignal): Promise<void> => {
      if (c.index !== 0) return;
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      aborted = signal.reason;
      writeSettled = true;
    };
    // readAhead 1 + capacity 1 + 1: blocks 0..2 fill the buffer, block 3 waits for room
    const err = await runPipeline(options(backend, 6, { insert: 0.2, write })).then(
      () => assert.fail('the pipeline should time out'),
      (e: unknown) => e as TimeoutError,
    );
    assert.ok(writeSettled, 'the pipeline rejected only after the write settled');
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(aborted, err, "the write's signal carries the error");
    assert.match(err.message, /timed out after 0\.2 s waiting for room to start block 3 \(x 192\.\.255, y 0\.\.63\)/);
    assert.match(err.message, /writing block 0 \(x 0\.\.63/);
    assert.match(err.message, /computeBufferInsertTimeout/);
    assert.equal(err.block?.index, 3);
  });

  test('not counted while the writer waits for a result (that is computeBufferPopTimeout)', async () => {
    const backend = new ScriptedBackend(1, [0]);
    const written: number[] = [];
    const gate = deferred();
    const p = runPipeline(options(backend, 6, { insert: 0.1, write: async (c) => void written.push(c.index) }));
    await backend.called(0);
    backend.dispatch(0, 0);
    void afterMs(400).then(gate.resolve); // the buffer stays full four times the timeout
    await gate.promise;
    backend.answer(0);
    await p;
    assert.deepEqual(written, [0, 1, 2, 3, 4, 5]);
  });

  test('null: a slow write is only slow', async () => {
    const backend = new ScriptedBackend(1);
    const written: number[] = [];
    await runPipeline(
      options(backend, 5, {
        insert: null,
        write: async (c) => {
          if (c.index === 0) await afterMs(300);
          written.push(c.index);
        },
      }),
    );
    assert.deepEqual(written, [0, 1, 2, 3, 4]);
  });
});

describe('memory', () => {
  test('a written block is no longer reachable from the pipeline: its outputs are collected while later blocks run', async () => {
    // gc() on demand, for this test only
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const n = 40;
    const refs: WeakRef<object>[] = [];
    let collectedEarly = -1;
    const backend: ComputeBackend = {
      capacity: 2,
      start: async () => undefined,
      compute: async (c, _inputs, onDispatch) => {
        onDispatch?.(0);
        const out = { o: { big: new Float64Array(1 << 16) } } as unknown as BlockAssociations;
        refs[c.index] = new WeakRef(out);
        return out;
      },
      finish: async () => ({ otherArgsList: [], workerTimings: new Map() }),
      destroy: async () => undefined,
    };
    await runPipeline(
      options(backend, n, {
        pop: 20,
        insert: 10,
        write: async (c) => {
          if (c.index === n - 1) {
            // the last write: the first blocks were written long ago
            await afterMs(0);
            gc();
            collectedEarly = refs.slice(0, 10).filter((r) => r.deref() === undefined).length;
          }
        },
      }),
    );
    assert.equal(collectedEarly, 10, `outputs of written blocks still reachable: ${10 - collectedEarly} of the first 10`);
  });
});

describe('read-ahead while workers start', () => {
  /** Holds every block until released; records what compute() got and how many were unanswered at once. */
  class HoldingBackend implements ComputeBackend {
    readonly capacity = 2;
    readonly got: { index: number; withInputs: boolean; outstanding: number }[] = [];
    private readonly pending = new Map<number, (v: BlockAssociations) => void>();
    answerAll = false;
    private readonly countWaiters: { n: number; resolve: () => void }[] = [];
    async start(): Promise<void> {}
    private computing = 0;
    /** Resolves once compute() has been called `n` times. */
    computed(n: number): Promise<void> {
      if (this.got.length >= n) return Promise.resolve();
      return new Promise((resolve) => this.countWaiters.push({ n, resolve }));
    }
    compute(c: BlockCoords, inputs: BlockAssociations | undefined, onDispatch?: DispatchHook): Promise<BlockAssociations> {
      this.computing++;
      this.got.push({ index: c.index, withInputs: inputs !== undefined, outstanding: this.computing });
      for (const w of this.countWaiters.filter((x) => x.n <= this.got.length)) w.resolve();
      onDispatch?.(0);
      const p = this.answerAll
        ? new Promise<BlockAssociations>((r) => setImmediate(() => r({})))
        : new Promise<BlockAssociations>((r) => this.pending.set(c.index, r));
      return p.finally(() => this.computing--);
    }
    release(): void {
      this.answerAll = true;
      for (const [i, r] of this.pending) {
        this.pending.delete(i);
        r({});
      }
    }
    async finish(): Promise<{ otherArgsList: unknown[]; workerTimings: Map<number, Timings> }> {
      return { otherArgsList: [], workerTimings: new Map() };
    }
    async destroy(): Promise<void> {}
  }

  test('extra blocks are read in this process until the first worker is ready, then the room is taken back', async () => {
    const backend = new HoldingBackend();
    const ready = deferred();
    const startupReads: number[] = [];
    const written: number[] = [];
    const run = runPipeline(
      options(backend, 40, {
        read: undefined, // workers read their own inputs
        startup: { extraBlocks: 10, until: ready.promise, read: async (c) => (startupReads.push(c.index), {}) },
        write: async (c) => void written.push(c.index),
      }),
    );
    await backend.computed(12);
    await idle();
    // room between read and write: readAhead 1 + capacity 2 + 1, plus the 10 extra
    assert.deepEqual(
      startupReads,
      Array.from({ length: 14 }, (_, i) => i),
    );
    // computes in flight: capacity 2 plus the 10 extra, each with the inputs read here
    assert.equal(backend.got.length, 12);
    assert.ok(backend.got.every((g) => g.withInputs));
    assert.deepEqual(written, []);

    ready.resolve();
    await idle();
    assert.equal(startupReads.length, 14, 'nothing more is read here once a worker is ready');
    backend.release();
    await run;
    assert.deepEqual(
      written,
      Array.from({ length: 40 }, (_, i) => i),
    );
    // blocks 12 and 13 were read before the worker was ready and keep their inputs; the rest do not
    assert.deepEqual(
      backend.got.filter((g) => g.withInputs).map((g) => g.index),
      Array.from({ length: 14 }, (_, i) => i),
    );
    // once the extra room is paid back, never more than the capacity is computing at once
    const late = backend.got.filter((g) => g.index >= 26);
    assert.ok(late.length > 0 && late.every((g) => g.outstanding <= 2), JSON.stringify(late.map((g) => g.outstanding)));
  });

  test('without startup options the usual bound holds', async () => {
    const backend = new HoldingBackend();
    const reads: number[] = [];
    const run = runPipeline(options(backend, 20, { read: async (c) => (reads.push(c.index), {}) }));
    await backend.computed(2);
    await idle();
    assert.deepEqual(reads, [0, 1, 2, 3]);
    backend.release();
    await run;
    assert.equal(reads.length, 20);
  });
});
