/**
 * GDAL data types and the TypedArray each maps to, typed by the data-type literal.
 *
 * Int64 and UInt64 (GDAL 3.5 and later) hold BigInt64Array / BigUint64Array, as gdal-async reads
 * and writes them: their elements are bigints, exact over the whole 64-bit range. Statistics and
 * resampling treat them as doubles (as GDAL does), exact up to 2^53.
 */

export type NumberDataType = 'Byte' | 'Int8' | 'Int16' | 'UInt16' | 'Int32' | 'UInt32' | 'Float32' | 'Float64';
export type BigIntDataType = 'Int64' | 'UInt64';
export type DataType = NumberDataType | BigIntDataType;

export interface TypedArrayMap {
  Byte: Uint8Array;
  /** GDAL 3.7 and later (GDT_Int8); with an older GDAL riots refuses to write it. */
  Int8: Int8Array;
  Int16: Int16Array;
  UInt16: Uint16Array;
  Int32: Int32Array;
  UInt32: Uint32Array;
  Int64: BigInt64Array;
  UInt64: BigUint64Array;
  Float32: Float32Array;
  Float64: Float64Array;
}

export type TypedArrayFor<D extends DataType> = TypedArrayMap[D];
/** Arrays whose elements are numbers. */
export type NumberTypedArray = TypedArrayMap[NumberDataType];
/** Arrays whose elements are bigints (Int64, UInt64). */
export type BigIntTypedArray = TypedArrayMap[BigIntDataType];
export type AnyTypedArray = TypedArrayMap[DataType];

export function isBigIntType(dtype: DataType): dtype is BigIntDataType {
  return dtype === 'Int64' || dtype === 'UInt64';
}

/** Fill a typed array of any type with a number (truncated for 64-bit arrays). */
export function fillWith(a: AnyTypedArray, v: number): void {
  if (a instanceof BigInt64Array || a instanceof BigUint64Array) a.fill(bigIntOf(v));
  else a.fill(v);
}

/** The values as numbers: the array itself, or for a 64-bit array a Float64Array copy (exact up to 2^53). */
export function asNumbers(a: AnyTypedArray): NumberTypedArray {
  return a instanceof BigInt64Array || a instanceof BigUint64Array ? Float64Array.from(a, Number) : a;
}

/** A number as a 64-bit element: truncated toward zero; NaN and infinities give 0 (as integer typed arrays do). */
export function bigIntOf(v: number): bigint {
  return Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
}

type Ctor = {
  new (length: number): AnyTypedArray;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): AnyTypedArray;
  BYTES_PER_ELEMENT: number;
};

export const TYPED_ARRAY: { readonly [D in DataType]: Ctor } = {
  Byte: Uint8Array,
  Int8: Int8Array,
  Int16: Int16Array,
  UInt16: Uint16Array,
  Int32: Int32Array,
  UInt32: Uint32Array,
  Int64: BigInt64Array,
  UInt64: BigUint64Array,
  Float32: Float32Array,
  Float64: Float64Array,
} as const;

export const DATA_TYPES: readonly DataType[] = Object.keys(TYPED_ARRAY) as DataType[];

export function isDataType(s: unknown): s is DataType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(TYPED_ARRAY, s);
}

export function bytesPerElement(dtype: DataType): number {
  return TYPED_ARRAY[dtype].BYTES_PER_ELEMENT;
}

export function isIntegerType(dtype: DataType): boolean {
  return dtype !== 'Float32' && dtype !== 'Float64';
}

/** The data type of a TypedArray instance, or undefined for arrays riots does not handle. */
export function dataTypeOf(a: unknown): DataType | undefined {
  if (a instanceof Uint8Array && !(a instanceof Uint8ClampedArray)) return 'Byte';
  if (a instanceof Int8Array) return 'Int8';
  if (a instanceof Int16Array) return 'Int16';
  if (a instanceof Uint16Array) return 'UInt16';
  if (a instanceof Int32Array) return 'Int32';
  if (a instanceof Uint32Array) return 'UInt32';
  if (a instanceof BigInt64Array) return 'Int64';
  if (a instanceof BigUint64Array) return 'UInt64';
  if (a instanceof Float32Array) return 'Float32';
  if (a instanceof Float64Array) return 'Float64';
  return undefined;
}

/** Smallest and largest values a data type can hold. */
export function typeRange(dtype: DataType): [number, number] {
  switch (dtype) {
    case 'Byte':
      return [0, 255];
    case 'Int8':
      return [-128, 127];
    case 'Int16':
      return [-32768, 32767];
    case 'UInt16':
      return [0, 65535];
    case 'Int32':
      return [-2147483648, 2147483647];
    case 'UInt32':
      return [0, 4294967295];
    case 'Int64':
      return [-(2 ** 63), 2 ** 63]; // as doubles: 2^63 - 1 is 2^63
    case 'UInt64':
      return [0, 2 ** 64];
    case 'Float32':
      return [-3.4028234663852886e38, 3.4028234663852886e38];
    case 'Float64':
      return [-Number.MAX_VALUE, Number.MAX_VALUE];
  }
}

/** Allocate a typed array of the given type and length. */
export function allocate<D extends DataType>(dtype: D, length: number): TypedArrayFor<D> {
  return new TYPED_ARRAY[dtype](length) as TypedArrayFor<D>;
}

/**
 * Like {@link allocate}, but the contents are not zeroed: for arrays the caller fills entirely
 * before anyone reads them (a GDAL read of the whole window). Large arrays skip V8's zero fill,
 * which is most of the cost of allocating a block. The buffer is a plain, transferable
 * ArrayBuffer of exactly the array's size.
 */
export function allocateUninitialized<D extends DataType>(dtype: D, length: number): TypedArrayFor<D> {
  const C = TYPED_ARRAY[dtype];
  const bytes = length * C.BYTES_PER_ELEMENT;
  if (bytes < 4096) return new C(length) as TypedArrayFor<D>;
  return new C(Buffer.allocUnsafeSlow(bytes).buffer, 0, length) as TypedArrayFor<D>;
}

/** View an ArrayBuffer (or part of it) as the typed array of a data type, without copying. */
export function viewAs<D extends DataType>(dtype: D, buffer: ArrayBufferLike, byteOffset = 0, length?: number): TypedArrayFor<D> {
  const C = TYPED_ARRAY[dtype];
  const n = length ?? (buffer.byteLength - byteOffset) / C.BYTES_PER_ELEMENT;
  return new C(buffer, byteOffset, n) as TypedArrayFor<D>;
}
