/**
 * What statistics an output gets, and which pyramid levels: the options, their defaults, the
 * RIOS environment variables that change the defaults, and the choice of overview levels.
 */
import { ControlsError } from '../errors.js';

/** Aggregation methods GDAL's overview builder knows (upper case, as RIOS spells them). */
export const AGGREGATION_TYPES = ['NEAREST', 'AVERAGE', 'RMS', 'BILINEAR', 'GAUSS', 'CUBIC', 'CUBICSPLINE', 'LANCZOS', 'AVERAGE_MAGPHASE', 'MODE'] as const;

export interface StatsOptions {
  /** Leave out min, max, mean and stddev. */
  omitBasicStats: boolean;
  /** Leave out the histogram, median and mode. */
  omitHistogram: boolean;
  /** Leave out pyramid overviews. */
  omitPyramids: boolean;
  /** false means none of the three. */
  calcStats: boolean;
  /** Candidate overview levels (reduction factors), in the order they are built. */
  overviewLevels: number[];
  /** Levels are kept while floor(smallest side / level) > overviewMinDim (RIOS's rule). */
  overviewMinDim: number;
  /** GDAL resampling for pyramids; NEAREST is written while the output is written. */
  overviewAggregationType: string;
  /** overviewAggregationType was asked for (not a default): thematic layers then use it too. */
  overviewAggregationGiven: boolean;
  /** Thematic layer: LAYER_TYPE=thematic, one histogram bin per class, NEAREST pyramids. */
  thematic: boolean;
  /** Statistics and histogram from the pyramid level GDAL samples for approximate statistics, after the pyramids (RIOS's approxStats). */
  approxStats: boolean;
  /** false: NEAREST pyramids are built by GDAL after writing, not block by block (RIOS's singlePassPyramids). */
  singlePassPyramids: boolean;
  /** false: basic statistics are computed by reading the output back after writing (RIOS's singlePassBasicStats). */
  singlePassBasicStats: boolean;
  /** false: the histogram is binned by reading the output back after writing (RIOS's singlePassHistogram). */
  singlePassHistogram: boolean;
  /** Value left out of statistics and histograms (statsIgnore); null ignores nothing. */
  nodata: number | null;
}

export const DEFAULT_STATS_OPTIONS: Readonly<StatsOptions> = Object.freeze({
  omitBasicStats: false,
  omitHistogram: false,
  omitPyramids: false,
  calcStats: true,
  overviewLevels: [4, 8, 16, 32, 64, 128, 256, 512],
  overviewMinDim: 128,
  overviewAggregationType: 'NEAREST',
  overviewAggregationGiven: false,
  thematic: false,
  approxStats: false,
  singlePassPyramids: true,
  singlePassBasicStats: true,
  singlePassHistogram: true,
  nodata: null,
});

/**
 * Options with defaults filled in. The defaults for the pyramid settings come from
 * RIOS_DFLT_OVERVIEWLEVELS (comma list), RIOS_DFLT_MINOVERLEVELDIM and
 * RIOS_DFLT_OVERVIEWAGGTYPE when set. Fields of `partial` that are undefined keep the default.
 *
 * @throws {ControlsError} when a value or an environment variable makes no sense.
 * @example statsOptionsFromEnv({ nodata: 0, thematic: true })
 */
export function statsOptionsFromEnv(partial: Partial<StatsOptions> = {}, env: NodeJS.ProcessEnv = process.env): StatsOptions {
  const opts: StatsOptions = { ...DEFAULT_STATS_OPTIONS, overviewLevels: [...DEFAULT_STATS_OPTIONS.overviewLevels] };
  if (env.RIOS_DFLT_OVERVIEWLEVELS !== undefined && env.RIOS_DFLT_OVERVIEWLEVELS !== '') {
    opts.overviewLevels = parseLevels(env.RIOS_DFLT_OVERVIEWLEVELS, 'RIOS_DFLT_OVERVIEWLEVELS');
  }
  if (env.RIOS_DFLT_MINOVERLEVELDIM !== undefined && env.RIOS_DFLT_MINOVERLEVELDIM !== '') {
    opts.overviewMinDim = parseNonNegInt(env.RIOS_DFLT_MINOVERLEVELDIM, 'RIOS_DFLT_MINOVERLEVELDIM');
  }
  if (env.RIOS_DFLT_OVERVIEWAGGTYPE !== undefined && env.RIOS_DFLT_OVERVIEWAGGTYPE !== '') {
    opts.overviewAggregationType = env.RIOS_DFLT_OVERVIEWAGGTYPE;
  }
  for (const [k, v] of Object.entries(partial) as [keyof StatsOptions, unknown][]) {
    if (v !== undefined) (opts as unknown as Record<string, unknown>)[k] = v;
  }
  return checkStatsOptions(opts);
}

/** Check and normalise options (aggregation type upper-cased). @throws {ControlsError} */
export function checkStatsOptions(opts: StatsOptions): StatsOptions {
  if (!Array.isArray(opts.overviewLevels) || !opts.overviewLevels.every((l) => Number.isInteger(l) && l >= 2)) {
    throw new ControlsError(`overviewLevels must be a list of integers >= 2, got ${JSON.stringify(opts.overviewLevels)}`);
  }
  if (!Number.isInteger(opts.overviewMinDim) || opts.overviewMinDim < 0) {
    throw new ControlsError(`overviewMinDim must be a non-negative integer, got ${String(opts.overviewMinDim)}`);
  }
  const agg = String(opts.overviewAggregationType).toUpperCase();
  if (!(AGGREGATION_TYPES as readonly string[]).includes(agg)) {
    throw new ControlsError(`overviewAggregationType '${String(opts.overviewAggregationType)}' is not one of ${AGGREGATION_TYPES.join(', ')}`);
  }
  if (opts.nodata !== null && typeof opts.nodata !== 'number') {
    throw new ControlsError(`the ignore value (statsIgnore) must be a number or null, got ${String(opts.nodata)}`);
  }
  return { ...opts, overviewAggregationType: agg };
}

/**
 * The overview levels to build for a raster, by RIOS's rule: as many of `opts.overviewLevels`
 * (from the first, in their order) as there are levels with floor(smallest side / level) >
 * overviewMinDim, without repeats.
 * @example chooseOverviewLevels(6000, 6000, opts) // [4, 8, 16, 32] with the defaults
 * @example chooseOverviewLevels(300, 260, { overviewLevels: [4, 8], overviewMinDim: 32 }) // [4]: 260 // 8 = 32 is not > 32
 */
export function chooseOverviewLevels(xsize: number, ysize: number, opts: Pick<StatsOptions, 'overviewLevels' | 'overviewMinDim'>): number[] {
  const minSide = Math.min(xsize, ysize);
  const count = opts.overviewLevels.filter((level) => Math.floor(minSide / level) > opts.overviewMinDim).length;
  return [...new Set(opts.overviewLevels.slice(0, count))];
}

/**
 * The aggregation actually used: thematic layers get NEAREST (classes must not blend) unless an
 * aggregation was asked for explicitly, which every layer then uses.
 */
export function effectiveAggregation(opts: Pick<StatsOptions, 'thematic' | 'overviewAggregationType' | 'overviewAggregationGiven'>): string {
  return opts.thematic && !opts.overviewAggregationGiven ? 'NEAREST' : opts.overviewAggregationType.toUpperCase();
}

/** Parse "4,8,16" into levels. @throws {ControlsError} */
export function parseLevels(text: string, what: string): number[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const levels = parts.map((s) => Number(s));
  if (levels.length === 0 || !levels.every((l) => Number.isInteger(l) && l >= 2)) {
    throw new ControlsError(`${what}: expected a comma-separated list of integers >= 2, got '${text}'`);
  }
  return levels;
}

function parseNonNegInt(text: string, what: string): number {
  const n = Number(text.trim());
  if (!Number.isInteger(n) || n < 0) throw new ControlsError(`${what}: expected a non-negative integer, got '${text}'`);
  return n;
}
