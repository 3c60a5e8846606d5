/**
 * Statistics of an existing raster file: computing them in place (`riots calcstats`), and reading
 * back what a file has stored (`riots printstats`).
 */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gdal, loadGdal, type Dataset } from './index.js';
import { isDataType } from '../dtypes.js';
import { GdalError, InputMissingError, InputNotRasterError } from '../errors.js';
import type { Timings } from '../timings.js';
import { checkStatsOptions, type StatsOptions } from '../stats/plan.js';
import { parseStatsMetadata, type StoredStats } from '../stats/metadata.js';
import { OutputStatsWriter, readBandsByWindow } from './stats.js';
import { writeHistogramColumn } from './thematic.js';
import { RatFile } from './rattable.js';
import type { Histogram } from '../stats/histogram.js';

export interface CalcStatsFileOptions {
  /**
   * Ignore each band's own nodata value (the default for `riots calcstats`). When false,
   * `opts.nodata` is ignored instead and, when not null, stored as each band's nodata value.
   */
  nodataFromFile?: boolean;
}

/**
 * Compute statistics, histogram and pyramids for an existing raster, in place (the file is
 * opened for update). Pyramids are rebuilt by GDAL with the chosen aggregation, replacing any
 * overviews the file had.
 * @throws {InputMissingError} when the file does not exist
 * @throws {InputNotRasterError} when GDAL cannot open it for update as a raster
 */
export async function calcStatsForFile(path: string, opts: StatsOptions, timings: Timings, fileOpts: CalcStatsFileOptions = {}): Promise<void> {
  if (!existsSync(path)) throw new InputMissingError(`calcstats: ${path} does not exist`, { file: path });
  loadGdal(); // a GDAL that cannot load is its own error, not this file's
  let ds: Dataset;
  try {
    ds = await gdal.openAsync(path, 'r+');
  } catch (cause) {
    throw new InputNotRasterError(`calcstats: GDAL cannot open ${path} for update as a raster: ${(cause as Error).message}`, { file: path, cause });
  }
  let thematic: boolean;
  let histograms: (Histogram | null)[];
  try {
    const nBands = ds.bands.count();
    if (nBands === 0) throw new InputNotRasterError(`calcstats: ${path} has no raster bands`, { file: path });
    const dtype = ds.bands.get(1).dataType;
    if (!isDataType(dtype)) throw new InputNotRasterError(`calcstats: ${path} has data type ${String(dtype)}, which riots does not handle`, { file: path });
    // a band already marked thematic is counted per class, as RIOS's calcstats does
    thematic = opts.thematic || ds.bands.get(1).getMetadata()?.LAYER_TYPE === 'thematic';
    const o = checkStatsOptions({ ...opts, thematic });
    let bandNodata: (number | null)[];
    if (fileOpts.nodataFromFile) {
      bandNodata = Array.from({ length: nBands }, (_, i) => ds.bands.get(i + 1).noDataValue);
    } else {
      bandNodata = Array.from({ length: nBands }, () => o.nodata);
      if (o.nodata !== null && o.calcStats) for (let b = 1; b <= nBands; b++) ds.bands.get(b).noDataValue = o.nodata;
    }
    if (o.calcStats && !o.omitPyramids && ds.bands.get(1).overviews.count() > 0) {
      // Clear old overviews so that the levels are exactly those chosen now.
      await ds.buildOverviewsAsync('NONE', []);
    }
    // The file is read once for everything: float values go to a scratch file in the temporary
    // folder for the histogram, instead of a second read (and decompression) of the file.
    const scratchPrefix = join(tmpdir(), `riots-calcstats-${process.pid}-${randomBytes(4).toString('hex')}`);
    const w = await OutputStatsWriter.begin(ds, dtype, o, timings, { singlePassPyramids: false, bandNodata, scratchPrefix });
    try {
      // approximate statistics come from the pyramids, which finish() builds first
      if (o.calcStats && !o.approxStats) {
        const all = Array.from({ length: nBands }, (_, i) => i);
        await readBandsByWindow(ds, dtype, all, (band, data, xoff, yoff, cols, rows) => w.addBlock(band, data, xoff, yoff, cols, rows)).catch(
          (cause: unknown) => {
            if (cause instanceof RangeError) throw cause;
            throw new GdalError(`calcstats: reading ${path} failed: ${(cause as Error).message}`, { file: path, cause });
          },
        );
      }
      await w.finish();
      histograms = w.histograms;
    } finally {
      await w.dispose();
    }
    await ds.flushAsync();
  } finally {
    ds.close();
  }
  // thematic bands' histograms also go to their raster attribute tables, once gdal-async has let go of the file
  if (thematic) for (const [i, h] of histograms.entries()) if (h) await writeHistogramColumn(path, i + 1, h);
}

export interface StoredBandReport {
  band: number;
  nodata: number | null;
  stats: StoredStats;
  /** Overview sizes, as GDAL lists them. */
  overviews: { x: number; y: number }[];
  /** The band's raster attribute table: its rows and column names (absent when it has none). */
  rat?: { rows: number; columns: string[] };
  /** Entries of the band's colour table (absent when it has none). */
  colorTableEntries?: number;
}

export interface StoredFileReport {
  path: string;
  xsize: number;
  ysize: number;
  dtype: string;
  bands: StoredBandReport[];
}

/**
 * What a raster has stored: statistics metadata, nodata and overview sizes of every band.
 * @throws {InputMissingError} / {InputNotRasterError}
 */
export async function readStoredStats(path: string): Promise<StoredFileReport> {
  if (!existsSync(path)) throw new InputMissingError(`${path} does not exist`, { file: path });
  loadGdal(); // a GDAL that cannot load is its own error, not this file's
  let ds: Dataset;
  let report: StoredFileReport;
  try {
    ds = await gdal.openAsync(path);
  } catch (cause) {
    throw new InputNotRasterError(`GDAL cannot open ${path} as a raster: ${(cause as Error).message}`, { file: path, cause });
  }
  try {
    const n = ds.bands.count();
    if (n === 0) throw new InputNotRasterError(`${path} has no raster bands`, { file: path });
    const bands: StoredBandReport[] = [];
    for (let b = 1; b <= n; b++) {
      const band = ds.bands.get(b);
      const ovs = band.overviews;
      const overviews: { x: number; y: number }[] = [];
      for (let k = 0; k < ovs.count(); k++) overviews.push(ovs.get(k).size);
      const ct = band.colorTable;
      bands.push({
        band: b,
        nodata: band.noDataValue,
        stats: parseStatsMetadata((band.getMetadata() ?? {}) as Record<string, string>),
        overviews,
        ...(ct ? { colorTableEntries: ct.count() } : {}),
      });
    }
    report = { path, xsize: ds.rasterSize.x, ysize: ds.rasterSize.y, dtype: String(ds.bands.get(1).dataType), bands };
  } finally {
    ds.close();
  }
  addTables(report);
  return report;
}

/**
 * Each band's raster attribute table, and for a band with no histogram in its metadata, the
 * histogram its table's PixelCount column holds (per value, as thematic files keep it), as RIOS's
 * ImageLayerStats reads it.
 */
function addTables(report: StoredFileReport): void {
  const f = RatFile.open(report.path, false);
  try {
    for (const b of report.bands) {
      const t = f.table(b.band);
      if (!t.exists()) continue;
      const cols = t.columns();
      b.rat = { rows: t.rowCount(), columns: cols.map((c) => c.name) };
      const pc = cols.find((c) => c.usage === 'PixelCount');
      const lb = t.linearBinning() ?? [0, 1];
      if (b.stats.histogram || !pc || t.rowCount() === 0 || lb[1] !== 1 || pc.type === 'String') continue;
      const counts = Float64Array.from(t.read(pc.name) as Float64Array | Int32Array);
      b.stats.histogram = { counts, histMin: lb[0], histMax: lb[0] + counts.length - 1, numBins: counts.length, binFunction: 'direct' };
    }
  } finally {
    f.close(false);
  }
}
