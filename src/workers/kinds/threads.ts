/**
 * CW_THREADS: the user function runs in a pool of worker_threads. All I/O stays in the main
 * thread (gdal-async loads in one thread only); each block's input arrays go to a free worker
 * by transferring their buffers, and the outputs come back the same way.
 *
 * Workers pull blocks as they become free: the backend's capacity is the number of workers and
 * the pipeline hands blocks over in order as slots free up.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { RunDescription } from '../backend.js';
import type { ComputeBackend, DispatchHook } from '../backend.js';
import { Timings } from '../../timings.js';
import type { BlockAssociations } from '../../block.js';
import { ControlsError, TimeoutError, WorkerError, describeBlock, errorFromJSON, errorToJSON, type BlockCoords } from '../../errors.js';
import { checkOtherArgs } from '../../otherargs.js';
import type { SettingsTable } from '../../settings.js';
import { blocksFromWire, blocksToWire, type MainToThread, type ThreadToMain, type ThreadWorkerData, type WireArray } from '../worker/threadworker.js';
import { checkUserFunctionArg, isTypeScriptModule, type UserFunctionSpec } from '../../userfunction.js';

interface Task {
  taskId: number;
  coords: BlockCoords;
  onDispatch: DispatchHook | undefined;
  wires: WireArray[];
  transfer: ArrayBuffer[];
  resolve: (v: BlockAssociations) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  id: number;
  worker: Worker;
  ready: boolean;
  exited: Promise<void>;
  isExited: boolean;
  task?: Task;
  onFinished?: (m: Extract<ThreadToMain, { type: 'finished' | 'finishError' }>) => void;
}

/** Module hooks for worker threads: `gdal-async` resolves to a stub, so a user module may import riots. */
const GDAL_STUB = `
const msg = 'gdal-async is not available in a CW_THREADS compute worker: GDAL runs only in the main thread (inputs and outputs go through apply()).';
const config = { get: () => null, set: () => undefined };
export default new Proxy({}, { get(_t, k) { if (k === 'config') return config; if (k === 'then' || typeof k === 'symbol') return undefined; throw new Error(msg); } });
`;
const HOOKS = `
const STUB = ${JSON.stringify('data:text/javascript,' + encodeURIComponent(GDAL_STUB))};
export async function resolve(specifier, context, next) {
  if (specifier === 'gdal-async' || specifier.startsWith('gdal-async/')) return { url: STUB, shortCircuit: true };
  return next(specifier, context);
}
`;

/** The worker entry next to this module: .ts when riots runs from source, .js when built. */
function workerEntry(): { url: string; isTs: boolean } {
  const isTs = import.meta.url.endsWith('.ts');
  return { url: new URL(`../worker/threadworker.${isTs ? 'ts' : 'js'}`, import.meta.url).href, isTs };
}

/** file: URL of tsx's ESM API, found from riots or else from the user's module. */
export function findTsxApi(userModuleUrl: string): string | undefined {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    // not installed beside riots: try where the user's module lives
  }
  try {
    const p = createRequire(fileURLToPath(userModuleUrl)).resolve('tsx/esm/api');
    return new URL(p.replace(/\.cjs$/, '.mjs'), 'file:').href;
  } catch {
    return undefined;
  }
}

/** The code a worker thread starts with: module hooks, a TypeScript loader when needed, then the worker. */
export function bootstrapCode(spec: UserFunctionSpec): string {
  const entry = workerEntry();
  const needTs = entry.isTs || isTypeScriptModule(spec.moduleUrl);
  const tsx = needTs ? findTsxApi(spec.moduleUrl) : undefined;
  if (needTs && !tsx) {
    throw new ControlsError(
      `the user function's module ${spec.moduleUrl} is TypeScript and worker threads need tsx to import it: install it (npm install tsx) or give a compiled .js module`,
    );
  }
  return [
    `const { register } = require('node:module');`,
    `register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(HOOKS))});`,
    `(${tsx ? `import(${JSON.stringify(tsx)}).then((m) => { m.register(); })` : 'Promise.resolve()'})`,
    `  .then(() => import(${JSON.stringify(entry.url)}))`,
    `  .catch((e) => require('node:worker_threads').parentPort.postMessage({ type: 'startupError', error: { name: e && e.name || 'Error', message: String(e && e.message || e), stack: e && e.stack } }));`,
  ].join('\n');
}

export class ThreadsBackend implements ComputeBackend {
  readonly capacity: number;
  private readonly run: RunDescription;
  private readonly spec: UserFunctionSpec;
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextTaskId = 0;
  private failure: { err: unknown } | undefined;
  private firstReady: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  private anyReady = false;
  private stopping = false;

  constructor(run: RunDescription, spec: UserFunctionSpec) {
    this.run = run;
    this.spec = spec;
    this.capacity = run.concurrency.numComputeWorkers;
  }

  /**
   * Start every worker once the inputs are open (threads start in milliseconds: nothing to win
   * by starting them earlier); resolve when the first is ready (bounded by computeBarrierTimeout).
   */
  async start(): Promise<void> {
    const layout = await this.run.layout;
    if (this.failure) throw this.failure.err;
    const code = bootstrapCode(this.spec);
    const sources = layout.sources.map((s) => ({ imageName: s.ref.name, listIndex: s.ref.listIndex, filename: s.ref.path, nodata: [...s.nodata] }));
    const ready = new Promise<void>((resolve, reject) => (this.firstReady = { resolve, reject }));
    for (let id = 0; id < this.capacity; id++) {
      const wd: ThreadWorkerData = {
        riotsThreadWorker: true,
        workerId: id,
        spec: this.spec,
        otherArgs: this.run.otherArgs,
        infoContext: layout.infoContext,
        sources,
        outRefs: this.run.outRefs.map((r) => ({ ...r })),
      };
      const worker = new Worker(code, { eval: true, workerData: wd });
      let markExited!: () => void;
      const slot: Slot = { id, worker, ready: false, isExited: false, exited: new Promise<void>((r) => (markExited = r)) };
      worker.on('message', (m: ThreadToMain) => this.onMessage(slot, m));
      worker.on('error', (e: Error) => {
        const where = slot.task ? ` while computing ${describeBlock(slot.task.coords)}` : '';
        this.fail(
          new WorkerError(`compute worker ${id} (thread) failed${where}: ${e.message}`, {
            workerId: id,
            cause: e,
            ...(slot.task ? { block: slot.task.coords } : {}),
          }),
        );
      });
      worker.on('exit', (codeNum: number) => {
        slot.isExited = true;
        markExited();
        if (!this.stopping) {
          const where = slot.task ? ` while computing ${describeBlock(slot.task.coords)}` : '';
          this.fail(
            new WorkerError(`compute worker ${id} (thread) exited unexpectedly with code ${codeNum}${where}`, {
              workerId: id,
              ...(slot.task ? { block: slot.task.coords } : {}),
            }),
          );
        }
      });
      this.slots.push(slot);
    }
    const t = this.run.concurrency.computeBarrierTimeout;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        ...(t === null
          ? []
          : [
              new Promise<never>(
                (_, reject) =>
                  (timer = setTimeout(() => reject(new TimeoutError(`timed out after ${t} s waiting for the first CW_THREADS worker to be ready`)), t * 1000)),
              ),
            ]),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  compute(coords: BlockCoords, inputs: BlockAssociations | undefined, onDispatch?: DispatchHook): Promise<BlockAssociations> {
    if (this.failure) return Promise.reject(this.failure.err);
    if (!inputs) return Promise.reject(new WorkerError('CW_THREADS workers do not read: the main thread must pass each block its inputs'));
    const transfer: ArrayBuffer[] = [];
    const wires = blocksToWire(inputs, transfer);
    return new Promise<BlockAssociations>((resolve, reject) => {
      this.queue.push({ taskId: this.nextTaskId++, coords, onDispatch, wires, transfer, resolve, reject });
      this.pump();
    });
  }

  /** Hand queued blocks to idle, ready workers, in order. */
  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0 || this.failure) return;
      if (!slot.ready || slot.task || slot.isExited) continue;
      const task = this.queue.shift()!;
      slot.task = task;
      const msg: MainToThread = { type: 'task', taskId: task.taskId, coords: task.coords, inputs: task.wires };
      slot.worker.postMessage(msg, task.transfer);
      task.wires = [];
      task.onDispatch?.(slot.id);
    }
  }

  private onMessage(slot: Slot, m: ThreadToMain): void {
    switch (m.type) {
      case 'ready':
        slot.ready = true;
        if (!this.anyReady) {
          this.anyReady = true;
          this.firstReady?.resolve();
        }
        this.pump();
        return;
      case 'startupError':
        this.fail(this.withWorker(errorFromJSON(m.error), slot.id, `compute worker ${slot.id} could not start`));
        return;
      case 'result':
      case 'taskError': {
        const task = slot.task;
        if (!task || task.taskId !== m.taskId) return;
        slot.task = undefined;
        if (m.type === 'result') {
          try {
            task.resolve(blocksFromWire(m.outputs));
          } catch (err) {
            task.reject(this.withWorker(err as Error, slot.id, `compute worker ${slot.id} sent malformed outputs`));
          }
          this.pump();
        } else task.reject(errorFromJSON(m.error));
        return;
      }
      case 'finished':
      case 'finishError':
        slot.onFinished?.(m);
        return;
    }
  }

  private withWorker(err: Error, workerId: number, what: string): Error {
    if (err instanceof ControlsError) return err;
    return new WorkerError(`${what}: ${err.message}`, { workerId, cause: err });
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = { err };
    this.firstReady?.reject(err);
    for (const t of this.queue.splice(0)) t.reject(err);
    for (const s of this.slots) {
      const t = s.task;
      s.task = undefined;
      t?.reject(err);
      s.onFinished?.({ type: 'finishError', error: errorToJSON(err) });
    }
    void this.terminateAll();
  }

  private async terminateAll(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (s) => {
        if (!s.isExited) await s.worker.terminate().catch(() => undefined);
        await s.exited;
      }),
    );
  }

  async finish(): Promise<{ otherArgsList: unknown[]; workerTimings: Map<number, Timings> }> {
    if (this.failure) throw this.failure.err;
    const t = this.run.concurrency.computeBarrierTimeout;
    const replies = await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<{ otherArgs: unknown; timings: Timings }>((resolve, reject) => {
            const timer =
              t === null
                ? undefined
                : setTimeout(
                    () =>
                      reject(
                        new TimeoutError(`timed out after ${t} s waiting for compute worker ${slot.id} to send its final otherArgs`, { workerId: slot.id }),
                      ),
                    t * 1000,
                  );
            slot.onFinished = (m) => {
              if (timer) clearTimeout(timer);
              if (m.type === 'finished') resolve({ otherArgs: m.otherArgs, timings: Timings.fromJSON(m.timings) });
              else
                reject(
                  new WorkerError(`compute worker ${slot.id} could not send its final otherArgs: ${m.error.message}`, {
                    workerId: slot.id,
                    cause: errorFromJSON(m.error),
                  }),
                );
            };
            slot.worker.postMessage({ type: 'finish' } satisfies MainToThread);
          }),
      ),
    ).finally(() => this.terminateAll());
    return { otherArgsList: replies.map((r) => r.otherArgs), workerTimings: new Map(replies.map((r, i) => [i, r.timings])) };
  }

  async destroy(reason?: unknown): Promise<void> {
    this.fail(reason ?? new WorkerError('the CW_THREADS workers were stopped'));
    await this.terminateAll();
  }
}

/** CW_THREADS takes no computeWorkerExtraParams: its threads share this process. */
export const EXTRA_PARAMS: SettingsTable = {};

/** Entry point used by src/workers/index.ts for CW_THREADS. */
export async function createBackend(run: RunDescription): Promise<ComputeBackend> {
  const spec = checkUserFunctionArg(run.userFunction, run.concurrency.computeWorkerKind);
  if (!spec) throw new ControlsError('CW_THREADS needs a user function that workers can import');
  checkOtherArgs(run.otherArgs);
  return new ThreadsBackend(run, spec);
}
