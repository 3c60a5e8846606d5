/**
 * What a raster file says about itself, as RIOS's `fileinfo` gives it: `imageInfo` (RIOS's
 * ImageInfo: bounds, pixel size, grid, bands, data type, nodata, layer names, thematic flag),
 * `imageFileStats` (RIOS's ImageFileStats: the statistics stored per band, the histogram from
 * the metadata or else from the RAT's PixelCount column) and `ratStats` (RIOS's RatStats:
 * statistics of RAT columns, weighted by the histogram). Nothing is computed from pixels.
 */
import { readStoredStats } from './filestats.js';
import { openReadOnly } from './gridio.js';
import { RatFile } from './rattable.js';
import { RatError } from '../errors.js';

export interface ImageInfo {
  /** Map X of the left edge of the leftmost pixels, and so on (GDAL's conventions, north up). */
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
  xRes: number;
  yRes: number;
  nrows: number;
  ncols: number;
  transform: [number, number, number, number, number, number];
  /** WKT, '' when the file has none. */
  projection: string;
  rasterCount: number;
  /** Band descriptions ([] with omitPerBand). */
  lnames: string[];
  /** LAYER_TYPE of band 1 ('thematic', 'athematic'), or null. */
  layerType: string | null;
  /** GDAL's name of band 1's data type. */
  dataTypeName: string;
  /** Per band ([] with omitPerBand). */
  nodataval: (number | null)[];
}

/**
 * RIOS's ImageInfo. `omitPerBand` skips the per-band names and nodata (fast on huge VRT stacks).
 * @throws {InputMissingError} / {InputNotRasterError} as the grid readers do.
 */
export async function imageInfo(file: string, opts: { omitPerBand?: boolean } = {}): Promise<ImageInfo> {
  const ds = await openReadOnly(file);
  try {
    const gt = (ds.geoTransform ?? [0, 1, 0, 0, 0, -1]) as ImageInfo['transform'];
    const { x: ncols, y: nrows } = ds.rasterSize;
    const n = ds.bands.count();
    const b1 = ds.bands.get(1);
    const per = opts.omitPerBand ? [] : Array.from({ length: n }, (_, i) => ds.bands.get(i + 1));
    return {
      xMin: gt[0],
      xMax: gt[0] + ncols * gt[1],
      yMax: gt[3],
      yMin: gt[3] - nrows * Math.abs(gt[5]),
      xRes: gt[1],
      yRes: Math.abs(gt[5]),
      nrows,
      ncols,
      transform: gt,
      projection: ds.srs?.toWKT() ?? '',
      rasterCount: n,
      lnames: per.map((b) => b.description),
      layerType: (b1.getMetadata() as Record<string, string> | null)?.LAYER_TYPE ?? null,
      dataTypeName: String(b1.dataType),
      nodataval: per.map((b) => b.noDataValue),
    };
  } finally {
    ds.close();
  }
}

/** What one band has stored (RIOS's ImageLayerStats); null where the file has nothing. */
export interface ImageLayerStats {
  mean: number | null;
  stddev: number | null;
  min: number | null;
  max: number | null;
  median: number | null;
  mode: number | null;
  histoCounts: Float64Array | null;
  histoMin: number | null;
  histoMax: number | null;
  histoNumBins: number | null;
}

/** RIOS's ImageFileStats: one entry per band. */
export async function imageFileStats(file: string): Promise<ImageLayerStats[]> {
  const r = await readStoredStats(file);
  return r.bands.map(({ stats: s }) => ({
    mean: s.mean ?? null,
    stddev: s.stddev ?? null,
    min: s.min ?? null,
    max: s.max ?? null,
    median: s.median ?? null,
    mode: s.mode ?? null,
    histoCounts: s.histogram?.counts ?? null,
    histoMin: s.histogram?.histMin ?? null,
    histoMax: s.histogram?.histMax ?? null,
    histoNumBins: s.histogram?.numBins ?? null,
  }));
}

/** Statistics of one RAT column (RIOS's ColumnStats). */
export interface ColumnStats {
  count: number;
  sum: number;
  mean: number | null;
  /** Population standard deviation (over pixels, when weighted). */
  stddev: number | null;
  min: number | null;
  max: number | null;
}

export interface RatStatsOptions {
  /** Columns to summarise; default every number column. */
  columnlist?: string[];
  band?: number;
  /** Keep the row of the image's nodata value (default false). */
  includeImageNull?: boolean;
  /** Weight each row by its PixelCount (Histogram) column, so the statistics are over pixels (default true). */
  histogramweighted?: boolean;
}

/**
 * RIOS's RatStats: per column, count, sum, mean, standard deviation, min and max of a RAT's
 * rows, weighted by the histogram (spatial statistics) unless `histogramweighted` is false; min
 * and max over rows with pixels. String columns are left out, as in RIOS.
 * @throws {RatError} when there is no table, no such column, or weighting is asked for and the table has no PixelCount column.
 */
export async function ratStats(file: string, opts: RatStatsOptions = {}): Promise<Record<string, ColumnStats>> {
  const f = RatFile.open(file, false);
  try {
    const t = f.table(opts.band ?? 1);
    if (!t.exists()) throw new RatError(`${t.where}: has no raster attribute table`, { file });
    const cols = t.columns();
    const weighted = opts.histogramweighted ?? true;
    const hist = cols.find((c) => c.usage === 'PixelCount') ?? cols.find((c) => c.name === 'Histogram');
    if (weighted && !hist) throw new RatError(`${t.where}: no PixelCount (Histogram) column to weight by; give histogramweighted: false`, { file });
    const names = opts.columnlist ?? cols.filter((c) => c.type !== 'String').map((c) => c.name);
    const nodata = opts.includeImageNull ? null : t.nodata();
    const rows = t.rowCount();
    const out: Record<string, ColumnStats> = {};
    const chunk = 100_000;
    for (const name of names) {
      const info = cols.find((c) => c.name === name);
      if (info?.type === 'String') continue;
      let count = 0, sum = 0, ssq = 0, min = Infinity, max = -Infinity; // prettier-ignore
      for (let start = 0; start < rows; start += chunk) {
        const n = Math.min(chunk, rows - start);
        const v = t.read(name, start, n) as Float64Array | Int32Array;
        const w = weighted ? (t.read(hist!.name, start, n) as Float64Array | Int32Array) : undefined;
        for (let i = 0; i < n; i++) {
          if (nodata !== null && start + i === nodata) continue;
          const wi = w ? w[i]! : 1;
          const x = v[i]!;
          sum += x * wi;
          ssq += x * x * wi;
          count += wi;
          if (wi > 0) {
            if (x < min) min = x;
            if (x > max) max = x;
          }
        }
      }
      const mean = count > 0 ? sum / count : null;
      out[name] = {
        count,
        sum,
        mean,
        stddev: mean === null ? null : Math.sqrt(Math.max(0, ssq / count - mean * mean)),
        min: min === Infinity ? null : min,
        max: max === -Infinity ? null : max,
      };
    }
    return out;
  } finally {
    f.close(false);
  }
}
