/**
 * Writing the run report: the record gathered from the run and its outputs (statistics stored in
 * each file, a quicklook from its overviews), then `X.json` and `X.html`, each written under a
 * temporary name and renamed into place, so a report is whole or absent.
 */
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gdal } from '../gdal/index.js';
import { readStoredStats } from '../gdal/filestats.js';
import { makeQuicklook } from '../gdal/quicklook.js';
import { riotsVersion } from '../packageroot.js';
import type { PixelGridSpec } from '../grid.js';
import type { BlockPlan } from '../blockplan.js';
import type { Timings } from '../timings.js';
import { renderReport } from './html.js';
import { RUN_RECORD_FORMAT, RUN_RECORD_VERSION, type OutputSummary, type RunRecord } from './record.js';
import type { BlockEvents, RunRecorder } from './recorder.js';

export interface RunFacts {
  startedAt: Date;
  wallSeconds: number;
  error: unknown;
  settings: RunRecord['settings'];
  grid: PixelGridSpec | undefined;
  plan: BlockPlan | undefined;
  timings: Timings;
  workerTimings: Map<number, Timings>;
  recorder: RunRecorder | undefined;
  /** The recorder's events, when taken already. */
  events?: BlockEvents;
  outputs: { name: string; path: string }[];
}

/** The JSON file beside a report: run.html → run.json. */
export function recordPathFor(htmlPath: string): string {
  return htmlPath.replace(/\.html?$/i, '') + '.json';
}

async function summarize(o: { name: string; path: string }): Promise<OutputSummary> {
  if (!existsSync(o.path)) return { ...o, exists: false, note: 'the run did not finish it' };
  try {
    const stored = await readStoredStats(o.path);
    const ranges = stored.bands.map((b) => (b.stats.min !== undefined && b.stats.max !== undefined ? ([b.stats.min, b.stats.max] as [number, number]) : null));
    const ql = await makeQuicklook(o.path, 480, ranges).catch(() => null);
    return {
      ...o,
      exists: true,
      cols: stored.xsize,
      rows: stored.ysize,
      dataType: stored.dtype,
      thematic: stored.bands.some((b) => b.stats.layerType === 'thematic'),
      bands: stored.bands.map((b) => ({
        band: b.band,
        min: b.stats.min ?? null,
        max: b.stats.max ?? null,
        mean: b.stats.mean ?? null,
        stddev: b.stats.stddev ?? null,
        nodata: b.nodata,
        histogram: b.stats.histogram ? { min: b.stats.histogram.histMin, max: b.stats.histogram.histMax, counts: Array.from(b.stats.histogram.counts) } : null,
      })),
      ...(ql ? { quicklook: { png: ql.png.toString('base64'), width: ql.width, height: ql.height } } : {}),
    };
  } catch (err) {
    return { ...o, exists: true, note: `could not be read back: ${(err as Error).message}` };
  }
}

/** Gather the record of a finished (or failed) run. */
export async function gatherRunRecord(f: RunFacts): Promise<RunRecord> {
  const err = f.error as { name?: string; message?: string } | undefined;
  return {
    format: RUN_RECORD_FORMAT,
    version: RUN_RECORD_VERSION,
    startedAt: f.startedAt.toISOString(),
    wallSeconds: f.wallSeconds,
    error: f.error === undefined ? null : { name: err?.name ?? 'Error', message: err?.message ?? String(f.error) },
    versions: { riots: riotsVersion(), gdal: gdal.version, node: process.version },
    settings: f.settings,
    grid: f.grid ? { projection: f.grid.projection, transform: [...f.grid.transform], cols: f.grid.cols, rows: f.grid.rows } : null,
    plan: f.plan
      ? {
          cols: f.plan.cols,
          rows: f.plan.rows,
          windowXSize: f.plan.windowXSize,
          windowYSize: f.plan.windowYSize,
          overlap: f.plan.overlap,
          blocks: f.plan.total,
        }
      : null,
    phases: f.timings.toJSON(),
    workerPhases: Object.fromEntries([...f.workerTimings].map(([id, t]) => [`worker ${id}`, t.toJSON()])),
    events: f.events ?? (f.recorder ? f.recorder.toJSON() : null),
    outputs: await Promise.all(f.outputs.map(summarize)),
  };
}

function writeWhole(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Write `record` as JSON beside `htmlPath` and as the page at `htmlPath`. */
export function writeReportFiles(htmlPath: string, record: RunRecord, timeline?: string): void {
  writeWhole(recordPathFor(htmlPath), JSON.stringify(record));
  writeReportPage(htmlPath, record, timeline);
}

/** Write the page alone (`timeline`: drawn already, see renderTimeline). */
export function writeReportPage(htmlPath: string, record: RunRecord, timeline?: string): void {
  writeWhole(htmlPath, timeline === undefined ? renderReport(record) : renderReport(record, timeline));
}
