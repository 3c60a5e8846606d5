/**
 * Approximate statistics (RIOS's approxStats, `riots calcstats --approx`): the basic statistics
 * and histogram of each band computed from the pyramid level GDAL itself samples for approximate
 * statistics (the most reduced overview with at least 2500 pixels, or the band when none has
 * that many), so that they equal what GDAL's ComputeStatistics(approx_ok) finds.
 */
import type { RasterBand } from './index.js';
import { gdalArray } from './arrays.js';
import { GdalError } from '../errors.js';
import { allocate, type AnyTypedArray, type DataType } from '../dtypes.js';
import { BasicStatsAccumulator, type BasicStats } from '../stats/basic.js';
import { LayoutBinner, chooseHistogramLayout, type Histogram } from '../stats/histogram.js';

/** GDAL's GDALSTAT_APPROX_NUMSAMPLES: the pixels an approximate statistic wants at least. */
export const APPROX_SAMPLES = 2500;
/** Pixels read at a time from the sampled level. */
const STRIP_PIXELS = 1 << 20;

/** Call `fn` with every row strip of `band`, top to bottom. */
async function readStrips(band: RasterBand, dtype: DataType, fn: (data: AnyTypedArray) => void): Promise<void> {
  const { x: cols, y: rows } = band.size;
  const stripRows = Math.max(1, Math.min(rows, Math.floor(STRIP_PIXELS / Math.max(1, cols))));
  const buf = allocate(dtype, cols * stripRows);
  for (let y = 0; y < rows; y += stripRows) {
    const n = Math.min(stripRows, rows - y);
    const view = buf.subarray(0, cols * n);
    await band.pixels.readAsync(0, y, cols, n, gdalArray(view) as Uint8Array);
    fn(view);
  }
}

export interface ApproxBand {
  basic: BasicStats | null;
  histogram: Histogram | null;
  /** The size of the level sampled. */
  sampled: { x: number; y: number };
}

/**
 * Approximate statistics of one band: a pass for the basic statistics, and with `histogram` a
 * second over the same (small) level to bin it.
 * @throws {GdalError} naming the file when the level cannot be read.
 */
export async function approximateBand(
  band: RasterBand,
  dtype: DataType,
  opts: { nodata: number | null; thematic: boolean; histogram: boolean; file: string },
): Promise<ApproxBand> {
  try {
    const sample = await band.overviews.getBySampleCountAsync(APPROX_SAMPLES);
    const acc = new BasicStatsAccumulator(dtype, opts.nodata);
    await readStrips(sample, dtype, (d) => acc.add(d));
    const basic = acc.result();
    let histogram: Histogram | null = null;
    if (opts.histogram && basic) {
      const binner = new LayoutBinner(chooseHistogramLayout(dtype, opts.thematic, basic.min, basic.max), dtype, opts.nodata);
      await readStrips(sample, dtype, (d) => binner.add(d));
      histogram = binner.histogram();
    }
    return { basic, histogram, sampled: sample.size };
  } catch (cause) {
    throw new GdalError(`approximate statistics of ${opts.file}: ${(cause as Error).message}`, { file: opts.file, cause });
  }
}
