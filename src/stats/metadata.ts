/**
 * Statistics as GDAL band metadata (the STATISTICS_* keys gdalinfo and RIOS users read), and
 * back again.
 */
import type { BasicStats } from './basic.js';
import { medianAndMode, type BinFunction, type Histogram } from './histogram.js';

/** Keys riots writes; any of them left from an earlier run is replaced or removed. */
export const STATS_KEYS = [
  'STATISTICS_MINIMUM',
  'STATISTICS_MAXIMUM',
  'STATISTICS_MEAN',
  'STATISTICS_STDDEV',
  'STATISTICS_VALID_PERCENT',
  'STATISTICS_EXCLUDEDVALUES',
  'STATISTICS_SKIPFACTORX',
  'STATISTICS_SKIPFACTORY',
  'STATISTICS_APPROXIMATE',
  'STATISTICS_HISTOMIN',
  'STATISTICS_HISTOMAX',
  'STATISTICS_HISTONUMBINS',
  'STATISTICS_HISTOBINVALUES',
  'STATISTICS_HISTOBINFUNCTION',
  'STATISTICS_MEDIAN',
  'STATISTICS_MODE',
] as const;

/** Numbers as the shortest text that reads back to the same float64. */
function num(v: number): string {
  return String(v);
}

/**
 * Basic statistics as metadata, with what RIOS writes beside them for other tools: the value left
 * out (STATISTICS_EXCLUDEDVALUES, read by QGIS), and skip factors of 1 (every pixel was counted)
 * or, for statistics from a pyramid level, STATISTICS_APPROXIMATE=YES.
 */
export function basicStatsMetadata(s: BasicStats, excluded: number | null, approximate = false): Record<string, string> {
  const md: Record<string, string> = {
    STATISTICS_MINIMUM: num(s.min),
    STATISTICS_MAXIMUM: num(s.max),
    STATISTICS_MEAN: num(s.mean),
    STATISTICS_STDDEV: num(s.stddev),
    STATISTICS_VALID_PERCENT: num(s.total > 0 ? (100 * s.count) / s.total : 0),
    ...(approximate ? { STATISTICS_APPROXIMATE: 'YES' } : { STATISTICS_SKIPFACTORX: '1', STATISTICS_SKIPFACTORY: '1' }),
  };
  if (excluded !== null) md.STATISTICS_EXCLUDEDVALUES = num(excluded);
  return md;
}

/** The histogram's metadata, with the median and mode from it (whole numbers for `integerData`). */
export function histogramMetadata(h: Histogram, integerData: boolean): Record<string, string> {
  const md: Record<string, string> = {
    STATISTICS_HISTOMIN: num(h.histMin),
    STATISTICS_HISTOMAX: num(h.histMax),
    STATISTICS_HISTONUMBINS: String(h.numBins),
    STATISTICS_HISTOBINVALUES: Array.from(h.counts, (c) => String(c)).join('|') + '|',
    STATISTICS_HISTOBINFUNCTION: h.binFunction,
  };
  const mm = medianAndMode(h, integerData);
  if (mm) {
    md.STATISTICS_MEDIAN = num(mm.median);
    md.STATISTICS_MODE = num(mm.mode);
  }
  return md;
}

/** Existing metadata with riots' statistics keys replaced by `fresh`. */
export function mergeStatsMetadata(existing: Record<string, string>, fresh: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(existing)) {
    if (!(STATS_KEYS as readonly string[]).includes(k)) out[k] = v;
  }
  return { ...out, ...fresh };
}

export interface StoredStats {
  min?: number;
  max?: number;
  mean?: number;
  stddev?: number;
  validPercent?: number;
  median?: number;
  mode?: number;
  histogram?: Histogram;
  layerType?: string;
}

/** Read statistics back from band metadata (missing or malformed keys are left out). */
export function parseStatsMetadata(md: Record<string, string>): StoredStats {
  const out: StoredStats = {};
  const n = (k: string): number | undefined => {
    const v = md[k];
    if (v === undefined || v.trim() === '') return undefined;
    const x = Number(v);
    return Number.isNaN(x) && v.trim().toLowerCase() !== 'nan' ? undefined : x;
  };
  const set = <K extends keyof StoredStats>(k: K, v: StoredStats[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('min', n('STATISTICS_MINIMUM'));
  set('max', n('STATISTICS_MAXIMUM'));
  set('mean', n('STATISTICS_MEAN'));
  set('stddev', n('STATISTICS_STDDEV'));
  set('validPercent', n('STATISTICS_VALID_PERCENT'));
  set('median', n('STATISTICS_MEDIAN'));
  set('mode', n('STATISTICS_MODE'));
  set('layerType', md.LAYER_TYPE);
  const hmin = n('STATISTICS_HISTOMIN');
  const hmax = n('STATISTICS_HISTOMAX');
  const nb = n('STATISTICS_HISTONUMBINS');
  const vals = md.STATISTICS_HISTOBINVALUES;
  if (hmin !== undefined && hmax !== undefined && nb !== undefined && vals !== undefined) {
    const counts = Float64Array.from(
      vals.split('|').filter((s) => s !== ''),
      (s) => Number(s),
    );
    const fn = (md.STATISTICS_HISTOBINFUNCTION ?? 'linear') as BinFunction;
    out.histogram = { histMin: hmin, histMax: hmax, numBins: nb, binFunction: fn === 'direct' ? 'direct' : 'linear', counts };
  }
  return out;
}
