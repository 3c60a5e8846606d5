/**
 * `controls.report`: a recorder for the run's blocks (only when a report is asked for: without
 * one, nothing is recorded and the pipeline's hooks are skipped), and the report written once the
 * run has succeeded or failed. A report that cannot be written is a warning
 * (`RIOTS_REPORT_FAILED`), never the run's result: the outputs are already in place, or the run's
 * own error is what the caller must see.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ConcurrencyStyle } from '../concurrency.js';
import { ControlsError } from '../errors.js';
import type { ImageRef } from '../reader/inputs.js';
import type { BlockPlan } from '../blockplan.js';
import type { PixelGridSpec } from '../grid.js';
import type { Timings } from '../timings.js';
import { RunRecorder, type BlockEvents } from '../report/recorder.js';
import { renderTimeline } from '../report/html.js';
import { gatherRunRecord, recordPathFor, writeReportFiles } from '../report/write.js';
import { REPORT_PAGE_MARK } from '../report/html.js';
import { RUN_RECORD_FORMAT } from '../report/record.js';

/**
 * The report's path, checked before the run starts: its folder must exist, and neither the page
 * nor the JSON beside it may replace a file that is not an earlier riots report (a `config.html`
 * report must not overwrite someone's `config.json`).
 */
export function checkReportPath(p: string): string {
  const dir = path.dirname(path.resolve(p));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ControlsError(`controls.report: the folder of ${p} (${dir}) does not exist`);
  for (const [file, mark] of [
    [p, REPORT_PAGE_MARK],
    [recordPathFor(p), `{"format":"${RUN_RECORD_FORMAT}"`],
  ] as const) {
    if (!existsSync(file)) continue;
    if (!statSync(file).isFile() || !startsWithin(file, mark)) {
      throw new ControlsError(`controls.report: ${file} exists and is not a riots run report; riots writes the report there and will not replace it`);
    }
  }
  return p;
}

/** Whether `mark` appears in the first 512 bytes of `file`. */
function startsWithin(file: string, mark: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(512);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString('utf8').includes(mark);
  } finally {
    closeSync(fd);
  }
}

export class RunReport {
  private readonly startedAt = new Date();
  private readonly t0 = performance.now();
  recorder: RunRecorder | undefined;
  private unlisten: (() => void) | undefined;
  grid: PixelGridSpec | undefined;
  plan: BlockPlan | undefined;
  private readSets: { sets: number; auto: boolean } | undefined;
  private events: BlockEvents | undefined;
  private timeline: string | undefined;
  private timelineSeconds = 0;

  constructor(
    readonly htmlPath: string,
    private readonly concurrency: ConcurrencyStyle,
    private readonly controlsGiven: unknown,
    private readonly outputs: { name: string; path: string }[],
  ) {}

  /** The report `controls.report` asks for (its folder checked now), or undefined. */
  static ifAsked(htmlPath: string | undefined, concurrency: ConcurrencyStyle, controlsGiven: unknown, outRefs: readonly ImageRef[]): RunReport | undefined {
    if (htmlPath === undefined) return undefined;
    const outputs = outRefs.map((r) => ({ name: r.listIndex === null ? r.name : `${r.name}[${r.listIndex}]`, path: r.path }));
    return new RunReport(checkReportPath(htmlPath), concurrency, controlsGiven, outputs);
  }

  /** Start recording the blocks of `plan` on `grid`, read with `readSets` sets of handles. */
  begin(grid: PixelGridSpec, plan: BlockPlan, readSets?: { sets: number; auto: boolean }): RunRecorder {
    this.grid = grid;
    this.plan = plan;
    this.readSets = readSets;
    this.recorder = new RunRecorder(plan.total, this.t0);
    this.unlisten = this.recorder.listen();
    return this.recorder;
  }

  /**
   * Once the last block is written: take the events and draw the timeline (the page's largest
   * part) now, while the outputs get their statistics and pyramids, mostly on GDAL's threads.
   */
  async drawTimeline(): Promise<void> {
    if (!this.recorder || !this.plan) return;
    await new Promise((r) => setImmediate(r)); // after the finishing work has started
    const t0 = performance.now();
    try {
      const events = this.recorder.toJSON();
      const p = this.plan;
      this.timeline = renderTimeline({
        events,
        plan: { cols: p.cols, rows: p.rows, windowXSize: p.windowXSize, windowYSize: p.windowYSize, overlap: p.overlap, blocks: p.total },
      });
      this.events = events;
      this.timelineSeconds = (performance.now() - t0) / 1000;
    } catch {
      // drawn again with the rest in write(), which reports what goes wrong
    }
  }

  /** Write the report (after the outputs are committed, or after the failure was cleaned up). */
  async write(error: unknown, timings: Timings, workerTimings: Map<number, Timings>): Promise<void> {
    this.unlisten?.();
    this.unlisten = undefined;
    const c = this.concurrency;
    const t0 = performance.now();
    try {
      const record = await gatherRunRecord({
        startedAt: this.startedAt,
        wallSeconds: (performance.now() - this.t0) / 1000,
        error,
        settings: {
          computeWorkerKind: c.computeWorkerKind,
          numComputeWorkers: c.numComputeWorkers,
          numReadWorkers: c.numReadWorkers,
          ...(this.readSets ? { readSets: this.readSets } : {}),
          computeWorkersRead: c.computeWorkersRead,
          controls: jsonSafe(this.controlsGiven),
        },
        grid: this.grid,
        plan: this.plan,
        timings,
        workerTimings,
        recorder: this.recorder,
        ...(this.events ? { events: this.events } : {}),
        outputs: this.outputs,
      });
      writeReportFiles(this.htmlPath, record, this.timeline);
      // in the returned timings (the page itself cannot hold the time it took to write)
      timings.add('report', (performance.now() - t0) / 1000);
      if (this.timeline !== undefined) timings.add('report:timeline', this.timelineSeconds);
    } catch (err) {
      process.emitWarning(`the run report ${this.htmlPath} could not be written: ${(err as Error).message}`, { code: 'RIOTS_REPORT_FAILED' });
    }
  }
}

/** The controls as given, as JSON keeps them (functions and class instances by their fields). */
function jsonSafe(v: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(v ?? {}, (_k, x: unknown) => (typeof x === 'function' ? '[function]' : typeof x === 'bigint' ? String(x) : x))) as unknown;
  } catch {
    return '(not representable as JSON)';
  }
}
