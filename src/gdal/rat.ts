/**
 * Raster attribute tables of a file (RIOS's `rat` module): columns read and written whole or by
 * row range, created when missing, with their GDAL types and usages. Exported as `rat` from
 * riots.
 *
 * Each call opens the file on a GDAL handle of its own (through ratffi.ts) and closes it before
 * returning, so nothing stays open between calls; do not call these on a file an `apply()` is
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
import { existsSync } from 'node:fs';
import { InputMissingError, RatError } from '../errors.js';
import { CE_NONE, GDAL_OF, GF_READ, GF_WRITE, ratApi, type Handle, type RatApi } from './ratffi.js';

export type ColumnType = 'Integer' | 'Real' | 'String';
/** GDAL's column usages (GDALRATFieldUsage), by GDAL's names without the GFU_ prefix. */
export const COLUMN_USAGES = [
  'Generic',
  'PixelCount',
  'Name',
  'Min',
  'Max',
  'MinMax',
  'Red',
  'Green',
  'Blue',
  'Alpha',
  'RedMin',
  'GreenMin',
  'BlueMin',
  'AlphaMin',
  'RedMax',
  'GreenMax',
  'BlueMax',
  'AlphaMax',
] as const;
export type ColumnUsage = (typeof COLUMN_USAGES)[number];
const TYPES: readonly ColumnType[] = ['Integer', 'Real', 'String'];

export interface ColumnInfo {
  name: string;
  type: ColumnType;
  usage: ColumnUsage;
}

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
export interface WriteOptions extends BandOption {
  /** The column's type when it is created; default from the values (Int32Array: Integer, strings: String, else Real). */
  type?: ColumnType;
  /** The column's usage when it is created; default Generic. */
  usage?: ColumnUsage;
  /** First row to write (default 0). The table grows to hold the rows written. */
  start?: number;
  /** Also state the table's linear binning: row 0 holds [row0Min, row0Min + binSize), and so on (RIOS sets 0, 1 for thematic histograms). */
  linearBinning?: [number, number];
}

export type ColumnValues = Int32Array | Float64Array | string[];

interface Opened {
  api: RatApi;
  ds: Handle;
  band: Handle;
  where: string;
  driver: string;
}

/** Open `file` (read-only or for update) on a handle of riots' own, run `fn` on band `band`, close. */
function withBand<T>(file: string, band: number | undefined, update: boolean, fn: (o: Opened) => T): T {
  const b = band ?? 1;
  if (!Number.isInteger(b) || b < 1) throw new RatError(`${file}: band must be a whole number from 1 (got ${String(band)})`, { file });
  if (!existsSync(file)) throw new InputMissingError(`${file}: no such file`, { file });
  const api = ratApi();
  api.CPLErrorReset();
  const ds = api.GDALOpenEx(file, GDAL_OF.RASTER | GDAL_OF.VERBOSE_ERROR | (update ? GDAL_OF.UPDATE : GDAL_OF.READONLY), null, null, null);
  if (ds === null) throw new RatError(`${file}: GDAL cannot open it${update ? ' for update' : ''}: ${api.CPLGetLastErrorMsg() || 'no reason given'}`, { file });
  try {
    const n = api.GDALGetRasterCount(ds);
    if (b > n) throw new RatError(`${file}: there is no band ${b} (the file has ${n})`, { file });
    const h = api.GDALGetRasterBand(ds, b)!;
    const driver = api.GDALGetDriverShortName(api.GDALGetDatasetDriver(ds));
    return fn({ api, ds, band: h, where: `${file} band ${b}`, driver });
  } finally {
    api.GDALClose(ds);
  }
}

function tableOf(o: Opened): Handle {
  const rat = o.api.GDALGetDefaultRAT(o.band);
  if (rat === null || o.api.GDALRATGetColumnCount(rat) === 0) throw new RatError(`${o.where}: has no raster attribute table`);
  return rat;
}

function columnsOf(api: RatApi, rat: Handle): ColumnInfo[] {
  const out: ColumnInfo[] = [];
  for (let i = 0; i < api.GDALRATGetColumnCount(rat); i++) {
    out.push({
      name: api.GDALRATGetNameOfCol(rat, i),
      type: TYPES[api.GDALRATGetTypeOfCol(rat, i)] ?? 'Real',
      usage: COLUMN_USAGES[api.GDALRATGetUsageOfCol(rat, i)] ?? 'Generic',
    });
  }
  return out;
}

function columnIndex(o: Opened, rat: Handle, column: string): number {
  const cols = columnsOf(o.api, rat);
  const i = cols.findIndex((c) => c.name === column);
  if (i < 0) throw new RatError(`${o.where}: the raster attribute table has no column '${column}' (columns: ${cols.map((c) => c.name).join(', ') || 'none'})`);
  return i;
}

/**
 * Numbers in or out of rows [start, start + data.length) of a column. GDAL 3.6's generic
 * ValuesIO (the one in-memory tables such as GTiff's use) indexes the caller's buffer by table
 * row, not from `start`: asked for rows 2..4 it writes to buffer[2..4], past the end of a 3-long
 * buffer. So every table but HFA's and KEA's (which have their own ValuesIO) is read and written
 * from row 0 on a buffer that covers rows 0..end, where old and fixed GDALs agree.
 */
function valuesIO(o: Opened, rat: Handle, rw: number, col: number, start: number, data: Int32Array | Float64Array, what: string): void {
  const n = data.length;
  if (n === 0) return;
  const io = (flag: number, buf: Int32Array | Float64Array, first: number, len: number): number =>
    buf instanceof Int32Array
      ? o.api.GDALRATValuesIOAsInteger(rat, flag, col, first, len, buf)
      : o.api.GDALRATValuesIOAsDouble(rat, flag, col, first, len, buf);
  if (start === 0 || o.driver === 'HFA' || o.driver === 'KEA') return check(o, io(rw, data, start, n), what);
  const whole = data instanceof Int32Array ? new Int32Array(start + n) : new Float64Array(start + n);
  if (rw === GF_READ) {
    check(o, io(GF_READ, whole, 0, start + n), what);
    data.set(whole.subarray(start));
  } else {
    check(o, io(GF_READ, whole, 0, start), what); // rows before `start` are kept as they are
    whole.set(data, start);
    check(o, io(GF_WRITE, whole, 0, start + n), what);
  }
}

function check(o: Opened, err: number, what: string): void {
  if (err !== CE_NONE) throw new RatError(`${o.where}: ${what} failed: ${o.api.CPLGetLastErrorMsg() || 'GDAL gave no reason'}`);
}

/** Names of the columns of band `band`'s table ([] when it has none). */
export async function getColumnNames(file: string, opts: BandOption = {}): Promise<string[]> {
  return (await getColumnInfo(file, opts)).map((c) => c.name);
}

/** Name, type and usage of every column ([] when the band has no table). */
export async function getColumnInfo(file: string, opts: BandOption = {}): Promise<ColumnInfo[]> {
  return withBand(file, opts.band, false, (o) => {
    const rat = o.api.GDALGetDefaultRAT(o.band);
    return rat === null ? [] : columnsOf(o.api, rat);
  });
}

/** Rows of band `band`'s table (0 when it has none). */
export async function getRowCount(file: string, opts: BandOption = {}): Promise<number> {
  return withBand(file, opts.band, false, (o) => {
    const rat = o.api.GDALGetDefaultRAT(o.band);
    return rat === null ? 0 : o.api.GDALRATGetRowCount(rat);
  });
}

/**
 * A column, whole or a row range: Int32Array for Integer columns, Float64Array for Real ones,
 * strings for String ones.
 * @throws {RatError} naming the file and band when there is no table, no such column, or the range lies outside the table.
 */
export async function readColumn(file: string, column: string, opts: ReadOptions = {}): Promise<ColumnValues> {
  return withBand(file, opts.band, false, (o) => {
    const rat = tableOf(o);
    const col = columnIndex(o, rat, column);
    const rows = o.api.GDALRATGetRowCount(rat);
    const start = opts.start ?? 0;
    const count = opts.count ?? rows - start;
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new RatError(`${o.where}: rows ${start}..${start + count - 1} of column '${column}' are outside its ${rows} rows`);
    }
    const type = TYPES[o.api.GDALRATGetTypeOfCol(rat, col)];
    if (type === 'Integer') {
      const a = new Int32Array(count);
      valuesIO(o, rat, GF_READ, col, start, a, `reading column '${column}'`);
      return a;
    }
    if (type === 'String') {
      const out: string[] = [];
      for (let r = start; r < start + count; r++) out.push(o.api.GDALRATGetValueAsString(rat, r, col) ?? '');
      return out;
    }
    const a = new Float64Array(count);
    valuesIO(o, rat, GF_READ, col, start, a, `reading column '${column}'`);
    return a;
  });
}

/**
 * Change band `o`'s table (created when missing) with `fn`. A table GDAL writes straight to the
 * file (HFA's) is changed in place; one it keeps in memory (GTiff's `.aux.xml`) is changed on a
 * copy and handed back with SetDefaultRAT, as RIOS does.
 */
function editTable(o: Opened, fn: (rat: Handle) => void): void {
  const { api } = o;
  const existing = api.GDALGetDefaultRAT(o.band);
  const direct = existing !== null && api.GDALRATChangesAreWrittenToFile(existing) !== 0;
  const rat = existing === null ? api.GDALCreateRasterAttributeTable() : direct ? existing : api.GDALRATClone(existing);
  try {
    fn(rat);
    if (!direct) check(o, api.GDALSetDefaultRAT(o.band, rat), 'storing the raster attribute table');
  } finally {
    if (!direct) api.GDALDestroyRasterAttributeTable(rat);
  }
}

function typeOfValues(values: ColumnValues): ColumnType {
  if (values instanceof Int32Array) return 'Integer';
  if (values instanceof Float64Array) return 'Real';
  return 'String';
}

/**
 * Write a column (created when missing, with `type` or the values' type and `usage`), from row
 * `start`; the table grows to hold the rows. A table that does not exist yet is created.
 * @throws {RatError} when the values do not fit the existing column's type (strings into a number column, or numbers into a string one).
 */
export async function writeColumn(file: string, column: string, values: ColumnValues, opts: WriteOptions = {}): Promise<void> {
  if (!(values instanceof Int32Array || values instanceof Float64Array || (Array.isArray(values) && values.every((v) => typeof v === 'string')))) {
    throw new RatError(`${file}: column '${column}': values must be an Int32Array, a Float64Array or a list of strings`, { file });
  }
  if (opts.usage !== undefined && !COLUMN_USAGES.includes(opts.usage)) {
    throw new RatError(`${file}: column '${column}': usage must be one of ${COLUMN_USAGES.join(', ')} (got ${String(opts.usage)})`, { file });
  }
  if (opts.type !== undefined && !TYPES.includes(opts.type))
    throw new RatError(`${file}: column '${column}': type must be Integer, Real or String (got ${String(opts.type)})`, { file });
  withBand(file, opts.band, true, (o) =>
    editTable(o, (rat) => {
      const { api } = o;
      let col = columnsOf(api, rat).findIndex((c) => c.name === column);
      const valuesType = typeOfValues(values);
      if (col < 0) {
        const type = opts.type ?? valuesType;
        check(o, api.GDALRATCreateColumn(rat, column, TYPES.indexOf(type), COLUMN_USAGES.indexOf(opts.usage ?? 'Generic')), `creating column '${column}'`);
        col = api.GDALRATGetColumnCount(rat) - 1;
      }
      const colType = TYPES[api.GDALRATGetTypeOfCol(rat, col)]!;
      if ((colType === 'String') !== (valuesType === 'String')) {
        throw new RatError(`${o.where}: column '${column}' holds ${colType} values; ${valuesType === 'String' ? 'strings' : 'numbers'} cannot go in it`);
      }
      const start = opts.start ?? 0;
      if (!Number.isInteger(start) || start < 0) throw new RatError(`${o.where}: start must be a whole number from 0 (got ${String(start)})`);
      const n = values.length;
      if (api.GDALRATGetRowCount(rat) < start + n) api.GDALRATSetRowCount(rat, start + n);
      if (values instanceof Int32Array || values instanceof Float64Array) valuesIO(o, rat, GF_WRITE, col, start, values, `writing column '${column}'`);
      else for (let i = 0; i < n; i++) api.GDALRATSetValueAsString(rat, start + i, col, values[i]!);
      if (opts.linearBinning) check(o, api.GDALRATSetLinearBinning(rat, opts.linearBinning[0], opts.linearBinning[1]), 'setting the linear binning');
    }),
  );
}

/** Set the number of rows of band `band`'s table (created when missing); new rows are 0 or ''. */
export async function setRowCount(file: string, rows: number, opts: BandOption = {}): Promise<void> {
  if (!Number.isInteger(rows) || rows < 0) throw new RatError(`${file}: a row count must be a whole number from 0 (got ${String(rows)})`, { file });
  withBand(file, opts.band, true, (o) => editTable(o, (rat) => o.api.GDALRATSetRowCount(rat, rows)));
}
