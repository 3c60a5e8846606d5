/**
 * A reading compute worker's own reads (computeWorkersRead): it opens the inputs as the main
 * does and reads each task's window. With `numReadWorkers` n (RIOS: the read threads of each
 * compute worker) it keeps up to n reads of the tasks queued behind the one it computes in
 * flight, on n sets of dataset handles (a {@link ReadPool}, as the main's read workers), so that
 * reading overlaps the user function. Each read is done once, in the order the tasks are queued.
 */
import type { BlockAssociations } from '../../block.js';
import type { ImageRef, InputSource } from '../../reader/inputs.js';
import type { ReadPool } from '../../reader/readpool.js';
import type { ReaderInfo } from '../../readerinfo.js';
import type { ControlsInput } from '../../controls.js';
import type { InputFileRef, TaskSpec } from '../channel/protocol.js';

/** A read's inputs and how long the read itself took, seconds. */
export interface TaskRead {
  inputs: BlockAssociations;
  seconds: number;
}

export interface WorkerReaderOptions {
  inputFiles: InputFileRef[];
  /** The run's controls (ApplierControls.toJSON()). */
  controls: ControlsInput;
  /** Reads kept in flight ahead of computation; 0 reads each task when its turn comes. */
  readAhead: number;
  info: ReaderInfo;
}

/** The worker's inputs, opened once, and its reads in flight. */
export class WorkerReader {
  private readonly ahead = new Map<number, Promise<TaskRead>>();

  private constructor(
    private readonly sources: InputSource[],
    private readonly pool: ReadPool | undefined,
    private readonly o: WorkerReaderOptions,
    private readonly readBlock: (t: TaskSpec) => Promise<BlockAssociations>,
  ) {}

  /**
   * Open the inputs (and, for a read-ahead of n > 1, n - 1 more sets of handles).
   * @throws whatever opening or aligning an input throws; nothing stays open then.
   */
  static async open(o: WorkerReaderOptions): Promise<WorkerReader> {
    const [{ readBlockInputs }, { openSourceSet }, { ReadPool, checkUvPoolSize }, { ApplierControls }] = await Promise.all([
      import('../../reader/inputs.js'),
      import('../../reader/gridsources.js'),
      import('../../reader/readpool.js'),
      import('../../controls.js'),
    ]);
    const controls = new ApplierControls({ ...o.controls, concurrency: undefined });
    const refs: ImageRef[] = o.inputFiles.map((f) => ({ name: f.name, listIndex: f.listIndex, path: f.path }));
    const openSet = (): Promise<InputSource[]> => openSourceSet(refs, controls);
    const first = await openSet();
    if (o.readAhead <= 1) return new WorkerReader(first, undefined, o, (t) => readBlockInputs(first, t.block, t.overlap, o.info));
    try {
      checkUvPoolSize(o.readAhead, refs.length);
      const pool = await ReadPool.open(first, o.readAhead, openSet);
      return new WorkerReader(first, pool, o, (t) => pool.read(t.block, t.overlap, o.info));
    } catch (err) {
      closeAll(first);
      throw err;
    }
  }

  /** Start the reads of the first `readAhead` tasks of `queue` that need one and are not started. */
  readAheadOf(queue: readonly TaskSpec[]): void {
    let n = 0;
    for (const t of queue) {
      if (n >= this.o.readAhead) break;
      if (t.inputs.length > 0) continue; // read by the main while the workers started
      n++;
      if (!this.ahead.has(t.taskId)) {
        const p = this.readNow(t);
        p.catch(() => undefined); // reported when the task's turn comes
        this.ahead.set(t.taskId, p);
      }
    }
  }

  /** The task's inputs: its read ahead, or a read now. */
  take(t: TaskSpec): Promise<TaskRead> {
    const p = this.ahead.get(t.taskId);
    this.ahead.delete(t.taskId);
    return p ?? this.readNow(t);
  }

  /** A task given up (cancelled, or the worker shuts down): its read's result is dropped. */
  drop(taskId?: number): void {
    if (taskId === undefined) this.ahead.clear();
    else this.ahead.delete(taskId);
  }

  /** Reads started and not yet taken. */
  get pending(): number {
    return this.ahead.size;
  }

  close(): void {
    this.ahead.clear();
    this.pool?.close();
    closeAll(this.sources);
  }

  private async readNow(t: TaskSpec): Promise<TaskRead> {
    const t0 = performance.now();
    const inputs = await this.readBlock(t);
    return { inputs, seconds: (performance.now() - t0) / 1000 };
  }
}

function closeAll(sources: InputSource[]): void {
  for (const s of sources) {
    try {
      s.close();
    } catch {
      // closing a reader never hides the worker's own result
    }
  }
}
