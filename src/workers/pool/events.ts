/**
 * Events of the channel worker backend, published on the `node:diagnostics_channel` channel
 * {@link WORKER_EVENTS} for tests and diagnostics (subscribe with `diagnostics_channel.subscribe`).
 * Publishing costs nothing when nobody listens.
 */
import diagnostics from 'node:diagnostics_channel';

/** The diagnostics_channel name on which {@link WorkerEvent}s are published. */
export const WORKER_EVENTS = 'riots:workers';
const events = diagnostics.channel(WORKER_EVENTS);

export type WorkerEvent =
  | { event: 'bundled'; files: string[]; packages: string[]; bytes: number }
  | { event: 'launched'; workerId: number; handle: string }
  | { event: 'connected'; workerId: number; pid: number; hostname: string }
  | { event: 'ready'; workerId: number }
  | { event: 'dispatched'; workerId: number; blockIndex: number; attempt: number }
  | { event: 'result'; workerId: number; blockIndex: number; attempt: number }
  | { event: 'discarded'; workerId: number; blockIndex: number; attempt: number }
  | { event: 'lost'; workerId: number; reason: string; requeued: number[] }
  /** Its final report (otherArgs) arrived after a shutdown: it exits by itself. */
  | { event: 'finished'; workerId: number }
  | { event: 'ended'; workerId: number; status: string }
  /** At the end of the run: how many block buffers the main took, and how many of those were reused ones (src/bufferpool.ts). */
  | { event: 'buffers'; taken: number; reused: number; given: number };

export function publish(e: WorkerEvent): void {
  if (events.hasSubscribers) events.publish(e);
}
