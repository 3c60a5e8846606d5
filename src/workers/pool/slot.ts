/**
 * One out-of-process worker as the main sees it (piscina's WorkerInfo is the model): its state,
 * its launch handle and connection, when it was last heard from, its timings and its final
 * report. Its in-flight blocks are the scheduler's books for its id (scheduler.ts). A
 * {@link SlotTable} holds every slot of a run and knows which are still alive.
 *
 *   launching -> connected -> ready -> finishing -> finished
 *        \            \          \          \
 *         failed        lost      lost       lost
 */
import { settleWithin } from '../../timeout.js';
import { Timings } from '../../timings.js';
import type { WorkerConnection } from '../channel/channel.js';
import type { Launcher } from './launcher.js';
import type { SingleBlockPolicy } from './singleblock.js';

/** At the end, how long a worker that sent its final report may take to exit before it is cancelled. */
const FINISHED_EXIT_GRACE_MS = 2000;

export type SlotState = 'launching' | 'connected' | 'ready' | 'finishing' | 'finished' | 'lost' | 'failed';

export class WorkerSlot<H> {
  state: SlotState = 'launching';
  handle: H | undefined;
  conn: WorkerConnection | undefined;
  /** Why it failed or was lost. */
  reason: string | undefined;
  /** Bytes received from it when it was last seen to send something, and when. */
  lastBytes = 0;
  lastSeen = Date.now();
  readonly timings = new Timings();
  /** Its final report. */
  otherArgs: unknown;
  /** Set when it is told to shut down: resolves on its final report (or its loss). */
  done: Promise<void> | undefined;
  private reported: (() => void) | undefined;
  /** Cancels it a while after it was declared lost. */
  killTimer: NodeJS.Timeout | undefined;

  constructor(readonly id: number) {}

  /** Finished, lost or failed: it takes no more work. */
  get gone(): boolean {
    return this.state === 'finished' || this.state === 'lost' || this.state === 'failed';
  }

  /** Connected and not yet told to stop: it may take blocks (once ready). */
  get working(): boolean {
    return this.state === 'connected' || this.state === 'ready';
  }

  connected(conn: WorkerConnection): void {
    this.conn = conn;
    this.lastBytes = conn.bytesReceived;
    this.lastSeen = Date.now();
  }

  /** Tell it to shut down: it sends its final report and exits 0. Resolves on the report or its loss. */
  shutdown(reason: string | null): Promise<void> {
    this.done = new Promise<void>((r) => (this.reported = r));
    void this.conn?.send({ type: 'shutdown', reason }).catch(() => undefined);
    return this.done;
  }

  /** Its final report arrived (or it was lost while finishing): whoever waits in {@link done} goes on. */
  ended(otherArgs?: unknown): void {
    if (otherArgs !== undefined) this.otherArgs = otherArgs;
    this.reported?.();
  }

  /**
   * How long it has sent nothing at all, in ms, noting any bytes since the last look. While this
   * process itself was stalled (`stalled`) its bytes may be waiting unread: it counts as heard.
   */
  silence(now: number, stalled: boolean): number {
    const c = this.conn;
    if (!c) return 0;
    if (stalled || c.bytesReceived !== this.lastBytes) {
      this.lastBytes = c.bytesReceived;
      this.lastSeen = now;
    }
    return now - this.lastSeen;
  }

  /**
   * At the end of the run: a worker that sent its final report is exiting, and may end by itself
   * (exit 0) for a moment where the kind notices at once; anything still there is then cancelled.
   * Never throws: a worker that cannot be cancelled does not stop the rest of the teardown.
   */
  async stop(launcher: Launcher<H>): Promise<void> {
    try {
      if (this.handle !== undefined && this.state === 'finished' && launcher.ended && launcher.endNoticedPromptly) {
        await settleWithin(launcher.ended(this.handle), FINISHED_EXIT_GRACE_MS);
      }
      // (a single-block worker seen to end has no handle any more)
      if (this.handle !== undefined) await launcher.cancel(this.handle);
    } catch {
      // nothing more can be done for it here
    }
  }

  /** "worker 3 (job 1234): lost: <why>; <the launcher's status>", for error messages. */
  async describe(launcher: Launcher<H>): Promise<string> {
    let st = this.reason ?? this.state;
    if (this.handle !== undefined) {
      const more = await launcher.status(this.handle).catch(() => '');
      if (more && !st.includes(more)) st += `; ${more}`;
    }
    return `worker ${this.id} (${this.handle !== undefined ? launcher.describe(this.handle) : 'not started'}): ${st}`;
  }
}

/** Every worker slot of a run, by id, and the set of those not gone. */
export class SlotTable<H> {
  readonly all: WorkerSlot<H>[] = [];
  /** Slots not yet finished, lost or failed. */
  readonly live = new Set<WorkerSlot<H>>();

  add(): WorkerSlot<H> {
    const slot = new WorkerSlot<H>(this.all.length);
    this.all.push(slot);
    this.live.add(slot);
    return slot;
  }

  get(id: number): WorkerSlot<H> | undefined {
    return this.all[id];
  }

  setState(slot: WorkerSlot<H>, state: SlotState): void {
    slot.state = state;
    if (slot.gone) this.live.delete(slot);
  }

  /**
   * Every worker and its state, for error messages. With singleBlockComputeWorkers (`single`),
   * the workers that did their block are left out and only the last 12 others are listed.
   */
  async describe(launcher: Launcher<H>, single?: Pick<SingleBlockPolicy, 'forMessages'>): Promise<string> {
    const { slots, more } = single ? single.forMessages(this.all) : { slots: this.all, more: '' };
    const parts = await Promise.all(slots.map((s) => s.describe(launcher)));
    return parts.join(' | ') + more;
  }

  get anyWorking(): boolean {
    for (const s of this.live) if (s.working) return true;
    return false;
  }

  get anyLaunching(): boolean {
    for (const s of this.live) if (s.state === 'launching') return true;
    return false;
  }
}
