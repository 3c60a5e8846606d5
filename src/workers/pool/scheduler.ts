/**
 * Block scheduling for channel workers, free of any I/O: a queue of blocks in block order,
 * per-worker credit (how many tasks each worker may hold), attempts, re-queueing when a worker
 * is lost, and the rule that a block which has killed its worker `maxDeaths` times fails the run.
 *
 * Workers run their tasks one at a time in the order received, so the oldest task a lost worker
 * held is the one it was running: only that block is charged with the death; the others go back
 * to the queue uncharged.
 */
import { WorkerLostError, describeBlock, type BlockCoords } from '../../errors.js';

export interface SchedulerOptions {
  /** Tasks a worker may hold at once (the one it runs and those queued behind it). */
  credit: number;
  /** Deaths of workers running one block after which the run fails. */
  maxDeaths: number;
  /** Tasks a worker is handed over its whole life (singleBlockComputeWorkers: 1). Default: no limit. */
  tasksPerLifetime?: number;
}

export interface Job<P, R> {
  readonly coords: BlockCoords;
  readonly payload: P;
  /** Times handed out so far. */
  attempts: number;
  /** Ids of the workers that died running it. */
  readonly killed: number[];
  settled: boolean;
  resolve(r: R): void;
  reject(e: unknown): void;
}

export interface Task<P, R> {
  readonly taskId: number;
  /** 0 the first time the block is handed out. */
  readonly attempt: number;
  readonly job: Job<P, R>;
  readonly workerId: number;
}

interface WorkerBook<P, R> {
  inFlight: Task<P, R>[];
  accepting: boolean;
  /** Tasks handed to this worker so far. */
  handed: number;
  /** Blocks whose results were accepted from this worker. */
  completed: number;
}

export interface LossOutcome<P, R> {
  /** Tasks taken back from the worker (their jobs are queued again unless the run failed). */
  revoked: Task<P, R>[];
  /** Set when a block reached maxDeaths: the run must fail with this error. */
  fatal?: WorkerLostError;
}

export class BlockScheduler<P, R> {
  private readonly opts: SchedulerOptions;
  private readonly queue: Job<P, R>[] = [];
  private readonly tasks = new Map<number, Task<P, R>>();
  private readonly workers = new Map<number, WorkerBook<P, R>>();
  private nextTaskId = 1;
  /** Results that arrived for a task no longer current (lost worker, re-queued block). */
  discarded = 0;
  failure: unknown;

  constructor(opts: SchedulerOptions) {
    this.opts = opts;
  }

  /** Queue a block; the promise settles with its result or the run's failure. */
  submit(coords: BlockCoords, payload: P): Promise<R> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<R>((resolve, reject) => {
      this.enqueue({ coords, payload, attempts: 0, killed: [], settled: false, resolve, reject });
    });
  }

  /** Blocks waiting for a worker. */
  get queued(): number {
    return this.queue.length;
  }

  /** A worker that takes tasks from now on. */
  addWorker(id: number): void {
    this.workers.set(id, { inFlight: [], accepting: true, handed: 0, completed: 0 });
  }

  /** Workers currently taking tasks. */
  get activeWorkers(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.accepting) n++;
    return n;
  }

  inFlight(id: number): readonly Task<P, R>[] {
    return this.workers.get(id)?.inFlight ?? [];
  }

  completed(id: number): number {
    return this.workers.get(id)?.completed ?? 0;
  }

  /** Forget a worker that is gone and holds nothing (a single-block worker after its block), so the books do not grow with the run. */
  removeWorker(id: number): void {
    const w = this.workers.get(id);
    if (w && w.inFlight.length === 0) this.workers.delete(id);
  }

  /** Hand queued blocks to workers with free credit, least loaded first. Returns the new tasks per worker. */
  assign(): Map<number, Task<P, R>[]> {
    const out = new Map<number, Task<P, R>[]>();
    if (this.failure !== undefined) return out;
    const lifetime = this.opts.tasksPerLifetime ?? Number.POSITIVE_INFINITY;
    while (this.queue.length > 0) {
      let best: [number, WorkerBook<P, R>] | undefined;
      for (const e of this.workers) {
        const w = e[1];
        if (!w.accepting || w.inFlight.length >= this.opts.credit || w.handed >= lifetime) continue;
        if (!best || w.inFlight.length < best[1].inFlight.length) best = e;
      }
      if (!best) break;
      const job = this.queue.shift()!;
      const task: Task<P, R> = { taskId: this.nextTaskId++, attempt: job.attempts++, job, workerId: best[0] };
      best[1].inFlight.push(task);
      best[1].handed++;
      this.tasks.set(task.taskId, task);
      const list = out.get(best[0]) ?? [];
      list.push(task);
      out.set(best[0], list);
    }
    return out;
  }

  /**
   * The current task for a result, or undefined when the result is stale and must be discarded
   * (counted in {@link discarded}).
   */
  take(workerId: number, taskId: number, attempt: number, blockIndex: number): Task<P, R> | undefined {
    const t = this.tasks.get(taskId);
    if (!t || t.workerId !== workerId || t.attempt !== attempt || t.job.coords.index !== blockIndex || t.job.settled) {
      this.discarded++;
      return undefined;
    }
    this.tasks.delete(taskId);
    const w = this.workers.get(workerId);
    if (w) {
      const i = w.inFlight.indexOf(t);
      if (i >= 0) w.inFlight.splice(i, 1);
    }
    return t;
  }

  /** Settle a task taken with {@link take}. */
  resolve(t: Task<P, R>, r: R): void {
    if (t.job.settled) return;
    t.job.settled = true;
    const w = this.workers.get(t.workerId);
    if (w) w.completed++;
    t.job.resolve(r);
  }

  /**
   * A worker is gone (died, disconnected, silent): it takes no more tasks; its tasks go back to
   * the queue, the oldest charged with the death.
   */
  workerLost(workerId: number, reason: string): LossOutcome<P, R> {
    const w = this.workers.get(workerId);
    if (!w || !w.accepting) return { revoked: [] };
    w.accepting = false;
    const revoked = w.inFlight.splice(0);
    for (const t of revoked) this.tasks.delete(t.taskId);
    let fatal: WorkerLostError | undefined;
    const running = revoked[0];
    if (running && !running.job.settled) {
      running.job.killed.push(workerId);
      if (running.job.killed.length >= this.opts.maxDeaths) {
        const c = running.job.coords;
        fatal = new WorkerLostError(
          `${describeBlock(c)} killed its worker ${running.job.killed.length} times (workers ${running.job.killed.join(', ')}); the last one: ${reason}`,
          { block: c, workerId },
        );
      }
    }
    if (fatal) {
      this.fail(fatal, revoked);
    } else {
      for (const t of revoked) if (!t.job.settled) this.enqueue(t.job);
    }
    return fatal ? { revoked, fatal } : { revoked };
  }

  /** Fail the run: every pending block rejects with `err`; later submits reject at once. */
  fail(err: unknown, alsoTasks: readonly Task<P, R>[] = []): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    const pending = [...this.queue.splice(0), ...[...this.tasks.values(), ...alsoTasks].map((t) => t.job)];
    this.tasks.clear();
    for (const w of this.workers.values()) w.inFlight.length = 0;
    for (const j of pending) {
      if (j.settled) continue;
      j.settled = true;
      j.reject(err);
    }
  }

  /** Blocks not yet settled (queued or in flight). */
  get pending(): number {
    let n = this.queue.length;
    for (const w of this.workers.values()) n += w.inFlight.length;
    return n;
  }

  /** Keep the queue in block order: re-queued blocks are the ones the writer waits for first. */
  private enqueue(job: Job<P, R>): void {
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.coords.index > job.coords.index) i--;
    this.queue.splice(i, 0, job);
  }
}
