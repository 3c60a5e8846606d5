/**
 * Read workers: `numReadWorkers = n` keeps up to n block reads in flight ahead of computation.
 *
 * gdal-async runs each async call on libuv's thread pool but holds a lock per dataset, so n
 * reads on one handle would still run one after another. The pool therefore holds n complete
 * sets of input sources, each on its own dataset handles, and gives each block read a free
 * set: n reads really run at once (given UV_THREADPOOL_SIZE threads, see {@link uvPoolSizeFor}).
 * When riots chose the sets itself, each set reads strips of adjacent blocks instead
 * ({@link readStrips}), so that source tiles neighbouring blocks share are decoded once.
 */
import os from 'node:os';
import type { BlockAssociations } from '../block.js';
import type { ConcurrencyStyle } from '../concurrency.js';
import type { BlockCoords } from '../errors.js';
import { readBlockInputs, type BlockAllocator, type InputSource } from './inputs.js';
import type { ReaderInfo } from '../readerinfo.js';

export interface ReadPoolStats {
  /** Source sets (dataset handles per input). */
  sets: number;
  /** Most block reads in flight at one moment. */
  maxInFlight: number;
  /** Most distinct source sets busy at one moment. */
  maxSetsBusy: number;
  /** Block reads done by each set. */
  readsPerSet: number[];
}

/** Reads one block's inputs with whatever function reads a set (readBlockInputs by default). */
export type SetReader = (sources: InputSource[], coords: BlockCoords, overlap: number, info?: ReaderInfo, alloc?: BlockAllocator) => Promise<BlockAssociations>;

export class ReadPool {
  private readonly sets: InputSource[][];
  private readonly free: number[];
  private readonly waiters: ((set: number) => void)[] = [];
  /** Reads waiting for one set in particular, per set, in the order asked. */
  private readonly waitersFor = new Map<number, (() => void)[]>();
  private readonly busy = new Set<number>();
  private readonly reader: SetReader;
  private inFlight = 0;
  private readonly s: ReadPoolStats;

  private constructor(sets: InputSource[][], reader: SetReader) {
    this.sets = sets;
    this.free = sets.map((_, i) => i);
    this.reader = reader;
    this.s = { sets: sets.length, maxInFlight: 0, maxSetsBusy: 0, readsPerSet: sets.map(() => 0) };
  }

  /**
   * A pool of `n` source sets: `first` (the applier's own) plus n-1 more from `openSet`, opened
   * at once. On failure, what was opened here is closed again.
   */
  static async open(first: InputSource[], n: number, openSet: () => Promise<InputSource[]>, reader: SetReader = readBlockInputs): Promise<ReadPool> {
    const more = await Promise.allSettled(Array.from({ length: Math.max(0, n - 1) }, () => openSet()));
    const failed = more.find((r) => r.status === 'rejected');
    const opened = more.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    if (failed) {
      for (const set of opened) closeSet(set);
      throw failed.reason;
    }
    const pool = new ReadPool([first, ...opened], reader);
    poolObserver?.(pool);
    return pool;
  }

  /**
   * Read one block's inputs on a free set (waiting for one if all are busy), or on set `set`
   * when given (waiting for that one; reads given the same set run in the order asked).
   */
  async read(coords: BlockCoords, overlap: number, info?: ReaderInfo, alloc?: BlockAllocator, set?: number): Promise<BlockAssociations> {
    const s = set === undefined ? await this.anySet() : await this.theSet(set);
    this.busy.add(s);
    this.inFlight++;
    this.s.maxInFlight = Math.max(this.s.maxInFlight, this.inFlight);
    this.s.maxSetsBusy = Math.max(this.s.maxSetsBusy, this.busy.size);
    try {
      return await this.reader(this.sets[s]!, coords, overlap, info, alloc);
    } finally {
      this.s.readsPerSet[s]!++;
      this.inFlight--;
      this.busy.delete(s);
      this.hand(s);
    }
  }

  private anySet(): Promise<number> | number {
    return this.free.length > 0 ? this.free.shift()! : new Promise<number>((r) => this.waiters.push(r));
  }

  private theSet(set: number): Promise<number> | number {
    if (!Number.isInteger(set) || set < 0 || set >= this.sets.length) throw new RangeError(`read set ${set} outside 0..${this.sets.length - 1}`);
    const at = this.free.indexOf(set);
    if (at >= 0 && (this.waitersFor.get(set)?.length ?? 0) === 0) {
      this.free.splice(at, 1);
      return set;
    }
    return new Promise<number>((r) => {
      const q = this.waitersFor.get(set) ?? [];
      q.push(() => r(set));
      this.waitersFor.set(set, q);
    });
  }

  /** A set is free again: to the next read waiting for it, else the next waiting for any, else free. */
  private hand(set: number): void {
    const mine = this.waitersFor.get(set)?.shift();
    if (mine) return mine();
    const w = this.waiters.shift();
    if (w) w(set);
    else this.free.push(set);
  }

  stats(): ReadPoolStats {
    return { ...this.s, readsPerSet: [...this.s.readsPerSet] };
  }

  /** Close the sets this pool opened (the first set belongs to the caller). */
  close(): void {
    for (const set of this.sets.slice(1)) closeSet(set);
  }
}

function closeSet(set: InputSource[]): void {
  for (const s of set) {
    try {
      s.close();
    } catch {
      // closing a reader never hides the run's own result
    }
  }
}

let poolObserver: ((pool: ReadPool) => void) | undefined;
/** Tests: see every pool apply() creates (to read its stats). */
export function observeReadPools(f: ((pool: ReadPool) => void) | undefined): void {
  poolObserver = f;
}

/** How many source sets the main process reads with, and why. */
export interface ReadSets {
  sets: number;
  /** True when riots chose the count (numReadWorkers not given). */
  auto: boolean;
}

/**
 * Source sets for the main process's reads. `numReadWorkers` when the run gives it. Not given,
 * and an input is resampled or rasterized per window: one set per core, as many as libuv's pool
 * can run at once with every input of a block read together, and at least 2 (a warped window
 * keeps one core busy; read one at a time, the other cores wait: W3 in docs/PERFORMANCE.md).
 * Inputs that are all read directly stay at one set: decoding them keeps up with the rest of the
 * run, and more sets would only hold more handles. One core: one set.
 */
export function readSetsFor(
  c: Pick<ConcurrencyStyle, 'numReadWorkers' | 'numReadWorkersGiven' | 'computeWorkersRead'>,
  sources: readonly Pick<InputSource, 'readKind'>[],
  cores = os.availableParallelism(),
  uvPool = uvPoolSize(),
): ReadSets {
  if (c.computeWorkersRead) return { sets: 0, auto: false };
  if (c.numReadWorkersGiven) return { sets: Math.max(1, c.numReadWorkers), auto: false };
  if (cores < 2 || !sources.some((s) => s.readKind !== 'direct')) return { sets: 1, auto: true };
  return { sets: Math.min(cores, Math.max(2, Math.floor(uvPool / Math.max(1, sources.length)))), auto: true };
}

/**
 * The pool `sets` asks for (none for one set), over `first` and sets from `openSet`. When riots
 * chose the count and the extra sets cannot be opened, the run goes on reading one block at a
 * time on `first`, with a warning (RIOTS_READ_SETS); a count the user gave fails the run.
 */
export async function openReadPool(
  first: InputSource[],
  sets: ReadSets,
  openSet: () => Promise<InputSource[]>,
  inputs = first.length,
): Promise<{ pool: ReadPool | undefined; readSets: ReadSets }> {
  if (sets.sets <= 1) return { pool: undefined, readSets: sets };
  if (!sets.auto) {
    checkUvPoolSize(sets.sets, inputs);
    return { pool: await ReadPool.open(first, sets.sets, openSet), readSets: sets };
  }
  try {
    return { pool: await ReadPool.open(first, sets.sets, openSet), readSets: sets };
  } catch (err) {
    process.emitWarning(`opening ${sets.sets} sets of input handles to read on every core failed (${(err as Error).message}); reading one block at a time`, {
      code: 'RIOTS_READ_SETS',
    });
    return { pool: undefined, readSets: { sets: 1, auto: true } };
  }
}

/** Most bytes of input blocks read ahead when riots lays the reads out in strips (see {@link readStrips}). */
export const STRIP_READ_AHEAD_BYTES = 32 * 2 ** 20;

/** How riots' own read sets share each row of blocks: see {@link readStrips}. */
export interface ReadStrips {
  /** Adjacent blocks of a row one set reads. */
  blocksPerStrip: number;
  /** Blocks read ahead of computation: enough for every set to be busy in a strip of its own. */
  readAhead: number;
}

/**
 * Strips of adjacent blocks for `sets` read sets over rows of `blocksX` blocks of `blockBytes`
 * (every input of a block). Handed out one block at a time, a read of block k and one of k+1 run
 * on different sets, and a source tile the two blocks share (a warped input's, above all, whose
 * tiles do not line up with the blocks) is decoded by both sets' handles: W3 decoded 1.4 times
 * the tiles it needed. With each set reading a strip of the row (the same columns in every row),
 * the second block finds the tile in its set's block cache. Every set is busy once reads run as
 * far ahead as the last set's strip, so the read-ahead grows with the strip; it is kept within
 * {@link STRIP_READ_AHEAD_BYTES} by narrowing the strips (down to one block: sets take blocks in turn).
 */
export function readStrips(sets: number, blocksX: number, blockBytes: number, budgetBytes = STRIP_READ_AHEAD_BYTES): ReadStrips {
  if (sets <= 1) return { blocksPerStrip: Math.max(1, blocksX), readAhead: 1 };
  const aheadFor = (strip: number): number => strip * (sets - 1) + 2 * sets;
  const affordable = blockBytes > 0 ? Math.max(sets, Math.floor(budgetBytes / blockBytes)) : Infinity;
  let strip = Math.max(1, Math.ceil(blocksX / sets));
  if (aheadFor(strip) > affordable) strip = Math.max(1, Math.floor((affordable - 2 * sets) / (sets - 1)));
  return { blocksPerStrip: strip, readAhead: Math.max(sets, Math.min(aheadFor(strip), affordable)) };
}

/** The set that reads block column `col` (0-based) under `strips`. */
export function stripSet(col: number, strips: ReadStrips, sets: number): number {
  return Math.floor(col / strips.blocksPerStrip) % sets;
}

/** libuv's thread pool size in this process (UV_THREADPOOL_SIZE as it was when node started). */
export function uvPoolSize(): number {
  return Number(process.env.UV_THREADPOOL_SIZE) || 4;
}

/**
 * libuv threads needed so that `numReadWorkers` block reads of `inputs` images each, plus the
 * writer, all run at once.
 */
export function uvPoolSizeFor(numReadWorkers: number, inputs: number): number {
  return Math.max(4, numReadWorkers * inputs + 2);
}

let warned = false;
/**
 * Warn once when UV_THREADPOOL_SIZE (read by libuv when its pool starts, before any user code
 * of an ES module program runs) is below what `numReadWorkers` needs.
 */
export function checkUvPoolSize(numReadWorkers: number, inputs: number): void {
  if (warned || numReadWorkers <= 1) return;
  const want = uvPoolSizeFor(numReadWorkers, inputs);
  const have = uvPoolSize();
  if (have >= want) return;
  warned = true;
  process.emitWarning(
    `numReadWorkers ${numReadWorkers} with ${inputs} input(s) wants UV_THREADPOOL_SIZE >= ${want}, but libuv's pool has ${have} threads: ` +
      `set it in the environment before node starts (UV_THREADPOOL_SIZE=${want} node main.js); setting process.env in an ES module is too late`,
    { code: 'RIOTS_UV_THREADPOOL' },
  );
}
