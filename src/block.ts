/**
 * Block: all bands of one window of a raster, band-major `[bands][rows][cols]`, in one
 * TypedArray of the raster's data type.
 *
 * `Block` alone means a block of numbers (every type but Int64 and UInt64), which is what user
 * functions handle unless their data is 64-bit: a `Block<'Int64'>` holds a BigInt64Array (see
 * {@link isBigIntBlock}); `get`, `set` and `map` still take and give numbers for it.
 */
import {
  allocate,
  bigIntOf,
  dataTypeOf,
  fillWith,
  isBigIntType,
  isDataType,
  TYPED_ARRAY,
  type BigIntDataType,
  type DataType,
  type NumberDataType,
  type TypedArrayFor,
} from './dtypes.js';
import { ProtocolError } from './errors.js';

export class Block<D extends DataType = NumberDataType> {
  /** The pixels, band-major: index = (band * rows + row) * cols + col. */
  readonly data: TypedArrayFor<D>;
  readonly dtype: D;
  readonly bands: number;
  readonly rows: number;
  readonly cols: number;

  /**
   * Wrap an existing typed array. Its length must be bands × rows × cols.
   * @throws {RangeError} when the array does not fit the shape or the type.
   */
  constructor(dtype: D, bands: number, rows: number, cols: number, data?: TypedArrayFor<D>) {
    if (!isDataType(dtype)) throw new TypeError(`Block: unknown data type ${String(dtype)}${typeHint(String(dtype))}`);
    for (const [k, v] of [
      ['bands', bands],
      ['rows', rows],
      ['cols', cols],
    ] as const) {
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`Block: ${k} must be a non-negative integer, got ${v}`);
    }
    const n = bands * rows * cols;
    if (data === undefined) {
      data = allocate(dtype, n);
    } else {
      if (dataTypeOf(data) !== dtype) {
        throw new TypeError(`Block: data is ${data.constructor.name}, which does not hold ${dtype}`);
      }
      if (data.length !== n) {
        throw new RangeError(`Block: data has ${data.length} elements, shape ${bands}x${rows}x${cols} needs ${n}`);
      }
    }
    this.data = data;
    this.dtype = dtype;
    this.bands = bands;
    this.rows = rows;
    this.cols = cols;
  }

  /** A new block filled with zeros (or with `fill`). */
  static create<D extends DataType>(dtype: D, bands: number, rows: number, cols: number, fill?: number): Block<D> {
    const b = new Block(dtype, bands, rows, cols);
    if (fill !== undefined && fill !== 0) fillWith(b.data, fill);
    return b;
  }

  /** Wrap a typed array, taking the data type from the array. */
  static fromArray<A extends TypedArrayFor<DataType>>(data: A, bands: number, rows: number, cols: number): Block<DataType> {
    const dtype = dataTypeOf(data);
    if (dtype === undefined) throw new TypeError(`Block.fromArray: unsupported array type ${data.constructor.name}`);
    return new Block<DataType>(dtype, bands, rows, cols, data);
  }

  /** A new zero-filled block of the same rows and cols, optionally of another type or band count. */
  like<E extends DataType = D>(dtype?: E, bands?: number): Block<E> {
    return new Block((dtype ?? this.dtype) as E, bands ?? this.bands, this.rows, this.cols);
  }

  /** Number of pixels per band. */
  get pixelsPerBand(): number {
    return this.rows * this.cols;
  }

  /** A zero-copy view of one band (0-based), `rows × cols` long, row-major. */
  band(i: number): TypedArrayFor<D> {
    if (!Number.isInteger(i) || i < 0 || i >= this.bands) {
      throw new RangeError(`Block.band: band ${i} out of range 0..${this.bands - 1}`);
    }
    const n = this.rows * this.cols;
    return this.data.subarray(i * n, (i + 1) * n) as TypedArrayFor<D>;
  }

  /** One pixel's value (a 64-bit value as the nearest number). */
  get(b: number, r: number, c: number): number {
    return Number(this.data[(b * this.rows + r) * this.cols + c]);
  }

  /** Set one pixel (into a 64-bit block, the number truncated to an integer). */
  set(b: number, r: number, c: number, v: number): void {
    const i = (b * this.rows + r) * this.cols + c;
    if (isBigIntType(this.dtype)) (this.data as TypedArrayFor<BigIntDataType>)[i] = bigIntOf(v);
    else (this.data as TypedArrayFor<NumberDataType>)[i] = v;
  }

  /** A deep copy. */
  clone(): Block<D> {
    const C = TYPED_ARRAY[this.dtype];
    const copy = new C(this.data.length) as TypedArrayFor<D>;
    (copy as unknown as AnyArr).set(this.data as unknown as ArrayLike<number>);
    return new Block(this.dtype, this.bands, this.rows, this.cols, copy);
  }

  /** Apply a per-pixel function to every value of every band, into a new block of `dtype`. */
  map<E extends DataType = D>(fn: (v: number, band: number) => number, dtype?: E): Block<E> {
    const out = this.like(dtype);
    const n = this.rows * this.cols;
    const big = isBigIntType(this.dtype);
    const src = this.data as ArrayLike<number | bigint>;
    if (isBigIntType(out.dtype)) {
      const dst = out.data as TypedArrayFor<BigIntDataType>;
      for (let b = 0; b < this.bands; b++) for (let i = b * n; i < (b + 1) * n; i++) dst[i] = bigIntOf(fn(Number(src[i]), b));
    } else {
      const dst = out.data as TypedArrayFor<NumberDataType>;
      for (let b = 0; b < this.bands; b++) {
        const o = b * n;
        if (big) for (let i = 0; i < n; i++) dst[o + i] = fn(Number(src[o + i]), b);
        else for (let i = 0; i < n; i++) dst[o + i] = fn(src[o + i] as number, b);
      }
    }
    return out;
  }

  /** Copy a window out of this block as a new block (all bands). */
  window(row0: number, col0: number, rows: number, cols: number): Block<D> {
    if (row0 < 0 || col0 < 0 || row0 + rows > this.rows || col0 + cols > this.cols) {
      throw new RangeError(`Block.window: ${rows}x${cols} at (${row0},${col0}) outside ${this.rows}x${this.cols}`);
    }
    const out = new Block(this.dtype, this.bands, rows, cols);
    for (let b = 0; b < this.bands; b++) {
      for (let r = 0; r < rows; r++) {
        const s = (b * this.rows + row0 + r) * this.cols + col0;
        (out.data as AnyArr).set((this.data as AnyArr).subarray(s, s + cols), (b * rows + r) * cols);
      }
    }
    return out;
  }

  toString(): string {
    return `Block<${this.dtype}>[${this.bands}x${this.rows}x${this.cols}]`;
  }
}

type AnyArr = { set(a: ArrayLike<number>, offset?: number): void; subarray(a: number, b: number): ArrayLike<number> };

/** Why a type riots users may expect is not there. */
function typeHint(t: string): string {
  if (/^C(Int|Float)/.test(t)) return ' (complex pixels cannot pass through gdal-async, whose pixel I/O has no complex typed array)';
  return '';
}

/** A block of Int64 or UInt64: its data is a BigInt64Array or BigUint64Array. */
export function isBigIntBlock(b: Block<DataType>): b is Block<BigIntDataType> {
  return isBigIntType(b.dtype);
}

/** What the user function receives and fills: one Block, or a list of them, per image name. */
export type BlockAssociations = Record<string, Block | Block[]>;

/** A block of any data type, 64-bit ones included: what riots' own code handles. */
export type AnyBlock = Block<DataType>;
/** Blocks of any data type under their names: what user functions may put in `outputs`. */
export type AnyAssociations = Record<string, AnyBlock | AnyBlock[]>;

/**
 * The blocks a user function gets for a set of files: a Block for each name given one file, a
 * Block[] for each name given a list. `BlocksFor<{ img: string; dates: string[] }>` is
 * `{ img: Block; dates: Block[] }`, so a misspelt name or a list used as one block is a type error.
 */
export type BlocksFor<F> = { [K in keyof F]: F[K] extends readonly unknown[] ? Block[] : Block };

export function isBlock(v: unknown): v is Block {
  return v instanceof Block;
}

/** One block of a {@link BlockAssociations}: its image name and, in a list, its position. */
export interface NamedBlock<B = Block> {
  name: string;
  listIndex: number | null;
  block: B;
}

/** The blocks of `a` one by one, lists in order: how blocks travel to and from a worker. */
export function flattenBlocks(a: BlockAssociations): NamedBlock<AnyBlock>[] {
  const out: NamedBlock<AnyBlock>[] = [];
  for (const [name, v] of Object.entries(a)) {
    if (Array.isArray(v)) v.forEach((block, i) => out.push({ name, listIndex: i, block }));
    else out.push({ name, listIndex: null, block: v });
  }
  return out;
}

/**
 * Blocks back under their names, the inverse of {@link flattenBlocks}.
 * @throws {ProtocolError} when a name comes twice, is both a block and a list, or a list has gaps.
 */
export function assembleBlocks(blocks: Iterable<NamedBlock<AnyBlock>>): BlockAssociations {
  const out: BlockAssociations = {};
  for (const { name, listIndex, block: any } of blocks) {
    // 64-bit blocks go in as they are (BlockAssociations' `Block` describes the usual number blocks)
    const block = any as Block;
    const have = out[name];
    if (listIndex === null) {
      if (have !== undefined) throw new ProtocolError(`block '${name}' appears twice`);
      out[name] = block;
      continue;
    }
    if (have !== undefined && !Array.isArray(have)) throw new ProtocolError(`block '${name}' is both a single block and a list`);
    const list = have ?? [];
    if (list[listIndex] !== undefined) throw new ProtocolError(`block '${name}[${listIndex}]' appears twice`);
    list[listIndex] = block;
    out[name] = list;
  }
  for (const [name, v] of Object.entries(out)) {
    if (Array.isArray(v) && Array.from(v, (b) => b === undefined).includes(true)) throw new ProtocolError(`list '${name}' has missing blocks`);
  }
  return out;
}
