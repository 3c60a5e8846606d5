/**
 * The run report's data: everything the page shows, as JSON (`run.json` beside `run.html`), so
 * that `riots report run.json -o run.html` can draw it again without the run or its outputs.
 */
import type { TimingsData } from '../timings.js';
import type { BlockEvents } from './recorder.js';

export const RUN_RECORD_FORMAT = 'riots-run-report';
export const RUN_RECORD_VERSION = 1;

/** One band of an output: what it has stored, and its histogram. */
export interface BandSummary {
  band: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  stddev: number | null;
  nodata: number | null;
  histogram: { min: number; max: number; counts: number[] } | null;
}

export interface OutputSummary {
  name: string;
  path: string;
  /** False when the run failed before the output reached its final path. */
  exists: boolean;
  cols?: number;
  rows?: number;
  dataType?: string;
  thematic?: boolean;
  bands?: BandSummary[];
  /** A PNG (base64) at most 480 pixels on its longer side, with the output's aspect ratio. */
  quicklook?: { png: string; width: number; height: number };
  /** Why the summary is missing or partial. */
  note?: string;
}

export interface RunRecord {
  format: typeof RUN_RECORD_FORMAT;
  version: typeof RUN_RECORD_VERSION;
  startedAt: string;
  wallSeconds: number;
  /** Null when the run succeeded. */
  error: { name: string; message: string } | null;
  versions: { riots: string; gdal: string; node: string };
  /** The worker kind and counts, and the controls the caller gave (what differs from the defaults). */
  settings: {
    computeWorkerKind: string;
    numComputeWorkers: number;
    numReadWorkers: number;
    computeWorkersRead: boolean;
    /** Sets of input handles the main read with, and whether riots chose the count (absent from records written before riots chose it). */
    readSets?: { sets: number; auto: boolean };
    controls: unknown;
  };
  grid: { projection: string; transform: number[]; cols: number; rows: number } | null;
  /** The block plan: block i covers window i in row-major order. */
  plan: { cols: number; rows: number; windowXSize: number; windowYSize: number; overlap: number; blocks: number } | null;
  phases: TimingsData;
  /** Per compute worker, its own phases. */
  workerPhases: Record<string, TimingsData>;
  events: BlockEvents | null;
  outputs: OutputSummary[];
}

/** Check that `v` is a run record this version of riots can draw. */
export function asRunRecord(v: unknown, where: string): RunRecord {
  const r = v as Partial<RunRecord> | null;
  if (r === null || typeof r !== 'object' || r.format !== RUN_RECORD_FORMAT)
    throw new Error(`${where} is not a riots run record (no "format": "${RUN_RECORD_FORMAT}")`);
  if (r.version !== RUN_RECORD_VERSION)
    throw new Error(`${where} is a run record of version ${String(r.version)}; this riots draws version ${RUN_RECORD_VERSION}`);
  return r as RunRecord;
}
