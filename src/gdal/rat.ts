/**
 * Raster attribute tables of a file (RIOS's `rat` module): columns read and written whole or by
 * row range, created when missing, with their GDAL types and usages. Exported as `rat` from
 * riots.
 *
 * Each call opens the file on a GDAL handle of its own (a `RatFile`, rattable.ts) and closes it
 * before returning, so nothing stays open between calls; do not call these on a file an `apply()` is
 * still writing. Where a driver keeps the table in memory until the file closes (GTiff writes it
 * to `<file>.aux.xml`), the table is handed back with SetDefaultRAT first, as RIOS does.
 *
 * @example
 * ```ts
 * import { rat } from 'riots';
 * const counts = await rat.readColumn('classes.img', 'Histogram');          // Float64Array
 * await rat.writeColumn('classes.img', 'Area_ha', Float64Array.from(counts, (n) => n * 0.09));
 * ```
 */
import { RatError } from '../errors.js';
import { COLUMN_TYPES, COLUMN_USAGES, isColumnValues, withTable, type ColumnInfo, type ColumnValues, type ColumnWrite } from './rattable.js';

export { COLUMN_USAGES, type ColumnInfo, type ColumnType, type ColumnUsage, type ColumnValues } from './rattable.js';

export interface BandOption {
  /** 1-based band; default 1. */
  band?: number;
}
export interface ReadOptions extends BandOption {
  /** First row to read (default 0). */
  start?: number;
  /** Rows to read from `start` (default: to the end). */
  count?: number;
}
export interface WriteOptions extends BandOption, ColumnWrite {
  /** Also state the table's linear binning: row 0 holds [row0Min, row0Min + binSize), and so on (RIOS sets 0, 1 for thematic histograms). */
  linearBinning?: [number, number];
}

/** Names of the columns of band `band`'s table ([] when it has none). */
export async function getColumnNames(file: string, opts: BandOption = {}): Promise<string[]> {
  return (await getColumnInfo(file, opts)).map((c) => c.name);
}

/** Name, type and usage of every column ([] when the band has no table). */
export async function getColumnInfo(file: string, opts: BandOption = {}): Promise<ColumnInfo[]> {
  return withTable(file, opts.band, false, (t) => t.columns());
}

/** Rows of band `band`'s table (0 when it has none). */
export async function getRowCount(file: string, opts: BandOption = {}): Promise<number> {
  return withTable(file, opts.band, false, (t) => t.rowCount());
}

/**
 * A column, whole or a row range: Int32Array for Integer columns, Float64Array for Real ones,
 * strings for String ones. Colour columns (Red, Green, Blue, Alpha) read as 0–255 integers,
 * also from HFA, which keeps them as 0–1 reals in the file (GDAL converts them).
 * @throws {RatError} naming the file and band when there is no table, no such column, or the range lies outside the table.
 */
export async function readColumn(file: string, column: string, opts: ReadOptions = {}): Promise<ColumnValues> {
  return withTable(file, opts.band, false, (t) => t.read(column, opts.start ?? 0, opts.count));
}

/**
 * Write a column (created when missing, with `type` or the values' type and `usage`), from row
 * `start`; the table grows to hold the rows (to 256 at least on a Byte band, as RIOS does). A
 * table that does not exist yet is created.
 * @throws {RatError} when the values do not fit the existing column's type (strings into a number column, or numbers into a string one).
 */
export async function writeColumn(file: string, column: string, values: ColumnValues, opts: WriteOptions = {}): Promise<void> {
  if (!isColumnValues(values)) {
    throw new RatError(`${file}: column '${column}': values must be an Int32Array, a Float64Array or a list of strings`, { file });
  }
  if (opts.usage !== undefined && !COLUMN_USAGES.includes(opts.usage)) {
    throw new RatError(`${file}: column '${column}': usage must be one of ${COLUMN_USAGES.join(', ')} (got ${String(opts.usage)})`, { file });
  }
  if (opts.type !== undefined && !COLUMN_TYPES.includes(opts.type))
    throw new RatError(`${file}: column '${column}': type must be Integer, Real or String (got ${String(opts.type)})`, { file });
  withTable(file, opts.band, true, (t) => {
    t.write(column, values, opts);
    if (opts.linearBinning) t.setLinearBinning(opts.linearBinning[0], opts.linearBinning[1]);
  });
}

/** Set the number of rows of band `band`'s table (created when missing); new rows are 0 or ''. */
export async function setRowCount(file: string, rows: number, opts: BandOption = {}): Promise<void> {
  if (!Number.isInteger(rows) || rows < 0) throw new RatError(`${file}: a row count must be a whole number from 0 (got ${String(rows)})`, { file });
  withTable(file, opts.band, true, (t) => t.setRowCount(rows));
}
