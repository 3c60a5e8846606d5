/**
 * The applier loop: read -> compute -> write, block by block, with bounded buffers.
 *
 * Reads run up to `readAhead` blocks ahead of computation; the compute backend takes blocks in
 * order (workers pull them as they become free); a single writer writes results in block order.
 * Every wait that can stall has a timeout that says what it waited for.
 *
 * Each wait has one owner, so that one stall is reported once, under the option to raise:
 * - readBufferInsert: a free read slot; readBufferPop: the read of a block, counted from when
 *   that block is next in line (the block before it gone to compute): a read may start well
 *   before, and wait behind others on its handle set (src/reader/readpool.ts's strips);
 * - computeBufferPop: the writer waiting for the result of the block it needs next, counted from
 *   when that block was handed to a ready worker (never while it waits for a worker to start:
 *   that is the backend's computeBarrierTimeout), and anew if it is handed out again;
 * - computeBufferInsert: the next block waiting for room because every slot between read and
 *   write is taken, counted only while the writer is busy writing (while the writer waits for a
 *   result, computeBufferPop is the one that counts).
 */
import type { BlockAssociations } from '../block.js';
import { TimeoutError, describeBlock, type BlockCoords } from '../errors.js';
import type { ComputeBackend, DispatchHook } from '../workers/backend.js';
import type { Timings } from '../timings.js';
import type { RunRecorder } from '../report/recorder.js';

/** A counting semaphore whose waits can time out. */
export class Semaphore {
  private free: number;
  private readonly waiters: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async acquire(timeoutSeconds: number | null = null, what = 'a free slot'): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.waiters.push(wake);
      if (timeoutSeconds !== null) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new TimeoutError(`timed out after ${timeoutSeconds} s waiting for ${what}`));
        }, timeoutSeconds * 1000);
      }
    });
  }
  release(): void {
    // a slot taken back by shrink() is kept rather than given to a waiter
    if (this.free < 0) {
      this.free++;
      return;
    }
    const w = this.waiters.shift();
    if (w) w();
    else this.free++;
  }
  /** Add n slots (waiters are woken as for n releases). */
  grow(n: number): void {
    for (let i = 0; i < n; i++) this.release();
  }
  /** Take n slots back: free ones at once, the rest as they are released. */
  shrink(n: number): void {
    this.free -= n;
  }
  /** Wake every waiter and never block again (used when the run fails). */
  open(): void {
    this.free = Number.POSITIVE_INFINITY;
    for (const w of this.waiters.splice(0)) w();
  }
}

const noop = (): void => undefined;

export interface PipelineOptions {
  blocks: BlockCoords[];
  /** Reads in flight ahead of computation (at least 1). */
  readAhead: number;
  /** Undefined when compute workers read their own inputs. */
  read: ((coords: BlockCoords) => Promise<BlockAssociations>) | undefined;
  backend: ComputeBackend;
  /**
   * Write one block. `signal` is aborted if the run fails while this write is in flight (e.g.
   * computeBufferInsertTimeout ran out while it wrote); the pipeline still waits for the write to
   * settle before it rejects, so that no I/O outlives it. A write that can stop early should.
   */
  write: (coords: BlockCoords, outputs: BlockAssociations, signal: AbortSignal) => Promise<void>;
  timings: Timings;
  /** Called after each block is written. */
  onBlockDone?: (coords: BlockCoords, done: number) => void;
  /**
   * While compute workers start: room for `extraBlocks` more blocks between read and write, each
   * read in this process (with `read`, even when workers read their own inputs: these blocks
   * carry their inputs), until `until` settles (the first worker is ready). The room is then
   * taken back as those blocks are written.
   */
  startup?: { extraBlocks: number; until: Promise<unknown>; read: (coords: BlockCoords) => Promise<BlockAssociations> };
  /** Aborts the loop (interrupt): the pipeline rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Records every block's read, hand-outs and write for the run report (controls.report). */
  recorder?: RunRecorder;
  /** Seconds; null: no limit. See the module comment for what each one counts. */
  timeouts: {
    readBufferInsert: number | null;
    readBufferPop: number | null;
    computeBufferInsert: number | null;
    computeBufferPop: number | null;
  };
}

/**
 * Run every block through read, compute and write. Resolves when the last block is written;
 * rejects with the first error, after every read and write in flight has settled. A compute
 * still running then (a stalled worker) is not awaited: the caller stops it with the backend's
 * destroy().
 */
export async function runPipeline(o: PipelineOptions): Promise<void> {
  if (o.blocks.length === 0) return;
  await new Pipeline(o).run();
}

/** One run of {@link runPipeline}: a producer that reads and dispatches, and a writer in block order. */
class Pipeline {
  private readonly n: number;
  private readonly readSlots: Semaphore;
  private readonly computeSlots: Semaphore;
  /** Blocks between the start of their read and the end of their write: bounds memory. */
  private readonly inFlight: Semaphore;
  /** While compute workers start (see PipelineOptions.startup). */
  private starting = false;
  private readonly results: (Promise<BlockAssociations> | undefined)[];
  private readonly settled: Promise<unknown>[] = [];
  private failure: { err: unknown } | undefined;
  /**
   * A compute still running when the run fails (a stalled worker) must not hold the pipeline: it
   * is given up (the caller's destroy() of the backend stops it). One listener per compute in
   * flight, removed when it settles: racing every block against one never-settled promise would
   * keep every block's outputs reachable from that promise for the whole run.
   */
  private readonly failListeners = new Set<(err: unknown) => void>();
  private readonly failedSignal = new AbortController();
  /** computeBufferInsert: the block the writer is writing (undefined while it waits for a result), and the waits that watch it. */
  private writing: BlockCoords | undefined;
  private readonly writeWatchers = new Set<() => void>();
  /** computeBufferPop: which worker each block was last handed to, and the writer's re-arm. */
  private readonly dispatchedTo: ({ workerId: number | undefined } | undefined)[];
  private rearmPop: ((i: number) => void) | undefined;
  private resultReady: (() => void) | undefined;

  constructor(private readonly o: PipelineOptions) {
    this.n = o.blocks.length;
    this.results = new Array(this.n);
    this.dispatchedTo = new Array(this.n);
    this.readSlots = new Semaphore(Math.max(1, o.readAhead));
    this.computeSlots = new Semaphore(Math.max(1, o.backend.capacity));
    this.inFlight = new Semaphore(Math.max(1, o.readAhead) + Math.max(1, o.backend.capacity) + 1);
    if (o.startup && o.startup.extraBlocks > 0) {
      const extra = o.startup.extraBlocks;
      this.starting = true;
      this.inFlight.grow(extra);
      this.computeSlots.grow(extra);
      const over = (): void => {
        this.starting = false;
        if (this.failure) return;
        this.inFlight.shrink(extra);
        this.computeSlots.shrink(extra);
      };
      o.startup.until.then(over, over);
    }
  }

  async run(): Promise<void> {
    const o = this.o;
    const onAbort = (): void => this.fail(o.signal!.reason);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) this.fail(o.signal.reason);
    const producer = this.produce();
    try {
      await this.writeAll(producer);
    } finally {
      await producer.catch((e: unknown) => this.fail(e));
      await Promise.all(this.settled);
      o.signal?.removeEventListener('abort', onAbort);
    }
    if (this.failure) throw this.failure.err;
  }

  private unlessFailed<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.failure) return reject(this.failure.err);
      this.failListeners.add(reject);
      p.then(
        (v) => {
          this.failListeners.delete(reject);
          resolve(v);
        },
        (e: unknown) => {
          this.failListeners.delete(reject);
          reject(e);
        },
      );
    });
  }

  /**
   * The read of a block that is next in line, within readBufferPopTimeout. Once the run has
   * failed it stops waiting at once (and its timer goes): the blocks behind would otherwise each
   * wait out a timeout of their own in turn.
   */
  private readWithin<T>(p: Promise<T>, coords: BlockCoords): Promise<T> {
    const secs = this.o.timeouts.readBufferPop;
    return new Promise<T>((resolve, reject) => {
      if (this.failure) return reject(this.failure.err);
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.failListeners.delete(onFail);
      };
      const onFail = (err: unknown): void => {
        done();
        reject(err);
      };
      this.failListeners.add(onFail);
      if (secs !== null) {
        timer = setTimeout(() => {
          done();
          reject(new TimeoutError(`timed out after ${secs} s waiting for the read of ${describeBlock(coords)} (readBufferPopTimeout)`, { block: coords }));
        }, secs * 1000);
      }
      p.then(
        (v) => {
          done();
          resolve(v);
        },
        (e: unknown) => {
          done();
          reject(e);
        },
      );
    });
  }

  private readonly fail = (err: unknown): void => {
    if (this.failure) return;
    this.failure = { err };
    for (const l of this.failListeners) l(err);
    this.failListeners.clear();
    this.failedSignal.abort(err);
    // wake every wait so the loop winds down; each waiter checks `failure`
    this.inFlight.open();
    this.readSlots.open();
    this.computeSlots.open();
    this.resultReady?.();
  };

  private setWriting(c: BlockCoords | undefined): void {
    this.writing = c;
    for (const w of this.writeWatchers) w();
  }

  /** Wait for a free slot between read and write; computeBufferInsertTimeout counts only while the writer is busy writing. */
  private async waitForRoom(coords: BlockCoords): Promise<void> {
    const secs = this.o.timeouts.computeBufferInsert;
    if (secs === null) return this.inFlight.acquire(null);
    let timer: NodeJS.Timeout | undefined;
    const watch = (): void => {
      clearTimeout(timer);
      timer = undefined;
      const w = this.writing;
      if (!w) return;
      timer = setTimeout(() => {
        this.fail(
          new TimeoutError(
            `timed out after ${secs} s waiting for room to start ${describeBlock(coords)}: every block slot between read and write is taken and the writer has spent all that time writing ${describeBlock(w)} (computeBufferInsertTimeout: raise it, or set it to null, for outputs that are slow to write)`,
            { block: coords },
          ),
        );
      }, secs * 1000);
    };
    this.writeWatchers.add(watch);
    watch();
    try {
      await this.inFlight.acquire(null);
    } finally {
      clearTimeout(timer);
      this.writeWatchers.delete(watch);
    }
  }

  private hookFor(i: number): DispatchHook {
    return (workerId) => {
      this.o.recorder?.dispatched(i, workerId);
      this.dispatchedTo[i] = { workerId };
      this.rearmPop?.(i);
    };
  }

  /** Block i's result; computeBufferPopTimeout counts from its last dispatch to a worker. */
  private waitForResult(i: number, coords: BlockCoords): Promise<BlockAssociations> {
    const p = this.results[i]!;
    const secs = this.o.timeouts.computeBufferPop;
    if (secs === null) return p;
    return new Promise<BlockAssociations>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = (j: number): void => {
        const d = this.dispatchedTo[j];
        if (j !== i || !d) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          const worker = d.workerId === undefined ? '' : ` from compute worker ${d.workerId}`;
          reject(
            new TimeoutError(
              `timed out after ${secs} s waiting for the result of ${describeBlock(coords)}${worker} (computeBufferPopTimeout: a user function that takes longer than that on one block needs a larger computeBufferPopTimeout, or null)`,
              { block: coords, ...(d.workerId === undefined ? {} : { workerId: d.workerId }) },
            ),
          );
        }, secs * 1000);
      };
      this.rearmPop = arm;
      arm(i);
      const settle = (): void => {
        clearTimeout(timer);
        this.rearmPop = undefined;
      };
      p.then(
        (v) => {
          settle();
          resolve(v);
        },
        (e: unknown) => {
          settle();
          reject(e);
        },
      );
    });
  }

  /** Dispatch: reads start in order as slots free; computes start in block order. */
  private async produce(): Promise<void> {
    const o = this.o;
    let previousDispatch: Promise<void> = Promise.resolve();
    for (let i = 0; i < this.n && !this.failure; i++) {
      const coords = o.blocks[i]!;
      const stopInFlight = o.timings.start('wait:writebuffer');
      await this.waitForRoom(coords);
      stopInFlight();
      if (this.failure) {
        this.inFlight.release();
        break;
      }
      const stopRead = o.timings.start('wait:readbuffer');
      await this.readSlots.acquire(o.timeouts.readBufferInsert, `a free read slot before reading ${describeBlock(coords)}`).catch(this.fail);
      stopRead();
      if (this.failure) {
        this.inFlight.release();
        break;
      }
      const prev = previousDispatch;
      let dispatched!: () => void;
      previousDispatch = new Promise<void>((r) => (dispatched = r));
      const resultP = this.readAndCompute(i, coords, prev, () => dispatched());
      // make sure a failed read/compute does not block later dispatches
      resultP.catch((e: unknown) => {
        dispatched();
        this.fail(e);
      });
      this.results[i] = resultP;
      this.settled.push(resultP.then(noop, noop)); // never keep the outputs alive
      this.resultReady?.();
    }
  }

  /** Read block i (in this process, unless workers read), then compute it once block i-1 is dispatched (`prev`). */
  private async readAndCompute(i: number, coords: BlockCoords, prev: Promise<void>, dispatched: () => void): Promise<BlockAssociations> {
    const o = this.o;
    const read = o.read ?? (this.starting ? o.startup!.read : undefined);
    const inputsP: Promise<BlockAssociations | undefined> = read
      ? (async () => {
          const t0 = performance.now();
          o.recorder?.readStarted(i);
          try {
            return await read(coords);
          } finally {
            o.timings.add('reading', (performance.now() - t0) / 1000);
            o.recorder?.readEnded(i);
          }
        })()
      : Promise.resolve(undefined);
    // the read slot is free once the read is done (or this block has failed), whatever its turn
    let released = false;
    const release = (): void => {
      if (!released) this.readSlots.release();
      released = true;
    };
    inputsP.then(release, release);
    let inputs: BlockAssociations | undefined;
    try {
      await prev;
      inputs = await this.readWithin(inputsP, coords);
    } finally {
      release();
    }
    const stop = o.timings.start('wait:computebuffer');
    try {
      // No timeout here: a slow user function is not an error. Worker kinds bound their own waits.
      await this.computeSlots.acquire(null);
    } finally {
      stop();
      dispatched();
    }
    if (this.failure) throw this.failure.err;
    try {
      const outputs = await this.unlessFailed(o.backend.compute(coords, inputs, this.hookFor(i)));
      o.recorder?.computed(i);
      return outputs;
    } finally {
      this.computeSlots.release();
    }
  }

  /** Writer: in block order. */
  private async writeAll(producer: Promise<void>): Promise<void> {
    const o = this.o;
    let done = 0;
    for (let i = 0; i < this.n; i++) {
      while (this.results[i] === undefined && !this.failure) {
        await Promise.race([new Promise<void>((r) => (this.resultReady = r)), producer]);
      }
      if (this.failure) break;
      const coords = o.blocks[i]!;
      let outputs: BlockAssociations;
      try {
        outputs = await this.waitForResult(i, coords);
      } catch (e) {
        this.fail(e);
        break;
      }
      if (this.failure) break;
      this.setWriting(coords);
      o.recorder?.writeStarted(i);
      try {
        await o.write(coords, outputs, this.failedSignal.signal);
      } catch (e) {
        this.fail(e);
        break;
      } finally {
        this.setWriting(undefined);
        o.recorder?.writeEnded(i);
      }
      this.results[i] = undefined;
      this.dispatchedTo[i] = undefined;
      o.backend.releaseOutputs?.(outputs);
      this.inFlight.release();
      done++;
      o.onBlockDone?.(coords, done);
    }
  }
}
