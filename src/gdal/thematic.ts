/**
 * Thematic bands' histograms in their raster attribute tables: a `Histogram` column of usage
 * PixelCount, one row per value from the histogram's first (linear binning from it, bins of 1),
 * where GDAL's tools, QGIS and RIOS users look for it. Used by apply()'s thematic outputs and by
 * `riots calcstats` on thematic files; the file must be closed by gdal-async first.
 */
import type { Histogram } from '../stats/histogram.js';
import { writeColumn } from './rat.js';

/** Write `h` (a per-value histogram) as band `band`'s Histogram column, zero-padded to `rows` rows. */
export async function writeHistogramColumn(file: string, band: number, h: Histogram, rows = 0): Promise<void> {
  if (h.binFunction !== 'direct') return;
  const counts = new Float64Array(Math.max(h.counts.length, rows));
  counts.set(h.counts);
  await writeColumn(file, 'Histogram', counts, { band, type: 'Real', usage: 'PixelCount', linearBinning: [h.histMin, 1] });
}
