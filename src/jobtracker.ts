/**
 * Following the remote jobs of one riots run (AWS Batch jobs, ECS tasks): batched describe calls
 * that tell when each ends and why, waits for an end, and stopping with a grace period.
 *
 * One describe call covers up to 100 of the run's jobs, and calls are shared: many callers
 * asking for fresh statuses within `minRefreshMs` get the same answer. What a service calls
 * things, and how it describes and stops them, comes in a {@link TrackerApi}.
 */
import { sleep } from './timeout.js';

/** What is known of one job or task. */
export interface Tracked<D> {
  id: string;
  /** What the last describe said, kept to what the status line needs (see TrackerApi.keep). */
  detail?: D;
  /** Set once it has ended, with the line that says how. */
  endedText?: string;
  ended: Promise<string>;
  resolveEnded: (text: string) => void;
}

/** A new tracked entry for id `id`, not yet described. */
export function newTracked<D>(id: string): Tracked<D> {
  let resolveEnded!: (t: string) => void;
  const ended = new Promise<string>((r) => (resolveEnded = r));
  return { id, ended, resolveEnded };
}

/** One service's calls and words. */
export interface TrackerApi<D> {
  /** 'job', 'task': how lines name one. */
  noun: string;
  /** Ids per describe call. Default 100. */
  batchSize?: number;
  /** Describe up to `batchSize` ids (one call). */
  describe(ids: string[]): Promise<D[]>;
  /**
   * Where the service forgets ended jobs (a cluster scheduler lists only recent ones): how a job
   * that a describe call no longer returns has ended. Unset: such a job is only not described.
   */
  goneText?: string;
  /** The line that says how a job ended, with more where the service keeps more (the tail of its log). */
  endedLine?(id: string, line: string): Promise<string>;
  /** Called after each description of a job (to print its changes). */
  onDescribed?(id: string, d: D): void;
  idOf(d: D): string | undefined;
  isDone(d: D): boolean;
  /** Running (as opposed to waiting for capacity), so worth a grace period before it is stopped. */
  isRunning(d: D | undefined): boolean;
  /** One line on the state (without the noun and id). */
  text(d: D | undefined): string;
  /** The parts of a description to keep (never the environment: it holds the run's key). */
  keep(d: D): D;
  /** Ask the service to stop one. */
  stop(id: string, reason: string): Promise<void>;
}

/**
 * First interval between describe calls while {@link RunTracker.waitEnded} waits (ms). A job
 * told to stop, or whose worker has just exited, usually ends within moments: the interval
 * doubles after each call, up to `minRefreshMs`, and starts again from here only once no caller
 * waits. At most 6 calls in the first second of a wait instead of 4 (with 250 ms), and the end of
 * a quick job is seen ~50 ms after it instead of up to `minRefreshMs` later.
 */
export const FIRST_END_POLL_MS = 50;

export class RunTracker<D, T extends Tracked<D>> {
  /** Every job or task of the run, by id. */
  readonly jobs = new Map<string, T>();
  private inflight: Promise<void> | undefined;
  private lastRefresh = 0;
  /** The current interval of the waitEnded ramp, shared by every caller waiting at once. */
  private endPollMs = FIRST_END_POLL_MS;
  private endWaiters = 0;
  private poller: NodeJS.Timeout | undefined;

  constructor(
    private readonly minRefreshMs: number,
    readonly api: TrackerApi<D>,
  ) {}

  /** Follow `t` from now on; returns it. */
  protected track(t: T): T {
    this.jobs.set(t.id, t);
    return t;
  }

  /** Describe every one not yet ended; shared between callers within `minMs` (default minRefreshMs). */
  refresh(minMs = this.minRefreshMs): Promise<void> {
    if (this.inflight) return this.inflight;
    const wait = Math.max(0, this.lastRefresh + minMs - Date.now());
    this.inflight = (async () => {
      if (wait > 0) await sleep(wait);
      try {
        const ids = [...this.jobs.values()].filter((j) => j.endedText === undefined).map((j) => j.id);
        const size = this.api.batchSize ?? 100;
        for (let i = 0; i < ids.length; i += size) {
          const asked = ids.slice(i, i + size);
          const seen = new Set<string>();
          for (const d of await this.api.describe(asked)) {
            const id = this.api.idOf(d);
            const job = id === undefined ? undefined : this.jobs.get(id);
            if (!job) continue;
            seen.add(job.id);
            job.detail = this.api.keep(d);
            this.api.onDescribed?.(job.id, d);
            if (this.api.isDone(d)) this.ended(job, this.api.text(d));
          }
          const gone = this.api.goneText;
          if (gone !== undefined) for (const id of asked) if (!seen.has(id)) this.ended(this.jobs.get(id)!, gone);
        }
      } finally {
        this.lastRefresh = Date.now();
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  /** Mark a job ended (once): `endedText` at once, `ended` with what the service adds. */
  private ended(job: T, how: string): void {
    if (job.endedText !== undefined) return;
    job.endedText = `${this.api.noun} ${job.id} ${how}`;
    const line = job.endedText;
    if (!this.api.endedLine) job.resolveEnded(line);
    else void this.api.endedLine(job.id, line).then(job.resolveEnded, () => job.resolveEnded(line));
  }

  /** Follow a job this tracker did not start (a job named on a command line, a task found in a cluster). */
  adopt(t: T): T {
    return this.track(t);
  }

  /** Resolves when no describe call is under way (none is started). */
  async idle(): Promise<void> {
    await this.inflight?.catch(() => undefined);
  }

  /** Poll every `everyMs` while one has not ended, so that `ended` promises resolve. */
  startPolling(everyMs: number): void {
    if (this.poller) return;
    this.poller = setInterval(() => {
      if ([...this.jobs.values()].every((j) => j.endedText !== undefined)) return;
      this.refresh().catch(() => undefined); // a failed poll is retried on the next tick
    }, everyMs);
    this.poller.unref();
  }

  stopPolling(): void {
    clearInterval(this.poller);
    this.poller = undefined;
  }

  /** A fresh line on one (describe errors are reported in the line, never thrown). */
  async status(job: T): Promise<string> {
    const { noun } = this.api;
    if (job.endedText === undefined) {
      try {
        await this.refresh();
      } catch (err) {
        return `${noun} ${job.id}: ${this.api.text(job.detail)} (${(err as Error).message})`;
      }
    }
    return job.endedText ?? `${noun} ${job.id} ${this.api.text(job.detail)}`;
  }

  /** Wait until it has ended, refreshing; false when `ms` ran out first. */
  async waitEnded(job: T, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    this.endWaiters++;
    try {
      while (job.endedText === undefined && Date.now() < deadline) {
        const every = Math.min(this.endPollMs, this.minRefreshMs, Math.max(0, deadline - Date.now()));
        await this.refresh(every).catch(() => undefined);
        this.endPollMs = Math.min(this.endPollMs * 2, this.minRefreshMs);
      }
    } finally {
      if (--this.endWaiters === 0) this.endPollMs = FIRST_END_POLL_MS;
    }
    return job.endedText !== undefined;
  }

  /**
   * Stop one. A running one (whose worker was normally told to stop) gets `graceMs` to end by
   * itself; anything still active is then stopped, and we wait up to `waitMs` for it to end.
   * @throws AwsError when the stop call fails.
   */
  async stop(job: T, reason: string, graceMs: number, waitMs: number): Promise<void> {
    if (job.endedText !== undefined) return;
    await this.refresh().catch(() => undefined);
    if (job.endedText !== undefined) return;
    if (this.api.isRunning(job.detail) && graceMs > 0 && (await this.waitEnded(job, graceMs))) return;
    await this.api.stop(job.id, reason);
    await this.waitEnded(job, waitMs);
  }
}
