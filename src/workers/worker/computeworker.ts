/**
 * The worker side of the data channel: what `riots computeworker` runs, on this machine
 * (CW_SUBPROC) or on any remote node.
 *
 * It connects back to the main process, receives the user-function bundle in `setup`, links and
 * imports it, and then runs the tasks it is sent one at a time, in the order received. With
 * computeWorkersRead it opens the inputs itself with GDAL (the same source builder as the main),
 * reads up to numReadWorkers queued tasks ahead (workerreads.ts) and sends back only the outputs. A task whose user function throws is answered with
 * `taskError` (the main fails the run); a worker that cannot load the function answers
 * `workerError` and exits. When the channel closes or the main falls silent, the worker exits.
 */
import { promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BlockAssociations } from '../../block.js';
import { runBlock, sourceKey, type BlockRunner } from './runblock.js';
import type { UserFunction } from '../../userfunction.js';
import type { ImageRef } from '../../reader/inputs.js';
import { ReaderInfo, type InfoContext } from '../../readerinfo.js';
import type { WorkerReader } from './workerreads.js';
import { Timings } from '../../timings.js';
import type { ControlsInput } from '../../controls.js';
import { ProtocolError, WorkerError, errorToJSON } from '../../errors.js';
import { linkBundle } from './linkbundle.js';
import { cleanUpAtExit } from '../../exitcleanup.js';
import { ChannelClient, type ChannelAddress, type MainConnection } from '../channel/channel.js';
import { markComputeWorker, resolveUserFunction, type UserFunctionSpec } from '../../userfunction.js';
import { associationsToWire, wireToAssociations, type JsonObject, type SetupMessage, type TaskSpec } from '../channel/protocol.js';

/** What an input block needs for ReaderInfo (getFilenameFor, getNoDataValueFor). */
export interface WorkerInputInfo {
  name: string;
  listIndex: number | null;
  path: string;
  nodata: (number | null)[];
}

/** The `settings` of the setup message. Plain JSON. */
export interface WorkerSettings {
  infoContext: InfoContext;
  /** ApplierControls.toJSON() of the run. */
  controls: ControlsInput;
  /** With computeWorkersRead: reads kept in flight ahead of computation (the run's numReadWorkers). */
  readAhead: number;
  outRefs: ImageRef[];
  inputs: WorkerInputInfo[];
  /** How the main refers to the user function; used when setup.exportName is ''. */
  userFunction?: UserFunctionSpec;
}

// ------------------------------------------------------------------ settings

function checkSettings(s: JsonObject): WorkerSettings {
  const bad = (what: string): never => {
    throw new ProtocolError(`setup.settings: ${what}`);
  };
  const ctx = s.infoContext as unknown as InfoContext | undefined;
  if (!ctx || typeof ctx !== 'object' || typeof ctx.projection !== 'string' || !Array.isArray(ctx.transform) || ctx.transform.length !== 6)
    bad('infoContext missing or malformed');
  for (const k of ['cols', 'rows', 'windowXSize', 'windowYSize', 'overlap'] as const) {
    if (!Number.isInteger(ctx![k]) || ctx![k] < 0) bad(`infoContext.${k} must be a non-negative integer`);
  }
  if (typeof s.controls !== 'object' || s.controls === null || Array.isArray(s.controls)) bad('controls must be an object');
  if (!Number.isInteger(s.readAhead) || (s.readAhead as number) < 0) bad('readAhead must be a non-negative integer');
  const refList = (v: unknown, what: string): ImageRef[] => {
    if (!Array.isArray(v)) bad(`${what} must be a list`);
    return (v as unknown[]).map((r, i) => {
      const o = r as Record<string, unknown>;
      if (!o || typeof o.name !== 'string' || typeof o.path !== 'string' || !(o.listIndex === null || Number.isInteger(o.listIndex)))
        bad(`${what}[${i}] malformed`);
      return o as unknown as ImageRef;
    });
  };
  const outRefs = refList(s.outRefs, 'outRefs');
  const inputs = refList(s.inputs, 'inputs') as unknown as WorkerInputInfo[];
  for (const i of inputs) if (!Array.isArray(i.nodata)) bad(`inputs '${i.name}' has no nodata list`);
  const uf = s.userFunction as unknown as UserFunctionSpec | undefined;
  if (uf !== undefined && (typeof uf !== 'object' || uf === null || typeof uf.moduleUrl !== 'string')) bad('userFunction malformed');
  return { infoContext: ctx!, controls: s.controls as ControlsInput, readAhead: s.readAhead as number, outRefs, inputs, ...(uf ? { userFunction: uf } : {}) };
}

// ------------------------------------------------------------------ loading the function

const TEMP_PREFIX = 'riots-cw-p';
/** Where a worker puts its temporary files (the bundle), when set; else the system temp folder. */
export const WORKER_TMPDIR_ENV = 'RIOTS_WORKER_TMPDIR';

function workerTmpdir(): string {
  return process.env[WORKER_TMPDIR_ENV] || os.tmpdir();
}

/** Remove bundle folders of worker processes on this machine that died before removing theirs. */
async function sweepDeadWorkersTemp(): Promise<void> {
  const tmp = workerTmpdir();
  const names = await fs.readdir(tmp).catch(() => [] as string[]);
  for (const n of names) {
    const m = /^riots-cw-p(\d+)-/.exec(n);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') await fs.rm(path.join(tmp, n), { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

/**
 * Link the bundle, import it from a private temporary folder, and take the export. The folder
 * holds the bundle and the files shipped with it (defineUserFunction's `files`, at their paths
 * relative to the module, so that `new URL('./lut.json', import.meta.url)` finds them): without
 * such files it is removed at once, with them when the worker exits. A worker killed first leaves
 * the folder; the next worker on the machine removes it (the folder names the pid).
 */
async function loadUserFunction(setup: SetupMessage, workerId: number, spec: UserFunctionSpec | undefined, dir: string): Promise<UserFunction> {
  let mod: Record<string, unknown>;
  const keep = setup.files.length > 0;
  if (keep) cleanUpAtExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const linked = linkBundle(
      Buffer.from(setup.bundle.buffer, setup.bundle.byteOffset, setup.bundle.byteLength).toString('utf8'),
      setup.bundleImports,
      workerId,
    );
    for (const f of setup.files) {
      const target = path.join(dir, f.path);
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.writeFile(target, f.data, { mode: 0o600 });
    }
    const file = path.join(dir, 'userfunction.mjs');
    await fs.writeFile(file, linked, { mode: 0o600 });
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } finally {
    if (!keep) await fs.rm(dir, { recursive: true, force: true });
  }
  if (setup.exportName === '' && spec) {
    // the bundle's import.meta.url is not the user's: resolve by export name, sole tagged export or function name
    const { ordinal: _ordinal, ...bySpec } = spec;
    return resolveUserFunction(mod, bySpec);
  }
  const fn = mod[setup.exportName];
  if (typeof fn !== 'function') {
    throw new WorkerError(`the user-function bundle has no exported function '${setup.exportName}' (exports: ${Object.keys(mod).join(', ') || 'none'})`, {
      workerId,
    });
  }
  return fn as UserFunction;
}

/**
 * For an error (or its cause) that is a missing file in the bundle's folder: what happened and
 * what to do. The user's module read a file beside itself, and process workers run its bundle
 * from a temporary folder elsewhere. '' for any other error.
 */
export function missingFileHint(err: unknown, bundleDir: string | undefined): string {
  if (bundleDir === undefined) return '';
  for (let e = err as (NodeJS.ErrnoException & { cause?: unknown }) | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'ENOENT' && typeof e.path === 'string' && e.path.startsWith(bundleDir + path.sep)) {
      const rel = path.relative(bundleDir, e.path);
      return (
        ` (process workers run a bundle of your module from a temporary folder, not from your module's folder, so '${rel}' beside it is not there: ` +
        `ship it with defineUserFunction(import.meta.url, fn, { files: ['${rel}'] }), or pass its contents in otherArgs, or read it from a path every worker can reach)`
      );
    }
  }
  return '';
}

// ------------------------------------------------------------------ the worker

export interface ComputeWorkerOptions {
  workerId: number;
  address: ChannelAddress;
  /** Give up when the main is unreachable or silent this long, seconds. */
  timeoutSeconds: number;
  heartbeatSeconds?: number;
}

class WorkerRuntime {
  private readonly queue: TaskSpec[] = [];
  private running = false;
  private shutdown = false;
  private ready: Promise<void> | undefined;
  private otherArgs: unknown;
  /** Set once the user function is loaded. */
  private runner: BlockRunner | undefined;
  /** With computeWorkersRead: the inputs, opened in the background once the worker is ready. */
  private reader: Promise<WorkerReader> | undefined;
  /** The reader once open, to start reads ahead as tasks arrive. */
  private openReader: WorkerReader | undefined;
  private readonly total = new Timings();
  private failedStart = false;
  /** The folder the bundle runs from (see loadUserFunction). */
  private bundleDir: string | undefined;
  private finishedSent = false;
  private done!: (code: number) => void;
  readonly exited = new Promise<number>((r) => (this.done = r));

  constructor(
    private readonly conn: MainConnection,
    private readonly workerId: number,
  ) {
    conn.on('message', (m) => {
      if (m.type === 'setup') {
        if (this.ready) return void this.fatal(new ProtocolError('a second setup message'));
        this.ready = this.setup(m);
        this.ready.catch(() => undefined);
      } else if (m.type === 'tasks') {
        this.queue.push(...m.tasks);
        this.openReader?.readAheadOf(this.queue);
        void this.pump();
      } else if (m.type === 'cancel') {
        const i = this.queue.findIndex((t) => t.taskId === m.taskId);
        if (i >= 0) this.queue.splice(i, 1);
        this.openReader?.drop(m.taskId);
      } else if (m.type === 'shutdown') {
        this.shutdown = true;
        this.queue.length = 0;
        this.openReader?.drop();
        void this.pump();
      }
    });
    conn.on('close', (err) => {
      this.reader?.then(
        (r) => r.close(),
        () => undefined,
      );
      // after `finished` the main may drop the connection at once, and a main that said `shutdown`
      // (a run that failed elsewhere) may close before the report: both are orderly ends
      this.done(this.finishedSent ? 0 : this.failedStart ? 1 : err && !this.shutdown ? 3 : 0);
    });
  }

  private async setup(m: SetupMessage): Promise<void> {
    try {
      const settings = checkSettings(m.settings);
      this.otherArgs = m.otherArgs;
      const t0 = performance.now();
      await sweepDeadWorkersTemp();
      this.bundleDir = await fs.mkdtemp(path.join(workerTmpdir(), `${TEMP_PREFIX}${process.pid}-`));
      const fn = await loadUserFunction(m, this.workerId, settings.userFunction, this.bundleDir);
      this.runner = {
        fn,
        info: new ReaderInfo(settings.infoContext),
        otherArgs: m.otherArgs,
        outRefs: settings.outRefs,
        sources: new Map(
          settings.inputs.map((i) => [sourceKey(i.name, i.listIndex), { imageName: i.name, listIndex: i.listIndex, filename: i.path, nodata: i.nodata }]),
        ),
        workerId: this.workerId,
      };
      this.total.add('startup', (performance.now() - t0) / 1000);
      if (m.computeWorkersRead) {
        // Ready before the inputs are open (GDAL's load takes a moment): the first blocks may come
        // with their inputs (read by the main while the workers started). Inputs that cannot be
        // opened stop the worker as a failed setup would.
        const t1 = performance.now();
        this.reader = (async () => {
          await new Promise<void>((r) => setImmediate(r)); // after 'ready' is on its way
          const { WorkerReader } = await import('./workerreads.js');
          return WorkerReader.open({ inputFiles: m.inputFiles, controls: settings.controls, readAhead: settings.readAhead, info: this.runner!.info });
        })();
        this.reader.then(
          (r) => {
            this.total.add('startup', (performance.now() - t1) / 1000);
            this.openReader = r;
            r.readAheadOf(this.queue);
          },
          (err: unknown) => {
            if (!this.shutdown && !this.conn.closed) void this.fatal(err);
          },
        );
      }
      if (!this.shutdown) await this.conn.send({ type: 'ready' });
    } catch (err) {
      // told to stop while starting: nothing to report
      if (!this.shutdown) await this.fatal(err);
      throw err;
    }
  }

  private async fatal(err: unknown): Promise<void> {
    this.failedStart = true;
    const e =
      err instanceof WorkerError || err instanceof ProtocolError
        ? err
        : new WorkerError(`worker ${this.workerId} cannot start: ${(err as Error).message}${missingFileHint(err, this.bundleDir)}`, {
            workerId: this.workerId,
            cause: err,
          });
    await this.conn.send({ type: 'workerError', error: errorToJSON(e) }).catch(() => undefined);
    await this.conn.close();
  }

  /** Run queued tasks one at a time; after a shutdown, report and close. */
  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.conn.closed) {
        const t = this.queue.shift()!;
        try {
          await this.ready;
        } catch {
          return;
        }
        await this.runTask(t);
      }
      if (this.shutdown && !this.conn.closed) {
        // a shutdown during setup (a short run that ended before this worker was ready) waits for it
        await this.ready?.catch(() => undefined);
        if (this.conn.closed) return;
        await this.conn.send({ type: 'finished', otherArgs: this.otherArgs, timings: this.total.toJSON() }).catch(() => undefined);
        this.finishedSent = true;
        await this.conn.close();
      }
    } finally {
      this.running = false;
    }
  }

  private async runTask(t: TaskSpec): Promise<void> {
    const timings = new Timings();
    const runner = this.runner!;
    try {
      let inputs: BlockAssociations;
      // a reading worker still gets blocks the main read while the workers were starting
      if (this.reader && t.inputs.length === 0) {
        let reader: WorkerReader;
        try {
          reader = await this.reader;
        } catch {
          return; // reported as the worker's failure (fatal), not as this block's
        }
        const read = reader.take(t);
        // the next tasks' reads run while this one computes
        reader.readAheadOf(this.queue);
        const r = await read;
        inputs = r.inputs;
        timings.add('reading', r.seconds);
      } else {
        inputs = wireToAssociations(t.inputs);
      }
      const outputs = await runBlock(runner, t.block, inputs, timings);
      this.total.merge(timings);
      await this.conn.send({
        type: 'result',
        taskId: t.taskId,
        blockIndex: t.block.index,
        attempt: t.attempt,
        outputs: associationsToWire(outputs),
        timings: timings.toJSON(),
      });
    } catch (err) {
      if (this.conn.closed) return;
      const hint = missingFileHint(err, this.bundleDir);
      if (hint && err instanceof Error) err.message += hint;
      await this.conn
        .send({ type: 'taskError', taskId: t.taskId, blockIndex: t.block.index, attempt: t.attempt, error: errorToJSON(err) })
        .catch(() => undefined);
    }
  }
}

/**
 * Connect to the main process and work until the channel closes.
 * @returns the process exit code: 0 after an orderly shutdown, 3 when the main was lost, 1 when the worker could not start.
 * @throws {AuthError | TimeoutError | ChannelError} when the main cannot be reached or authenticated.
 */
export async function runComputeWorker(o: ComputeWorkerOptions): Promise<number> {
  markComputeWorker(o.workerId);
  process.setSourceMapsEnabled(true);
  const conn = await ChannelClient.connect({
    ...o.address,
    workerId: o.workerId,
    timeoutSeconds: o.timeoutSeconds,
    ...(o.heartbeatSeconds !== undefined ? { heartbeatSeconds: o.heartbeatSeconds } : {}),
  });
  const rt = new WorkerRuntime(conn, o.workerId);
  return rt.exited;
}
