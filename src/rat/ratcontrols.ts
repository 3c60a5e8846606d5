/**
 * What the RAT applier takes: the tables it works on (RIOS's `RatAssociations` of `RatHandle`s),
 * its controls (RIOS's `RatApplierControls`, by the same names) and the state handed to the user
 * function for each chunk of rows (RIOS's `RatApplierState`).
 */
import { ControlsError } from '../errors.js';
import { checkKnownKeys } from '../settings.js';

/** A band's table in a file (RIOS's `RatHandle(filename, layernum)`). */
export interface RatHandle {
  file: string;
  /** 1-based band (RIOS's layernum); default 1. */
  band?: number;
}
/** Names the user function sees, each a table: a `RatHandle` or a file name (band 1). */
export type RatAssociations = Record<string, string | RatHandle>;

/** RIOS's row count methods for output tables. */
export const RCM_EQUALS_INPUT = 'equalsInput';
export const RCM_FIXED = 'fixed';
export const RCM_INCREMENT = 'increment';
export type RowCountMethod = typeof RCM_EQUALS_INPUT | typeof RCM_FIXED | typeof RCM_INCREMENT;
const METHODS: readonly RowCountMethod[] = [RCM_EQUALS_INPUT, RCM_FIXED, RCM_INCREMENT];

/** Called after each chunk: rows done so far and the total. */
export type RatProgress = (done: number, total: number) => void;

export interface RatApplierControls {
  /** Rows per chunk (RIOS's blockLen); default 100000. Memory grows with it, not with the table. */
  blockLen?: number;
  /** Rows to process; default the input tables' row count. Needed when there is no input table. */
  rowCount?: number;
  /**
   * How an output table's row count follows what is written: `equalsInput` (the rows
   * processed, the default), `fixed` (`fixedOutRowCount`), or `increment` (grown as chunks
   * produce rows, by at least `rowCountIncrementSize`). At the end, a table written to is cut to
   * the rows written (a Byte band's kept at 256 at least).
   */
  outRowCountMethod?: RowCountMethod;
  fixedOutRowCount?: number;
  rowCountIncrementSize?: number;
  /** true: a bar on stderr (a TTY) or percentage lines; or a function of (rows done, total). */
  progress?: boolean | RatProgress;
}

export interface ResolvedRatControls {
  blockLen: number;
  rowCount: number | undefined;
  outRowCountMethod: RowCountMethod;
  fixedOutRowCount: number | undefined;
  rowCountIncrementSize: number | undefined;
  progress: boolean | RatProgress;
}

const KEYS = ['blockLen', 'rowCount', 'outRowCountMethod', 'fixedOutRowCount', 'rowCountIncrementSize', 'progress'];

function wholeNumber(v: unknown, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new ControlsError(`ratapplier: ${name} must be a whole number from ${min} (got ${String(v)})`);
  return v;
}

/**
 * Controls with defaults, checked.
 * @throws {ControlsError} on an unknown key or a value out of range.
 */
export function resolveRatControls(c: RatApplierControls | undefined): ResolvedRatControls {
  const given = c ?? {};
  if (typeof given !== 'object') throw new ControlsError('ratapplier: controls must be an object');
  checkKnownKeys(given, KEYS, 'RAT applier controls', 'ratapplier.apply()');
  const method = given.outRowCountMethod ?? RCM_EQUALS_INPUT;
  if (!METHODS.includes(method)) throw new ControlsError(`ratapplier: outRowCountMethod must be one of ${METHODS.join(', ')} (got ${String(method)})`);
  const fixed = wholeNumber(given.fixedOutRowCount, 'fixedOutRowCount', 0);
  if (method === RCM_FIXED && fixed === undefined) throw new ControlsError(`ratapplier: outRowCountMethod '${RCM_FIXED}' needs fixedOutRowCount`);
  if (method !== RCM_FIXED && fixed !== undefined) throw new ControlsError(`ratapplier: fixedOutRowCount is used only with outRowCountMethod '${RCM_FIXED}'`);
  const inc = wholeNumber(given.rowCountIncrementSize, 'rowCountIncrementSize', 1);
  if (method !== RCM_INCREMENT && inc !== undefined)
    throw new ControlsError(`ratapplier: rowCountIncrementSize is used only with outRowCountMethod '${RCM_INCREMENT}'`);
  const progress = given.progress ?? false;
  if (typeof progress !== 'boolean' && typeof progress !== 'function') throw new ControlsError('ratapplier: progress must be true, false or a function');
  return {
    blockLen: wholeNumber(given.blockLen, 'blockLen', 1) ?? 100_000,
    rowCount: wholeNumber(given.rowCount, 'rowCount', 0),
    outRowCountMethod: method,
    fixedOutRowCount: fixed,
    rowCountIncrementSize: inc,
    progress,
  };
}

/** Where the applier is (RIOS's RatApplierState): the user function's first argument. */
export class RatApplierState {
  /** Index of this chunk (from 0). */
  blockNdx = 0;
  /** First row of this chunk in the input tables. */
  startrow = 0;
  /** Rows in this chunk (the last may be shorter). */
  blockLen = 0;
  constructor(
    /** Rows in the input tables (or controls.rowCount): the same for every chunk. */
    readonly rowCount: number,
  ) {}

  /** The input row numbers of this chunk (startrow, startrow + 1, …). */
  get inputRowNumbers(): Int32Array {
    return Int32Array.from({ length: this.blockLen }, (_, i) => this.startrow + i);
  }

  setBlock(i: number, requested: number): void {
    this.blockNdx = i;
    this.startrow = i * requested;
    this.blockLen = Math.min(requested, this.rowCount - this.startrow);
  }
}

/** A handle as `{file, band}`, checked. */
export function handleOf(name: string, h: string | RatHandle, side: string): Required<RatHandle> {
  const r = typeof h === 'string' ? { file: h } : h;
  if (r === null || typeof r !== 'object' || typeof r.file !== 'string' || r.file === '') {
    throw new ControlsError(`ratapplier: ${side}.${name} must be a file name or { file, band } (got ${JSON.stringify(h)})`);
  }
  checkKnownKeys(r, ['file', 'band'], `${side}.${name}`, 'ratapplier.apply()');
  const band = r.band ?? 1;
  if (!Number.isInteger(band) || band < 1) throw new ControlsError(`ratapplier: ${side}.${name}.band must be a whole number from 1 (got ${String(r.band)})`);
  return { file: r.file, band };
}
