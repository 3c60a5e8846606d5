/**
 * `riots calcstats FILE...`: statistics, histogram and pyramids for existing rasters, in place.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { calcStatsForFile } from '../gdal/filestats.js';
import { parseLevels, statsOptionsFromEnv, type StatsOptions } from '../stats/plan.js';
import { Timings } from '../timings.js';
import { ControlsError } from '../errors.js';

export const help = `usage: riots calcstats FILE... [options]

Compute basic statistics (min, max, mean, stddev), a histogram with median and mode, and
pyramid overviews for existing raster files, and store them in the files (opened for update).
By default each band's own nodata value is left out of the statistics.

options:
  --ignore V             leave out value V (and store it as each band's nodata value)
  --no-ignore            leave out nothing
  --omit-basic-stats     do not store min, max, mean, stddev
  --omit-histogram       do not store the histogram, median and mode
  --omit-pyramids        do not build overviews
  --overview-levels L    comma-separated levels (default 4,8,...,512; env RIOS_DFLT_OVERVIEWLEVELS)
  --overview-min-dim N   keep levels where smallest side / level > N (default 128;
                         env RIOS_DFLT_MINOVERLEVELDIM)
  --overview-agg A       NEAREST, AVERAGE, MODE, ... (default NEAREST; env RIOS_DFLT_OVERVIEWAGGTYPE)
  --thematic             mark the bands thematic (one histogram bin per class, NEAREST pyramids)
  --approx               statistics and histogram from the pyramid level GDAL samples for
                         approximate statistics (at least 2500 pixels), after the pyramids:
                         fast, and marked STATISTICS_APPROXIMATE=YES (RIOS's approxStats)
  -q, --quiet            print nothing on success
  -h, --help             show this help
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: joinNegativeValues(argv),
    allowPositionals: true,
    strict: true,
    options: {
      ignore: { type: 'string' },
      'no-ignore': { type: 'boolean' },
      'omit-basic-stats': { type: 'boolean' },
      'omit-histogram': { type: 'boolean' },
      'omit-pyramids': { type: 'boolean' },
      'overview-levels': { type: 'string' },
      'overview-min-dim': { type: 'string' },
      'overview-agg': { type: 'string' },
      thematic: { type: 'boolean' },
      approx: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length === 0) {
    process.stderr.write('riots calcstats: no FILE given\n\n' + help);
    return 2;
  }
  if (values.ignore !== undefined && values['no-ignore']) throw new ControlsError('calcstats: --ignore and --no-ignore do not go together');
  let nodata: number | null = null;
  if (values.ignore !== undefined) {
    nodata = Number(values.ignore);
    if (values.ignore.trim() === '' || (Number.isNaN(nodata) && values.ignore.trim().toLowerCase() !== 'nan')) {
      throw new ControlsError(`calcstats: --ignore expects a number, got '${values.ignore}'`);
    }
  }
  const partial: Partial<StatsOptions> = {
    omitBasicStats: values['omit-basic-stats'] ?? false,
    omitHistogram: values['omit-histogram'] ?? false,
    omitPyramids: values['omit-pyramids'] ?? false,
    thematic: values.thematic ?? false,
    approxStats: values.approx ?? false,
    nodata,
  };
  if (values['overview-levels'] !== undefined) partial.overviewLevels = parseLevels(values['overview-levels'], '--overview-levels');
  if (values['overview-min-dim'] !== undefined) {
    const n = Number(values['overview-min-dim']);
    if (!Number.isInteger(n) || n < 0)
      throw new ControlsError(`calcstats: --overview-min-dim expects a non-negative integer, got '${values['overview-min-dim']}'`);
    partial.overviewMinDim = n;
  }
  if (values['overview-agg'] !== undefined) {
    partial.overviewAggregationType = values['overview-agg'];
    partial.overviewAggregationGiven = true;
  }
  const opts = statsOptionsFromEnv(partial);
  const nodataFromFile = values.ignore === undefined && !values['no-ignore'];
  for (const file of uniqueFiles(positionals)) {
    const timings = new Timings();
    const t0 = performance.now();
    await calcStatsForFile(file, opts, timings, { nodataFromFile });
    if (!values.quiet) {
      const parts = ['basicstats', 'histogram', 'pyramids'].map((p) => `${p} ${timings.get(p).toFixed(3)}s`);
      process.stdout.write(`${file}: done in ${((performance.now() - t0) / 1000).toFixed(3)}s (${parts.join(', ')})\n`);
    }
  }
  return 0;
}

/**
 * The files in order, each once: `a.tif`, `./a.tif` and a link to it are one file, and its
 * statistics are written once (a note on stderr says which names were the same).
 */
function uniqueFiles(files: string[]): string[] {
  const seen = new Map<string, string>();
  const out: string[] = [];
  for (const f of files) {
    let key: string;
    try {
      key = realpathSync(f);
    } catch {
      key = path.resolve(f); // missing: calcStatsForFile says so
    }
    const first = seen.get(key);
    if (first !== undefined) {
      process.stderr.write(`riots calcstats: ${f} is the same file as ${first}: done once\n`);
      continue;
    }
    seen.set(key, f);
    out.push(f);
  }
  return out;
}

/** Let `--ignore -7` mean `--ignore=-7` (parseArgs refuses values that start with a dash). */
function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a === '--ignore' && next !== undefined && /^-(\d|\.\d|inf|nan)/i.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}
