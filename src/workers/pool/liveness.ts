/**
 * Whether a run still has workers, and every wait for them bounded: workers silent for
 * workerLostSeconds are declared lost (the monitor); the first worker must be ready within
 * computeBarrierTimeout; and when every worker is gone the run fails instead of waiting for ever
 * (with only workers still starting, it waits for one of them at most computeBarrierTimeout).
 */
import { TimeoutError, WorkerLostError } from '../../errors.js';
import type { ChannelBackendSettings } from './settings.js';
import type { SingleBlockPolicy } from './singleblock.js';
import type { SlotTable, WorkerSlot } from './slot.js';

/** What the liveness checks see of, and do to, the backend. */
export interface LivenessHost<H> {
  readonly kind: string;
  readonly slots: SlotTable<H>;
  readonly single: SingleBlockPolicy | undefined;
  readonly settings: ChannelBackendSettings;
  /** computeBarrierTimeout, seconds (null: none). */
  readonly barrierSeconds: number | null;
  /** Blocks not yet done. */
  pending(): number;
  /** Whether any worker of the run has been ready. */
  anyReady(): boolean;
  /** singleBlockComputeWorkers: launch what is missing. */
  topUp(): void;
  lose(slot: WorkerSlot<H>, reason: string): void;
  fail(err: unknown): void;
  /** Every worker and its state, for messages. */
  describe(): Promise<string>;
}

export class Liveness<H> {
  private monitor: NodeJS.Timeout | undefined;
  private noWorkerTimer: NodeJS.Timeout | undefined;

  constructor(private readonly host: LivenessHost<H>) {}

  /** Declare workers lost that send nothing, not even a heartbeat, for workerLostSeconds. */
  startMonitor(): void {
    const { settings } = this.host;
    const lostMs = settings.workerLostSeconds * 1000;
    const tick = Math.max(20, Math.min(settings.heartbeatSeconds * 1000, lostMs / 4));
    let last = Date.now();
    this.monitor = setInterval(() => {
      const now = Date.now();
      // this process stalled (a long synchronous step): the workers' bytes may be waiting unread
      const stalled = now - last > Math.max(2 * tick, 1000);
      last = now;
      for (const slot of this.host.slots.live) {
        if (!slot.working || slot.silence(now, stalled) <= lostMs) continue;
        this.host.lose(
          slot,
          `sent nothing, not even a heartbeat, for more than ${settings.workerLostSeconds} s (workerLostSeconds: a user function that keeps a worker busy longer than that on one block needs a larger value)`,
        );
      }
    }, tick);
    this.monitor.unref();
  }

  /** Resolves when `barrier` does (the first worker is ready); fails the run after computeBarrierTimeout. */
  waitFirst(barrier: Promise<void>): Promise<void> {
    const secs = this.host.barrierSeconds;
    if (secs === null) return barrier;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        void this.host.describe().then((d) => {
          const err = new TimeoutError(
            `timed out after ${secs} s (computeBarrierTimeout) waiting for the first ${this.host.kind} compute worker to be ready: ${d}`,
          );
          this.host.fail(err);
          reject(err);
        });
      }, secs * 1000);
      barrier.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  /**
   * After a worker was ready, lost or failed: fail the run when every worker is gone. With
   * singleBlockComputeWorkers workers come and go, so "every worker gone" means the policy gave
   * up launching; otherwise launch what is missing and, while blocks are left and no worker is
   * connected, wait at most computeBarrierTimeout for one (before the first: {@link waitFirst}'s job).
   */
  check(): void {
    const { slots, single: sb, kind } = this.host;
    const gaveUp = sb?.gaveUp();
    if (gaveUp !== undefined || (!sb && !slots.anyWorking && !slots.anyLaunching)) {
      const pending = this.host.pending();
      void this.host.describe().then((d) => {
        this.host.fail(new WorkerLostError(`every ${kind} compute worker is gone, with ${pending} block(s) not done: ${gaveUp ? `${gaveUp}: ` : ''}${d}`));
      });
      return;
    }
    if (sb) this.host.topUp();
    const waitNeeded = sb ? !slots.anyWorking && this.host.anyReady() && sb.blocksLeft > 0 : !slots.anyWorking;
    if (!waitNeeded) {
      clearTimeout(this.noWorkerTimer);
      this.noWorkerTimer = undefined;
      return;
    }
    const secs = this.host.barrierSeconds;
    if (secs === null || this.noWorkerTimer !== undefined) return;
    this.noWorkerTimer = setTimeout(() => {
      const why = sb ? `with ${sb.blocksLeft} block(s) not done` : 'after the others were lost';
      void this.host.describe().then((d) => {
        this.host.fail(new TimeoutError(`no ${kind} compute worker was ready for ${secs} s (computeBarrierTimeout) ${why}: ${d}`));
      });
    }, secs * 1000);
    this.noWorkerTimer.unref();
  }

  stop(): void {
    clearInterval(this.monitor);
    clearTimeout(this.noWorkerTimer);
  }
}
