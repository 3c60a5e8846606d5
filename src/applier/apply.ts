/**
 * apply(): open inputs, settle the working grid, walk it block by block through the user
 * function, and write the outputs with statistics and pyramids.
 */
import type { BlockAssociations, BlocksFor } from '../block.js';
import { Block } from '../block.js';
import { ControlsError, InterruptedError, RiotsError } from '../errors.js';
import { ApplierControls, type ControlsInput } from '../controls.js';
import { ConcurrencyStyle } from '../concurrency.js';
import type { PixelGrid } from '../grid.js';
import { OutputFile, checkOutputFolder } from '../gdal/writer.js';
import { tuneHeap } from '../gdal/heap.js';
import { blockCoords, makeBlockPlan, type BlockPlan } from '../blockplan.js';
import type { BlockCoords } from '../errors.js';
import { bytesPerElement } from '../dtypes.js';
import type { ComputeBackend, RunLayout } from '../workers/backend.js';
import { SequentialBackend } from '../workers/sequential.js';
import { checkOutputs } from '../workers/worker/runblock.js';
import { imageRefs, openInputs, readBlockInputs, type FilenameAssociations, type ImageRef, type InputSource } from '../reader/inputs.js';
import { runPipeline } from './pipeline.js';
import { checkOutputPaths } from './outputpaths.js';
import { checkUserFunctionArg, loadUserFunction, userFunctionSpecOf, type UserFunction, type UserFunctionRef } from '../userfunction.js';
import { checkOtherArgs } from '../otherargs.js';
import { checkKnownKeys } from '../settings.js';
import { openReadPool, readSetsFor, readStrips, stripSet, type ReadPool, type ReadSets } from '../reader/readpool.js';
import { makeProgress } from './progress.js';
import { ReaderInfo, type InfoContext } from '../readerinfo.js';
import { Timings, formatTimingsReport } from '../timings.js';
import type { RunRecorder } from '../report/recorder.js';
import { RunReport } from './runreport.js';

/** `N`: the run's image names, which `controls.images` is keyed by. */
export interface ApplyOptions<A = unknown, N extends string = string> {
  /** Any object, passed to every call and kept between blocks. */
  otherArgs?: A;
  controls?: ApplierControls | ControlsInput<N>;
  /** Abort the run: workers are stopped and temporary outputs removed. */
  signal?: AbortSignal;
}

export interface ApplierReturn<A = unknown> {
  /** Totals per phase, merged across workers. */
  timings: Timings;
  /** Per compute worker, its own timings (empty in a sequential run). */
  workerTimings: Map<number, Timings>;
  /** One final otherArgs per compute worker, or one (the caller's own object) in a sequential run. */
  otherArgsList: A[];
  /** Wall time of the whole apply(), seconds. */
  wallSeconds: number;
  /** Number of blocks processed. */
  blocks: number;
  /** The working grid. */
  grid: PixelGrid;
  /** The timing table with the wall time. */
  formatReport(): string;
}

/**
 * Run `userFunction` over every block of the inputs and write the outputs.
 *
 * @example
 * ```ts
 * await apply((info, inputs, outputs) => {
 *   outputs.mean = inputs.a.map((v, b) => v); // any per-pixel work
 * }, { a: 'a.tif' }, { mean: 'mean.tif' });
 * ```
 * @throws {InputMissingError | InputNotRasterError} for a bad input.
 * @throws {GridMismatchError} when inputs are not on one grid and no reference is given.
 * @throws {OutputDirError} when an output's folder is missing or not writable.
 * @throws {UserFunctionError} when the user function throws (block and cause kept).
 * @throws {OutputBlockError} for an output block of the wrong shape or type.
 */
export async function apply<F extends FilenameAssociations, G extends FilenameAssociations, A = unknown>(
  userFunction: UserFunction<BlocksFor<F>, BlocksFor<G>, A> | UserFunctionRef,
  infiles: F,
  outfiles: G,
  options: ApplyOptions<A, Extract<keyof F | keyof G, string>> = {},
): Promise<ApplierReturn<A>> {
  const tStart = performance.now();
  if (options === null || typeof options !== 'object') throw new ControlsError('apply: options must be an object of otherArgs, controls and signal');
  checkKnownKeys(options, ['otherArgs', 'controls', 'signal'], 'apply options', 'apply()');
  const controls = ApplierControls.from(options.controls);
  const concurrency = ConcurrencyStyle.from(controls.global.concurrency);
  // a function, or a reference workers can import; otherArgs checked before any worker starts
  checkUserFunctionArg(userFunction, concurrency.usesComputeWorkers ? concurrency.computeWorkerKind : undefined);
  if (concurrency.usesComputeWorkers) checkOtherArgs(options.otherArgs);
  const inRefs = imageRefs(infiles, 'infiles');
  const outRefs = imageRefs(outfiles ?? {}, 'outfiles');
  if (inRefs.length === 0 && controls.global.referencePixgrid === undefined) {
    throw new ControlsError('apply: infiles names no input (with no input, give referencePixgrid: the outputs are then computed from coordinates alone)');
  }
  checkNames(inRefs, outRefs, controls);
  checkOutputPaths(inRefs, outRefs);
  const timings = new Timings();
  tuneHeap(); // arrays of every block reuse freed memory instead of faulting fresh pages in (gdal/heap.ts)
  const outputs = outRefs.map((r) => ({ ref: r, file: undefined as OutputFile | undefined }));
  const report = RunReport.ifAsked(controls.global.report, concurrency, options.controls, outRefs);
  for (const o of outputs) checkOutputFolder({ imageName: o.ref.name, listIndex: o.ref.listIndex, path: o.ref.path, controls: controls.forImage(o.ref.name) });

  const interrupts = listenForInterrupts(options.signal);
  const abort = interrupts.signal;
  let inputs: OpenedRun | undefined;
  let backend: ComputeBackend | undefined;
  let backendStarted: Promise<void> | undefined;
  let settleLayout!: { resolve: (l: RunLayout) => void; reject: (e: unknown) => void };
  const layout = new Promise<RunLayout>((resolve, reject) => (settleLayout = { resolve, reject }));
  layout.catch(() => undefined);
  try {
    const stopStartup = timings.start('startup');
    if (concurrency.usesComputeWorkers) {
      // workers first, so that they start while the inputs open (see RunDescription.layout)
      const { createWorkerBackend } = await import('../workers/index.js');
      const fn = userFunction as unknown as UserFunction | UserFunctionRef;
      backend = await createWorkerBackend({
        userFunction: fn,
        inRefs,
        outRefs,
        controls,
        concurrency,
        otherArgs: options.otherArgs,
        timings,
        signal: abort,
        layout,
      });
      backendStarted = backend.start();
      backendStarted.catch(() => undefined);
      // launch requests out (Batch: SubmitJob) before GDAL loads, which holds this thread a moment
      await backend.launched?.();
    }
    inputs = await openRun(inRefs, controls, concurrency);
    const { grid, plan, info } = inputs;
    settleLayout.resolve({ infoContext: inputs.ctx, plan, sources: inputs.sources, grid });
    if (!backend) {
      const fn = typeof userFunction === 'function' ? userFunction : await loadUserFunction(userFunctionSpecOf(userFunction)!);
      backend = new SequentialBackend(fn as unknown as UserFunction, info, options.otherArgs, timings);
    }
    const g = controls.global;
    for (const o of outputs) {
      o.file = new OutputFile(
        { imageName: o.ref.name, listIndex: o.ref.listIndex, path: o.ref.path, controls: controls.forImage(o.ref.name) },
        grid,
        g.windowXSize,
        g.windowYSize,
        timings,
      );
    }
    await (backendStarted ?? backend.start());
    stopStartup();

    await runBlocks(
      { inputs, backend, concurrency, overlap: g.overlap, progress: g.progress, timings, signal: abort, recorder: report?.begin(grid, plan, inputs.readSets) },
      writerOf(outputs, outRefs, g.overlap),
    );
    if (abort.aborted) throw abort.reason;
    // The workers shut down (a Batch job is seen to end only by polling) while the outputs get
    // their statistics and pyramids; the outputs go into place only once the workers are done,
    // since a worker may still fail the run. Both are waited for before anything else happens.
    const [finished, finalized] = await Promise.allSettled([
      backend.finish(),
      (async () => {
        for (const o of outputs) await o.file!.finalize();
      })(),
      report?.drawTimeline(), // meanwhile (it never rejects)
    ]);
    if (finished.status === 'rejected') throw finished.reason;
    if (finalized.status === 'rejected') throw finalized.reason;
    for (const o of outputs) o.file!.commit();
    const { workerTimings, otherArgsList } = finished.value;
    for (const t of workerTimings.values()) timings.merge(t);
    await report?.write(undefined, timings, workerTimings);
    const wallSeconds = (performance.now() - tStart) / 1000;
    return {
      timings,
      workerTimings,
      otherArgsList: otherArgsList as A[],
      wallSeconds,
      blocks: plan.total,
      grid,
      formatReport: () => formatTimingsReport(timings, wallSeconds, workerTimings.size > 0 ? workerTimings : undefined),
    };
  } catch (err) {
    settleLayout.reject(err);
    await backend?.destroy(err).catch(() => undefined);
    for (const o of outputs) await o.file?.abort().catch(() => undefined);
    const thrown: unknown = err instanceof RiotsError || !abort.aborted ? err : abort.reason;
    await report?.write(thrown, timings, new Map());
    throw thrown;
  } finally {
    interrupts.release();
    inputs?.close();
  }
}

/**
 * Interrupts: SIGINT/SIGTERM/SIGHUP and the caller's signal abort the run. SIGHUP (the terminal
 * or ssh session closed) would otherwise kill Node outright, even under nohup (Node resets an
 * ignored SIGHUP at start-up), leaving the temporary outputs and any remote jobs behind.
 */
function listenForInterrupts(caller: AbortSignal | undefined): { signal: AbortSignal; release(): void } {
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => abort.abort(new InterruptedError(`interrupted by ${sig}`));
  const onCallerAbort = (): void => abort.abort(caller!.reason ?? new InterruptedError('aborted by the caller'));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  caller?.addEventListener('abort', onCallerAbort, { once: true });
  if (caller?.aborted) onCallerAbort();
  return {
    signal: abort.signal,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      caller?.removeEventListener('abort', onCallerAbort);
    },
  };
}

/** The inputs of a run, open: the working grid, its block plan, and how a block of every input is read. */
interface OpenedRun {
  grid: PixelGrid;
  plan: BlockPlan;
  ctx: InfoContext;
  info: ReaderInfo;
  sources: InputSource[];
  readPool: ReadPool | undefined;
  /** Source sets the main reads with (numReadWorkers, or riots' choice by the inputs). */
  readSets: ReadSets;
  close(): void;
}

/** Open the inputs, settle the working grid (the grid layer, loaded on first use) and, with read workers, their handles. */
async function openRun(inRefs: ImageRef[], controls: ApplierControls, concurrency: ConcurrencyStyle): Promise<OpenedRun> {
  const opened = await openInputs(inRefs);
  const { gridSources, openSourceSet } = await import('../reader/gridsources.js');
  let built: Awaited<ReturnType<typeof gridSources>>;
  try {
    built = await gridSources(inRefs, opened, controls);
  } catch (err) {
    for (const o of opened) o.ds.close();
    throw err;
  }
  const { grid, sources } = built;
  const close = (): void => {
    for (const s of sources) {
      try {
        s.close();
      } catch {
        // closing a reader never hides the run's own result
      }
    }
  };
  const g = controls.global;
  const ctx: InfoContext = {
    projection: grid.projection,
    transform: grid.transform,
    cols: grid.cols,
    rows: grid.rows,
    windowXSize: g.windowXSize,
    windowYSize: g.windowYSize,
    overlap: g.overlap,
  };
  let reads: Awaited<ReturnType<typeof openReadPool>>;
  try {
    // n read workers: n sets of dataset handles, so that n reads really run at once
    reads = await openReadPool(sources, readSetsFor(concurrency, sources), () => openSourceSet(inRefs, controls), inRefs.length);
  } catch (err) {
    close();
    throw err;
  }
  const { pool: readPool, readSets } = reads;
  const plan = makeBlockPlan(grid.cols, grid.rows, g.windowXSize, g.windowYSize, g.overlap);
  return {
    grid,
    plan,
    ctx,
    info: new ReaderInfo(ctx),
    sources,
    readPool,
    readSets,
    close: () => {
      readPool?.close();
      close();
    },
  };
}

/** Write one block's outputs, checked against what the run declared, each to its file. */
function writerOf(
  outputs: { ref: ImageRef; file: OutputFile | undefined }[],
  outRefs: ImageRef[],
  overlap: number,
): (coords: BlockCoords, out: BlockAssociations) => Promise<void> {
  return async (coords, out) => {
    checkOutputs(out, outRefs, coords);
    for (const o of outputs) {
      const v = out[o.ref.name]!;
      const block = (o.ref.listIndex === null ? v : (v as Block[])[o.ref.listIndex]) as Block;
      await o.file!.writeBlock(block, coords, overlap);
    }
  };
}

/** Every block through the pipeline, with progress, the startup read-ahead and the timeouts of `concurrency`. */
async function runBlocks(
  r: {
    inputs: OpenedRun;
    backend: ComputeBackend;
    concurrency: ConcurrencyStyle;
    overlap: number;
    progress: boolean;
    timings: Timings;
    signal: AbortSignal;
    recorder: RunRecorder | undefined;
  },
  write: (coords: BlockCoords, out: BlockAssociations) => Promise<void>,
): Promise<void> {
  const { inputs, backend, concurrency, overlap } = r;
  const { plan, info, sources, readPool } = inputs;
  const progress = r.progress ? makeProgress() : undefined;
  const blocks = Array.from({ length: plan.total }, (_, i) => blockCoords(plan, i));
  progress?.update(0, plan.total);
  const alloc = backend.inputAllocator;
  const [wx, wy] = [plan.windowXSize + 2 * overlap, plan.windowYSize + 2 * overlap];
  const blockBytes = sources.reduce((n, src) => n + src.bands * bytesPerElement(src.dtype) * wx * wy, 0);
  // riots' own read sets read strips of each row, so neighbouring blocks share a set's cached tiles
  const { sets, auto } = inputs.readSets;
  const strips = readPool && auto && !concurrency.computeWorkersRead ? readStrips(sets, plan.blocksX, blockBytes) : undefined;
  const readBlock = readPool
    ? (coords: BlockCoords) => readPool.read(coords, overlap, info, alloc, strips && stripSet(coords.index % plan.blocksX, strips, sets))
    : (coords: BlockCoords) => readBlockInputs(sources, coords, overlap, info, alloc);
  // while remote workers start, read ahead (bounded in bytes) instead of waiting idle
  const ahead = backend.startupReadAhead;
  await runPipeline({
    blocks,
    // workers that read hold numReadWorkers blocks ahead each; the main reads with its sets
    readAhead: strips ? strips.readAhead : Math.max(1, concurrency.computeWorkersRead ? concurrency.numReadWorkers : sets),
    read: concurrency.computeWorkersRead ? undefined : readBlock,
    ...(ahead && blockBytes > 0 ? { startup: { extraBlocks: Math.floor(ahead.budgetBytes / blockBytes), until: ahead.until, read: readBlock } } : {}),
    backend,
    write,
    timings: r.timings,
    onBlockDone: progress ? (_c, done) => progress.update(done, plan.total) : undefined,
    signal: r.signal,
    recorder: r.recorder,
    timeouts: {
      readBufferInsert: concurrency.readBufferInsertTimeout,
      readBufferPop: concurrency.readBufferPopTimeout,
      // with CW_NONE the user function runs in this thread, one block at a time, and nothing
      // else can wait for it: a slow function is only slow, so the compute buffers have no limit
      computeBufferInsert: concurrency.usesComputeWorkers ? concurrency.computeBufferInsertTimeout : null,
      computeBufferPop: concurrency.usesComputeWorkers ? concurrency.computeBufferPopTimeout : null,
    },
  });
  progress?.finish();
}

/** Names under controls.images must be images of this run; a typo would silently do nothing. */
function checkNames(inRefs: ImageRef[], outRefs: ImageRef[], controls: ApplierControls): void {
  const names = new Set([...inRefs, ...outRefs].map((r) => r.name));
  for (const n of controls.imageNames()) {
    if (!names.has(n)) {
      throw new ControlsError(`controls.images.${n}: there is no input or output named '${n}' (names: ${[...names].join(', ')})`, { imageName: n });
    }
  }
  const ins = new Set(inRefs.map((r) => r.name));
  for (const r of outRefs) {
    if (ins.has(r.name)) throw new ControlsError(`'${r.name}' names both an input and an output`, { imageName: r.name });
  }
}
