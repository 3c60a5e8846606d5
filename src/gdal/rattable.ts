/**
 * One open file's raster attribute tables: the session that rat.ts's one-call functions and the
 * RAT applier (src/rat/) both work through. A `RatFile` holds one GDAL handle of riots' own on a
 * file; `table(band)` gives that band's table, read and written by row range. Tables GDAL writes
 * straight to the file (HFA's) are changed in place; tables it keeps in memory (GTiff's
 * `.aux.xml`) are changed on a copy, handed back with SetDefaultRAT when the file closes, as RIOS
 * does. Calls are synchronous (GDAL's RAT calls are in-memory or small file reads); nothing stays
 * open after `close()`.
 *
 * RIOS's format quirks: a Byte band's table written to always has at least 256 rows (viewers such
 * as Imagine expect it). RIOS also scales colour columns kept as 0–1 reals (HFA's) to 0–255; GDAL
 * 2.0 and later does that itself (HFA's driver, and every other table turns a Real colour column
 * into an Integer one), so riots reads and writes them as they come.
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
export const COLUMN_TYPES: readonly ColumnType[] = ['Integer', 'Real', 'String'];

export interface ColumnInfo {
  name: string;
  type: ColumnType;
  usage: ColumnUsage;
}

export type ColumnValues = Int32Array | Float64Array | string[];

export interface ColumnWrite {
  /** The column's type when it is created; default from the values (Int32Array: Integer, strings: String, else Real). */
  type?: ColumnType;
  /** The column's usage when it is created; default Generic. */
  usage?: ColumnUsage;
  /** First row to write (default 0). The table grows to hold the rows written. */
  start?: number;
}

const GDT_BYTE = 1;

/** The type a column gets from its values. */
export function typeOfValues(values: ColumnValues): ColumnType {
  if (values instanceof Int32Array) return 'Integer';
  if (values instanceof Float64Array) return 'Real';
  return 'String';
}

/** Values a column can take: an Int32Array, a Float64Array or a list of strings. */
export function isColumnValues(v: unknown): v is ColumnValues {
  return v instanceof Int32Array || v instanceof Float64Array || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
}

/** One band's table in an open `RatFile`. */
export class RatTable {
  private rat: Handle | null;
  private own = false; // a copy (or a new table) to hand back with SetDefaultRAT at close
  private changed = false;

  constructor(
    private readonly api: RatApi,
    private readonly bandH: Handle,
    readonly where: string,
    private readonly driver: string,
    private readonly update: boolean,
  ) {
    this.rat = api.GDALGetDefaultRAT(bandH);
  }

  /** Whether the band has a table with at least one column. */
  exists(): boolean {
    return this.rat !== null && this.api.GDALRATGetColumnCount(this.rat) > 0;
  }

  columns(): ColumnInfo[] {
    const { api, rat } = this;
    if (rat === null) return [];
    const out: ColumnInfo[] = [];
    for (let i = 0; i < api.GDALRATGetColumnCount(rat); i++) {
      out.push({
        name: api.GDALRATGetNameOfCol(rat, i),
        type: COLUMN_TYPES[api.GDALRATGetTypeOfCol(rat, i)] ?? 'Real',
        usage: COLUMN_USAGES[api.GDALRATGetUsageOfCol(rat, i)] ?? 'Generic',
      });
    }
    return out;
  }

  rowCount(): number {
    return this.rat === null ? 0 : this.api.GDALRATGetRowCount(this.rat);
  }

  /** The table's linear binning [row0Min, binSize] (row i holds values from row0Min + i * binSize), or null when it has none. */
  linearBinning(): [number, number] | null {
    if (this.rat === null) return null;
    const min = new Float64Array(1);
    const size = new Float64Array(1);
    return this.api.GDALRATGetLinearBinning(this.rat, min, size) ? [min[0]!, size[0]!] : null;
  }

  /** The band's no-data value, or null. */
  nodata(): number | null {
    const ok = new Int32Array(1);
    const v = this.api.GDALGetRasterNoDataValue(this.bandH, ok);
    return ok[0] ? v : null;
  }

  /**
   * Rows [start, start + count) of a column: Int32Array (Integer), Float64Array (Real) or strings.
   * @throws {RatError} when there is no table, no such column, or the range lies outside the table.
   */
  read(column: string, start = 0, count?: number): ColumnValues {
    if (!this.exists()) throw new RatError(`${this.where}: has no raster attribute table`);
    const rat = this.rat!;
    const cols = this.columns();
    const col = this.index(column, cols);
    const rows = this.rowCount();
    const n = count ?? rows - start;
    if (!Number.isInteger(start) || !Number.isInteger(n) || start < 0 || n < 0 || start + n > rows) {
      throw new RatError(`${this.where}: rows ${start}..${start + n - 1} of column '${column}' are outside its ${rows} rows`);
    }
    const { type } = cols[col]!;
    if (type === 'String') {
      const out: string[] = new Array<string>(n);
      for (let r = 0; r < n; r++) out[r] = this.api.GDALRATGetValueAsString(rat, start + r, col) ?? '';
      return out;
    }
    const a = type === 'Integer' ? new Int32Array(n) : new Float64Array(n);
    this.valuesIO(GF_READ, col, start, a, `reading column '${column}'`);
    return a;
  }

  /**
   * Write a column (created when missing, with `type` or the values' type and `usage`) from row
   * `start`; the table (created when missing) grows to hold the rows.
   * @throws {RatError} when the values do not fit the column's type.
   */
  write(column: string, values: ColumnValues, opts: ColumnWrite = {}): void {
    if (!this.update) throw new RatError(`${this.where}: opened read-only; cannot write column '${column}'`);
    const rat = this.editable();
    const { api } = this;
    let cols = this.columns();
    let col = cols.findIndex((c) => c.name === column);
    const valuesType = typeOfValues(values);
    if (col < 0) {
      const type = opts.type ?? valuesType;
      this.check(
        api.GDALRATCreateColumn(rat, column, COLUMN_TYPES.indexOf(type), COLUMN_USAGES.indexOf(opts.usage ?? 'Generic')),
        `creating column '${column}'`,
      );
      cols = this.columns();
      col = cols.length - 1;
    }
    const colType = cols[col]!.type;
    if ((colType === 'String') !== (valuesType === 'String')) {
      throw new RatError(`${this.where}: column '${column}' holds ${colType} values; ${valuesType === 'String' ? 'strings' : 'numbers'} cannot go in it`);
    }
    const start = opts.start ?? 0;
    if (!Number.isInteger(start) || start < 0) throw new RatError(`${this.where}: start must be a whole number from 0 (got ${String(start)})`);
    const n = values.length;
    const need = Math.max(start + n, this.minRows());
    if (this.rowCount() < need) api.GDALRATSetRowCount(rat, need);
    this.changed = true;
    if (Array.isArray(values)) {
      for (let i = 0; i < n; i++) api.GDALRATSetValueAsString(rat, start + i, col, values[i]!);
      return;
    }
    this.valuesIO(GF_WRITE, col, start, values, `writing column '${column}'`);
  }

  /** The fewest rows a table written to keeps: 256 on a Byte band (as RIOS writes them), else 0. */
  minRows(): number {
    return this.api.GDALGetRasterDataType(this.bandH) === GDT_BYTE ? 256 : 0;
  }

  /** Set the number of rows (the table is created when missing); new rows are 0 or ''. */
  setRowCount(rows: number): void {
    if (!Number.isInteger(rows) || rows < 0) throw new RatError(`${this.where}: a row count must be a whole number from 0 (got ${String(rows)})`);
    this.api.GDALRATSetRowCount(this.editable(), rows);
    this.changed = true;
  }

  /** State the table's linear binning: row 0 holds [row0Min, row0Min + binSize), and so on. */
  setLinearBinning(row0Min: number, binSize: number): void {
    this.check(this.api.GDALRATSetLinearBinning(this.editable(), row0Min, binSize), 'setting the linear binning');
    this.changed = true;
  }

  /** Hand a copied table back to the band (before the file closes), or drop the copy when `keep` is false. */
  finish(keep = true): void {
    if (!this.own || this.rat === null) return;
    try {
      if (keep && this.changed) this.check(this.api.GDALSetDefaultRAT(this.bandH, this.rat), 'storing the raster attribute table');
    } finally {
      this.api.GDALDestroyRasterAttributeTable(this.rat);
      this.rat = null;
      this.own = false;
    }
  }

  /** The table to change: the band's own when GDAL writes changes straight to the file, else a copy (or a new table). */
  private editable(): Handle {
    if (this.own || (this.rat !== null && this.api.GDALRATChangesAreWrittenToFile(this.rat) !== 0)) return this.rat!;
    this.rat = this.rat === null ? this.api.GDALCreateRasterAttributeTable() : this.api.GDALRATClone(this.rat);
    this.own = true;
    return this.rat;
  }

  private index(column: string, cols: ColumnInfo[]): number {
    const i = cols.findIndex((c) => c.name === column);
    if (i < 0)
      throw new RatError(`${this.where}: the raster attribute table has no column '${column}' (columns: ${cols.map((c) => c.name).join(', ') || 'none'})`);
    return i;
  }

  /**
   * Numbers in or out of rows [start, start + data.length) of a column. GDAL 3.6's generic
   * ValuesIO (the one in-memory tables such as GTiff's use) indexes the caller's buffer by table
   * row, not from `start`: asked for rows 2..4 it writes to buffer[2..4], past the end of a
   * 3-long buffer. So every table but HFA's and KEA's (which have their own ValuesIO) is read and
   * written from row 0 on a buffer that covers rows 0..end, where old and fixed GDALs agree.
   */
  private valuesIO(rw: number, col: number, start: number, data: Int32Array | Float64Array, what: string): void {
    const n = data.length;
    if (n === 0) return;
    const rat = this.rat!;
    const io = (flag: number, buf: Int32Array | Float64Array, first: number, len: number): number =>
      buf instanceof Int32Array
        ? this.api.GDALRATValuesIOAsInteger(rat, flag, col, first, len, buf)
        : this.api.GDALRATValuesIOAsDouble(rat, flag, col, first, len, buf);
    if (start === 0 || this.driver === 'HFA' || this.driver === 'KEA') return this.check(io(rw, data, start, n), what);
    const whole = data instanceof Int32Array ? new Int32Array(start + n) : new Float64Array(start + n);
    if (rw === GF_READ) {
      this.check(io(GF_READ, whole, 0, start + n), what);
      data.set(whole.subarray(start));
    } else {
      this.check(io(GF_READ, whole, 0, start), what); // rows before `start` are kept as they are
      whole.set(data, start);
      this.check(io(GF_WRITE, whole, 0, start + n), what);
    }
  }

  private check(err: number, what: string): void {
    if (err !== CE_NONE) throw new RatError(`${this.where}: ${what} failed: ${this.api.CPLGetLastErrorMsg() || 'GDAL gave no reason'}`);
  }
}

/** A file opened on a GDAL handle of riots' own, for its bands' tables. */
export class RatFile {
  private readonly tables = new Map<number, RatTable>();
  private closed = false;

  private constructor(
    private readonly api: RatApi,
    private readonly ds: Handle,
    readonly file: string,
    readonly update: boolean,
    readonly driver: string,
  ) {}

  /**
   * Open `file` (for update when its tables are to be written).
   * @throws {InputMissingError} when there is no such file; {RatError} when GDAL cannot open it.
   */
  static open(file: string, update: boolean): RatFile {
    if (!existsSync(file)) throw new InputMissingError(`${file}: no such file`, { file });
    const api = ratApi();
    api.CPLErrorReset();
    const ds = api.GDALOpenEx(file, GDAL_OF.RASTER | GDAL_OF.VERBOSE_ERROR | (update ? GDAL_OF.UPDATE : GDAL_OF.READONLY), null, null, null);
    if (ds === null)
      throw new RatError(`${file}: GDAL cannot open it${update ? ' for update' : ''}: ${api.CPLGetLastErrorMsg() || 'no reason given'}`, { file });
    return new RatFile(api, ds, file, update, api.GDALGetDriverShortName(api.GDALGetDatasetDriver(ds)));
  }

  get bandCount(): number {
    return this.api.GDALGetRasterCount(this.ds);
  }

  /**
   * Band `band`'s table (1-based; the same object for the same band).
   * @throws {RatError} when there is no such band.
   */
  table(band = 1): RatTable {
    const have = this.tables.get(band);
    if (have) return have;
    const n = this.bandCount;
    if (!Number.isInteger(band) || band < 1) throw new RatError(`${this.file}: band must be a whole number from 1 (got ${String(band)})`, { file: this.file });
    if (band > n) throw new RatError(`${this.file}: there is no band ${band} (the file has ${n})`, { file: this.file });
    const t = new RatTable(this.api, this.api.GDALGetRasterBand(this.ds, band), `${this.file} band ${band}`, this.driver, this.update);
    this.tables.set(band, t);
    return t;
  }

  /**
   * Hand every changed copy back to its band (or, with `keep` false after a failure, drop them)
   * and close the file; once, and the file closes even when a table fails.
   */
  close(keep = true): void {
    if (this.closed) return;
    this.closed = true;
    try {
      for (const t of this.tables.values()) t.finish(keep);
    } finally {
      this.api.GDALClose(this.ds);
    }
  }
}

/** Open `file`, run `fn` on band `band`'s table, close (writing a changed copy back first). */
export function withTable<T>(file: string, band: number | undefined, update: boolean, fn: (t: RatTable) => T): T {
  if (band !== undefined && (!Number.isInteger(band) || band < 1))
    throw new RatError(`${file}: band must be a whole number from 1 (got ${String(band)})`, { file });
  const rf = RatFile.open(file, update);
  let out: T;
  try {
    out = fn(rf.table(band ?? 1));
  } catch (e) {
    rf.close(false); // a half-made copy is dropped; the error says what went wrong
    throw e;
  }
  rf.close();
  return out;
}
