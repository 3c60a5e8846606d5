/**
 * The RAT applier (RIOS's `ratapplier.apply`): a user function over raster attribute tables, one
 * chunk of rows at a time, so a table of millions of rows never has to fit in memory. Inputs are
 * read only where the function touches them (ratblocks.ts); outputs are written chunk by chunk,
 * columns created with the type of the values the function sets.
 *
 * Every file is opened once (tables of one file share its handle; a file that is an output is
 * opened for update) and closed at the end, also on failure. Do not run it on a file an
 * `apply()` is still writing.
 *
 * @example
 * ```ts
 * import { ratapplier } from 'riots';
 * await ratapplier.apply((info, inputs, outputs) => {
 *   const a = inputs.seg.meanB4 as Float64Array, b = inputs.seg.meanB3 as Float64Array;
 *   outputs.seg.ndvi = a.map((v, i) => (v - b[i]!) / (v + b[i]!));
 * }, { seg: 'segments.kea' }, { seg: 'segments.kea' });
 * ```
 */
import { ControlsError, RatError } from '../errors.js';
import { RatFile, type RatTable } from '../gdal/rattable.js';
import { tuneHeap } from '../gdal/heap.js';
import { makeProgress } from '../applier/progress.js';
import { OutputColumns, inputColumns, type RatColumns } from './ratblocks.js';
import {
  RatApplierState,
  RCM_EQUALS_INPUT,
  RCM_FIXED,
  handleOf,
  resolveRatControls,
  type RatApplierControls,
  type RatHandle,
  type ResolvedRatControls,
} from './ratcontrols.js';

/** The user function: reads `inputs.<table>.<column>`, sets `outputs.<table>.<column>`; may be async. */
export type RatUserFunction<A = unknown, I extends string = string, O extends string = string> = (
  info: RatApplierState,
  inputs: Record<I, RatColumns>,
  outputs: Record<O, RatColumns>,
  otherArgs: A,
) => void | Promise<void>;

export interface RatApplyOptions<A> {
  /** Passed to every call unchanged: state the function keeps across chunks. */
  otherArgs?: A;
  controls?: RatApplierControls;
}

interface OutputState {
  cols: OutputColumns;
  table: RatTable;
  written: number;
  wrote: boolean;
}

/**
 * Run `fn` over the tables named in `inRats` and `outRats`, chunk by chunk.
 * @throws {RatError} when input tables differ in row count, a column is missing, or the values set do not fit; {ControlsError} on bad controls.
 */
export async function apply<A = unknown, I extends string = string, O extends string = string>(
  fn: RatUserFunction<A, I, O>,
  inRats: Record<I, string | RatHandle>,
  outRats: Record<O, string | RatHandle>,
  options: RatApplyOptions<A> = {},
): Promise<void> {
  if (typeof fn !== 'function') throw new ControlsError('ratapplier: the user function must be a function');
  const controls = resolveRatControls(options.controls);
  tuneHeap(); // each chunk's column arrays reuse freed memory instead of faulting fresh pages in (gdal/heap.ts)
  const ins = Object.entries<string | RatHandle>(inRats ?? {}).map(([n, h]) => ({ name: n, ...handleOf(n, h, 'inRats') }));
  const outs = Object.entries<string | RatHandle>(outRats ?? {}).map(([n, h]) => ({ name: n, ...handleOf(n, h, 'outRats') }));
  const files = new Map<string, RatFile>();
  const open = (file: string): RatFile => {
    let f = files.get(file);
    if (!f) {
      f = RatFile.open(
        file,
        outs.some((o) => o.file === file),
      );
      files.set(file, f);
    }
    return f;
  };
  let ok = false;
  try {
    const inTables = ins.map((i) => ({ ...i, table: open(i.file).table(i.band) }));
    for (const t of inTables) if (!t.table.exists()) throw new RatError(`ratapplier: inRats.${t.name}: ${t.table.where} has no raster attribute table`);
    const rowCount = totalRows(inTables, controls);
    const state = new RatApplierState(rowCount);
    const chunk = (): { start: number; count: number } => ({ start: state.startrow, count: state.blockLen });
    const inputs = Object.fromEntries(inTables.map((t) => [t.name, inputColumns(t.name, t.table, t.table.columns(), chunk)]));
    const outStates: OutputState[] = outs.map((o) => ({ cols: new OutputColumns(o.name), table: open(o.file).table(o.band), written: 0, wrote: false }));
    const outputs = Object.fromEntries(outStates.map((o) => [o.cols.name, o.cols.view]));
    const progress = controls.progress === true ? makeProgress(process.stderr, 'ratapplier', 'rows') : undefined;
    const chunks = Math.ceil(rowCount / controls.blockLen);
    for (let i = 0; i < chunks; i++) {
      state.setBlock(i, controls.blockLen);
      for (const o of outStates) o.cols.set.clear();
      await fn(state, inputs as Record<I, RatColumns>, outputs as Record<O, RatColumns>, options.otherArgs as A);
      for (const o of outStates) writeChunk(o, state, controls);
      const done = state.startrow + state.blockLen;
      if (typeof controls.progress === 'function') controls.progress(done, rowCount);
      progress?.update(done, rowCount);
    }
    progress?.finish();
    for (const o of outStates)
      if (o.wrote && o.table.rowCount() !== Math.max(o.written, o.table.minRows())) o.table.setRowCount(Math.max(o.written, o.table.minRows()));
    ok = true;
  } finally {
    closeAll(files, ok);
  }
}

function totalRows(inTables: { name: string; file: string; table: RatTable }[], controls: ResolvedRatControls): number {
  const counts = inTables.map((t) => ({ t, rows: t.table.rowCount() }));
  if (counts.some((c) => c.rows !== counts[0]!.rows)) {
    throw new RatError(
      `ratapplier: the input tables differ in row count: ${counts.map((c) => `inRats.${c.t.name} (${c.t.table.where}) ${c.rows}`).join(', ')}`,
    );
  }
  const rows = controls.rowCount ?? counts[0]?.rows;
  if (rows === undefined) throw new ControlsError('ratapplier: with no input table, give controls.rowCount (the rows to produce)');
  return rows;
}

/** Write what the function set on one output this chunk, growing the table as the row count method says. */
function writeChunk(o: OutputState, state: RatApplierState, controls: ResolvedRatControls): void {
  const rows = o.cols.rows(state.blockNdx);
  if (rows === undefined) return;
  o.wrote = true;
  const end = o.written + rows;
  if (controls.outRowCountMethod === RCM_FIXED && end > controls.fixedOutRowCount!) {
    throw new RatError(
      `ratapplier: chunk ${state.blockNdx}: outputs.${o.cols.name} would reach row ${end}, beyond its fixedOutRowCount of ${controls.fixedOutRowCount!}`,
    );
  }
  if (rows > 0 && o.table.rowCount() < end) {
    const wanted =
      controls.outRowCountMethod === RCM_EQUALS_INPUT
        ? Math.max(state.rowCount, end)
        : controls.outRowCountMethod === RCM_FIXED
          ? controls.fixedOutRowCount!
          : o.written + Math.max(rows, controls.rowCountIncrementSize ?? rows);
    o.table.setRowCount(wanted);
  }
  for (const [col, v] of o.cols.set) {
    try {
      o.table.write(col, v, { start: o.written, usage: o.cols.usages.get(col) });
    } catch (e) {
      if (e instanceof RatError) throw new RatError(`ratapplier: chunk ${state.blockNdx}: outputs.${o.cols.name}.${col}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  o.written += rows;
}

function closeAll(files: Map<string, RatFile>, keep: boolean): void {
  let first: unknown;
  for (const f of files.values()) {
    try {
      f.close(keep);
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined && keep) throw first;
}

/**
 * Copy band `band`'s table of `from` to `to`'s (RIOS's copyRAT), chunk by chunk, every column
 * but `omitColumns`, with its type and usage.
 */
export async function copyRAT(
  from: string | { file: string; band?: number },
  to: string | { file: string; band?: number },
  opts: { omitColumns?: string[]; progress?: RatApplierControls['progress']; blockLen?: number } = {},
): Promise<void> {
  const src = handleOf('from', from, 'copyRAT');
  const f = RatFile.open(src.file, false);
  let cols;
  try {
    cols = f.table(src.band).columns();
    if (cols.length === 0) throw new RatError(`copyRAT: ${src.file} band ${src.band} has no raster attribute table`);
  } finally {
    f.close(false);
  }
  const omit = new Set(opts.omitColumns ?? []);
  const unknown = [...omit].filter((c) => !cols.some((k) => k.name === c));
  if (unknown.length > 0) throw new RatError(`copyRAT: ${src.file} band ${src.band} has no column ${unknown.map((c) => `'${c}'`).join(', ')} to omit`);
  const keep = cols.filter((c) => !omit.has(c.name));
  await apply(
    (_info, inputs, outputs) => {
      for (const c of keep) {
        outputs.out[c.name] = inputs.in[c.name]!;
        outputs.out.setUsage(c.name, c.usage);
      }
    },
    { in: src },
    { out: to },
    { controls: { progress: opts.progress, blockLen: opts.blockLen } },
  );
}
