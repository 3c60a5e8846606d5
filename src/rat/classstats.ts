/**
 * Per-class statistics: over a thematic image (classes, e.g. segments or fields) and a continuous
 * one, each class's pixel count, mean, minimum, maximum and standard deviation, computed in one
 * `apply()` pass (with any compute workers: each keeps its own accumulators, merged here) and
 * written as columns of the thematic image's raster attribute table.
 *
 * @example
 * ```ts
 * import { calcClassStats } from 'riots';
 * const s = await calcClassStats('segments.img', 'image.tif', { band: 4, columnPrefix: 'NIR_' });
 * // columns NIR_Count, NIR_Mean, NIR_Min, NIR_Max, NIR_StdDev in segments.img's table
 * ```
 */
import { apply } from '../applier/apply.js';
import type { ControlsInput } from '../controls.js';
import { ControlsError } from '../errors.js';
import { checkKnownKeys } from '../settings.js';
import { RatFile } from '../gdal/rattable.js';
import { classStatsBlock, mergeAccumulators, newAccumulators, type ClassAccumulators } from './classstatsblock.js';

export const CLASS_STATS = ['Count', 'Mean', 'Min', 'Max', 'StdDev'] as const;
export type ClassStatName = (typeof CLASS_STATS)[number];

export interface ClassStatsOptions {
  /** The continuous image's band (default 1). */
  band?: number;
  /** The thematic image's band, whose values are the classes and whose table gets the columns (default 1). */
  classBand?: number;
  /** Put before each column name (default ''): `${prefix}Mean`, … */
  columnPrefix?: string;
  /** Which statistics to write (default all of CLASS_STATS). */
  stats?: ClassStatName[];
  /** Write nothing; only return the statistics. */
  noWrite?: boolean;
  /**
   * apply() controls: concurrency, window size, resampling of the continuous image, … The
   * images are named `classes` and `values`; the working grid is the thematic image's
   * (referenceImage 'classes') unless a reference is given. overlap is refused (pixels would count twice).
   */
  controls?: ControlsInput<'classes' | 'values'>;
}

/** Per class (index = class value): pixels counted, and statistics of their values (NaN where a class has none). */
export interface ClassStats {
  count: Float64Array;
  mean: Float64Array;
  min: Float64Array;
  max: Float64Array;
  /** Population standard deviation (numpy's default, ddof 0). */
  stddev: Float64Array;
}

const KEYS = ['band', 'classBand', 'columnPrefix', 'stats', 'noWrite', 'controls'];

/**
 * Count, mean, min, max and standard deviation of `valuesFile`'s band per class of
 * `classesFile`'s band, written to the classes band's RAT (rows 0..largest class; an empty class
 * gets count 0 and 0 elsewhere in the table) unless `noWrite`. Pixels that are nodata in either
 * image, or NaN, are left out.
 * @throws {ControlsError} on unknown options or overlap; {RatError} when the table cannot be written.
 */
export async function calcClassStats(classesFile: string, valuesFile: string, opts: ClassStatsOptions = {}): Promise<ClassStats> {
  checkKnownKeys(opts, KEYS, 'calcClassStats options', 'calcClassStats()');
  const band = opts.band ?? 1;
  const classBand = opts.classBand ?? 1;
  for (const [k, v] of [
    ['band', band],
    ['classBand', classBand],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ControlsError(`calcClassStats: ${k} must be a whole number from 1 (got ${String(v)})`);
  }
  const stats = opts.stats ?? [...CLASS_STATS];
  const bad = stats.find((s) => !CLASS_STATS.includes(s));
  if (bad !== undefined) throw new ControlsError(`calcClassStats: stats must be among ${CLASS_STATS.join(', ')} (got ${String(bad)})`);
  const given = opts.controls ?? {};
  if (given.overlap !== undefined && given.overlap !== 0)
    throw new ControlsError('calcClassStats: overlap would count the pixels of block margins twice; leave it out');
  const controls: ControlsInput<'classes' | 'values'> = {
    ...(given.referenceImage === undefined && given.referencePixgrid === undefined ? { referenceImage: 'classes' } : {}),
    ...given,
    images: {
      ...given.images,
      classes: { ...given.images?.classes, layerSelection: [classBand] },
      values: { ...given.images?.values, layerSelection: [band] },
    },
  };
  const acc = newAccumulators();
  const r = await apply(classStatsBlock, { classes: classesFile, values: valuesFile }, {}, { otherArgs: acc, controls });
  const total = newAccumulators();
  for (const a of r.otherArgsList) mergeAccumulators(total, a);
  const out = finish(total);
  if (!opts.noWrite) writeColumns(classesFile, classBand, out, stats, opts.columnPrefix ?? '');
  return out;
}

/** Statistics of classes 0..largest class seen (the accumulators grow in steps beyond it). */
function finish(a: ClassAccumulators): ClassStats {
  let n = a.count.length;
  while (n > 0 && a.count[n - 1] === 0) n--;
  const none = (k: number, v: number): number => (a.count[k]! > 0 ? v : NaN);
  return {
    count: a.count.slice(0, n),
    mean: Float64Array.from({ length: n }, (_, k) => none(k, a.mean[k]!)),
    min: Float64Array.from({ length: n }, (_, k) => none(k, a.min[k]!)),
    max: Float64Array.from({ length: n }, (_, k) => none(k, a.max[k]!)),
    stddev: Float64Array.from({ length: n }, (_, k) => none(k, Math.sqrt(a.m2[k]! / a.count[k]!))),
  };
}

function writeColumns(file: string, band: number, s: ClassStats, which: ClassStatName[], prefix: string): void {
  const f = RatFile.open(file, true);
  let ok = false;
  try {
    const t = f.table(band);
    const col: Record<ClassStatName, Float64Array> = { Count: s.count, Mean: s.mean, Min: s.min, Max: s.max, StdDev: s.stddev };
    for (const name of which) {
      const v = name === 'Count' ? Int32Array.from(col.Count) : col[name].map((x) => (Number.isNaN(x) ? 0 : x));
      t.write(prefix + name, v, { usage: name === 'Min' ? 'Min' : name === 'Max' ? 'Max' : 'Generic' });
    }
    ok = true;
  } finally {
    f.close(ok);
  }
}
