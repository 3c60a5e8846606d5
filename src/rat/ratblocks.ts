/**
 * The column blocks the RAT applier's user function sees for one chunk of rows (RIOS's
 * `RatBlockAssociation`): `inputs.<table>.<column>` is read from the table the first time the
 * function touches it (a column never touched is never read), and `outputs.<table>.<column> = …`
 * is kept until the function returns, then written from the output's next row.
 */
import { RatError } from '../errors.js';
import { COLUMN_USAGES, isColumnValues, type ColumnInfo, type ColumnUsage, type ColumnValues, type RatTable } from '../gdal/rattable.js';

/** Values the user function may set: typed arrays (integers: Integer columns, floats: Real) or strings. */
export type RatColumnBlock = ColumnValues | Int8Array | Uint8Array | Int16Array | Uint16Array | Uint32Array | Float32Array | number[];

/** One table's columns for one chunk; `setUsage` names the usage of a column the function creates. */
export type RatColumns = Record<string, RatColumnBlock> & { setUsage(column: string, usage: ColumnUsage): void };

/** An input table's columns for the chunk [start, start + count): read on first touch. */
export function inputColumns(name: string, table: RatTable, cols: ColumnInfo[], chunk: () => { start: number; count: number }): RatColumns {
  const cache = new Map<string, ColumnValues>();
  let cachedFor = -1;
  const names = new Set(cols.map((c) => c.name));
  return new Proxy({} as RatColumns, {
    get(_t, key) {
      if (typeof key !== 'string') return undefined;
      const { start, count } = chunk();
      if (cachedFor !== start) {
        cache.clear();
        cachedFor = start;
      }
      const have = cache.get(key);
      if (have) return have;
      if (!names.has(key)) {
        throw new RatError(`ratapplier: inputs.${name} (${table.where}) has no column '${key}' (columns: ${[...names].join(', ') || 'none'})`);
      }
      const v = table.read(key, start, count);
      cache.set(key, v);
      return v;
    },
    set(_t, key) {
      throw new RatError(`ratapplier: inputs.${name}.${String(key)} cannot be set: write to an output table (name it in outRats)`);
    },
    has: (_t, key) => typeof key === 'string' && names.has(key),
    ownKeys: () => [...names],
    getOwnPropertyDescriptor: (_t, key) => (typeof key === 'string' && names.has(key) ? { enumerable: true, configurable: true } : undefined),
  });
}

/** An output table's columns for the current chunk, and what the function set. */
export class OutputColumns {
  readonly set = new Map<string, ColumnValues>();
  readonly usages = new Map<string, ColumnUsage>();
  readonly view: RatColumns;

  constructor(readonly name: string) {
    const usages = this.usages;
    const setUsage = (column: string, usage: ColumnUsage): void => {
      if (!COLUMN_USAGES.includes(usage))
        throw new RatError(`ratapplier: outputs.${name}.setUsage('${column}'): usage must be one of ${COLUMN_USAGES.join(', ')} (got ${String(usage)})`);
      usages.set(column, usage);
    };
    this.view = new Proxy({} as RatColumns, {
      get: (_t, key) => {
        if (key === 'setUsage') return setUsage;
        return typeof key === 'string' ? this.set.get(key) : undefined;
      },
      set: (_t, key, value) => {
        if (typeof key !== 'string') return false;
        this.set.set(key, columnValues(value, `outputs.${name}.${key}`));
        return true;
      },
    });
  }

  /** Rows the function produced this chunk (every column set must have as many). */
  rows(chunk: number): number | undefined {
    let n: number | undefined;
    for (const [col, v] of this.set) {
      if (n === undefined) n = v.length;
      else if (v.length !== n) {
        const first = [...this.set.keys()][0]!;
        throw new RatError(
          `ratapplier: chunk ${chunk}: outputs.${this.name}.${col} has ${v.length} rows, but outputs.${this.name}.${first} has ${n}: every column set on a table in one chunk must have as many`,
        );
      }
    }
    return n;
  }
}

const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array];

/** The function's values as a column: integer typed arrays as Int32Array, floats as Float64Array. */
function columnValues(v: unknown, where: string): ColumnValues {
  if (isColumnValues(v)) return v;
  if (INTEGER_ARRAYS.some((C) => v instanceof C)) return Int32Array.from(v as ArrayLike<number>);
  if (v instanceof Uint32Array) {
    const big = v.findIndex((x) => x > 0x7fffffff);
    if (big >= 0) throw new RatError(`ratapplier: ${where}[${big}] = ${v[big]!} does not fit an Integer column (32-bit signed): give a Float64Array`);
    return Int32Array.from(v);
  }
  if (v instanceof Float32Array) return Float64Array.from(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return Float64Array.from(v);
  const what = v === null ? 'null' : ArrayBuffer.isView(v) ? v.constructor.name : typeof v;
  throw new RatError(`ratapplier: ${where} must be a typed array of numbers (not 64-bit), a list of numbers or a list of strings (got ${what})`);
}
