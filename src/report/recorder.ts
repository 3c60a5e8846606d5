/**
 * What happened to every block of a run, for the run report (`controls.report`): when the main
 * read it, each time it was handed to a worker and when its result came back (a block handed out
 * again after its worker was lost has two attempts, the first marked lost), and when it was
 * written. Recorded only when a report is asked for; the pipeline calls none of this otherwise.
 *
 * Memory: times are float32 seconds from the run's start in arrays that grow by doubling, 8 bytes
 * a block for its read, 8 for its write and 13 an attempt (about 30 MB for a million blocks),
 * instead of an object per event.
 */
import diagnostics from 'node:diagnostics_channel';
import { WORKER_EVENTS, type WorkerEvent } from '../workers/pool/events.js';

/** A growable column of float32 (seconds) or small unsigned integers. */
class Column<T extends Float32Array | Uint32Array | Uint16Array | Uint8Array> {
  private data: T;
  length = 0;

  constructor(private readonly make: (n: number) => T) {
    this.data = make(64);
  }

  push(v: number): number {
    if (this.length === this.data.length) {
      const next = this.make(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length] = v;
    return this.length++;
  }

  set(i: number, v: number): void {
    this.data[i] = v;
  }

  get(i: number): number {
    return this.data[i]!;
  }

  toArray(): number[] {
    return Array.from(this.data.subarray(0, this.length));
  }
}

/** Times for the JSON: milliseconds kept, -1 for what never happened. */
function seconds(xs: ArrayLike<number>): number[] {
  return Array.from(xs, (x) => (Number.isNaN(x) ? -1 : Math.round(x * 1000) / 1000));
}

/** One lane of the timeline: the main process's reader, writer or (CW_NONE) compute, or a worker. */
export interface Lane {
  id: string;
  label: string;
}

/** The recorded events as plain data (part of the report's JSON). Times in seconds from the start; -1: never happened. */
export interface BlockEvents {
  lanes: Lane[];
  /** Per block (by index): its read in the main, and its write. */
  readStart: number[];
  readEnd: number[];
  writeStart: number[];
  writeEnd: number[];
  /** Per attempt: the block, the lane (index into `lanes`), handed out, result back, lost (1) or not (0). */
  attempts: { block: number[]; lane: number[]; start: number[]; end: number[]; lost: number[] };
  /** Workers lost during the run: lane index, when, and why. */
  lost: { lane: number; at: number; reason: string }[];
}

export class RunRecorder {
  private readonly laneIds = new Map<string, number>();
  private readonly lanes: Lane[] = [];
  /** Per block: read and write times. */
  private readonly readStart: Float32Array;
  private readonly readEnd: Float32Array;
  private readonly writeStart: Float32Array;
  private readonly writeEnd: Float32Array;
  private readonly aBlock = new Column((n) => new Uint32Array(n));
  private readonly aLane = new Column((n) => new Uint16Array(n));
  private readonly aStart = new Column((n) => new Float32Array(n));
  private readonly aEnd = new Column((n) => new Float32Array(n));
  private readonly aLost = new Column((n) => new Uint8Array(n));
  /** Each block's latest attempt (index into the attempt columns), or -1. */
  private latest: Int32Array;
  private readonly lostWorkers: { lane: number; at: number; reason: string }[] = [];

  /** `t0`: the run's start (performance.now()), from which every time is counted. */
  constructor(
    readonly blocks: number,
    private readonly t0 = performance.now(),
  ) {
    this.readStart = new Float32Array(blocks).fill(NaN);
    this.readEnd = new Float32Array(blocks).fill(NaN);
    this.writeStart = new Float32Array(blocks).fill(NaN);
    this.writeEnd = new Float32Array(blocks).fill(NaN);
    this.latest = new Int32Array(blocks).fill(-1);
    for (const [id, label] of [
      ['main:read', 'main: reading'],
      ['main:compute', 'main: user function'],
      ['main:write', 'main: writing'],
    ] as const) {
      this.lane(id, label);
    }
  }

  /** Seconds since the run started. */
  now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  private lane(id: string, label = id): number {
    let k = this.laneIds.get(id);
    if (k === undefined) {
      k = this.lanes.length;
      this.lanes.push({ id, label });
      this.laneIds.set(id, k);
    }
    return k;
  }

  readStarted(block: number): void {
    this.readStart[block] = this.now();
  }

  readEnded(block: number): void {
    this.readEnd[block] = this.now();
  }

  /**
   * The block was handed to `workerId` (undefined: computed in the main's own thread). A block
   * handed out again ends its previous attempt, marked lost.
   */
  dispatched(block: number, workerId: number | undefined): void {
    const t = this.now();
    const prev = this.latest[block]!;
    if (prev >= 0 && Number.isNaN(this.aEnd.get(prev))) {
      this.aEnd.set(prev, t);
      this.aLost.set(prev, 1);
    }
    const lane = workerId === undefined ? this.lane('main:compute') : this.lane(`worker:${workerId}`, `worker ${workerId}`);
    const k = this.aBlock.push(block);
    this.aLane.push(lane);
    this.aStart.push(t);
    this.aEnd.push(NaN);
    this.aLost.push(0);
    this.latest[block] = k;
  }

  /** The block's result came back (from its latest attempt). */
  computed(block: number): void {
    const k = this.latest[block]!;
    if (k >= 0 && Number.isNaN(this.aEnd.get(k))) this.aEnd.set(k, this.now());
  }

  writeStarted(block: number): void {
    this.writeStart[block] = this.now();
  }

  writeEnded(block: number): void {
    this.writeEnd[block] = this.now();
  }

  /** A worker was lost (its blocks go to others). */
  workerLost(workerId: number, reason: string): void {
    this.lostWorkers.push({ lane: this.lane(`worker:${workerId}`, `worker ${workerId}`), at: this.now(), reason });
  }

  /**
   * Take lost workers, and each worker's host and process for its lane's label, from the worker
   * events (src/workers/pool/events.ts). Returns the function that stops listening. (Two runs
   * with compute workers at once in one process would see each other's events.)
   */
  listen(): () => void {
    const onEvent = (m: unknown): void => {
      const e = m as WorkerEvent;
      if (e.event === 'lost') this.workerLost(e.workerId, e.reason);
      else if (e.event === 'connected')
        this.lanes[this.lane(`worker:${e.workerId}`, `worker ${e.workerId}`)]!.label = `worker ${e.workerId} (pid ${e.pid}, ${e.hostname})`;
    };
    diagnostics.subscribe(WORKER_EVENTS, onEvent);
    return () => diagnostics.unsubscribe(WORKER_EVENTS, onEvent);
  }

  toJSON(): BlockEvents {
    return {
      lanes: this.lanes.map((l) => ({ ...l })),
      readStart: seconds(this.readStart),
      readEnd: seconds(this.readEnd),
      writeStart: seconds(this.writeStart),
      writeEnd: seconds(this.writeEnd),
      attempts: {
        block: this.aBlock.toArray(),
        lane: this.aLane.toArray(),
        start: seconds(this.aStart.toArray()),
        end: seconds(this.aEnd.toArray()),
        lost: this.aLost.toArray(),
      },
      lost: this.lostWorkers.map((l) => ({ ...l, at: Math.round(l.at * 1000) / 1000 })),
    };
  }
}
