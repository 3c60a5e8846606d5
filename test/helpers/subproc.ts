/**
 * Helpers for the CW_SUBPROC / channel-worker tests: a user-function module written at test time
 * (TypeScript, importing a sibling file and an npm package), input rasters made by numpy, the
 * workers' events from the diagnostics channel, and checks that nothing is left behind.
 */
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { apply } from '../../src/applier/apply.js';
import { WORKER_EVENTS, type WorkerEvent } from '../../src/workers/pool/events.js';
import { makeTestRaster } from './oracle.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The user functions the tests run. Each output pixel depends on the inputs and the block
 * position, so a block written to the wrong place or twice would show. Behaviour in workers is
 * steered by otherArgs (plain data).
 */
export const USER_MODULE = `
import { existsSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { offsets } from './weights.js';
import { Block } from '${ROOT}/src/block.ts';
import { defineUserFunction, computeWorkerId, isComputeWorker } from '${ROOT}/src/userfunction.ts';

const cfg = parse('scale: 3\\nshift: 0.5') as { scale: number; shift: number };

export interface Steer {
  /** busy milliseconds per block (0: none) */
  busyMs?: number;
  /** worker id that is this many times slower */
  slowWorker?: number;
  slowFactor?: number;
  /** in a worker, exit the process on this block */
  dieOnBlock?: number;
  /** throw on this block */
  throwOnBlock?: number;
  /** counts blocks done by this copy */
  count?: number;
  /** busy on this block for stallMs milliseconds, or for ever */
  stallOnBlock?: number;
  stallMs?: number;
  /** in a worker, SIGKILL its own process in the middle of this block, the first time only (a file in markerDir remembers) */
  killOnceOnBlock?: number;
  markerDir?: string;
  /** the worker's process.env[envName], recorded in envValue */
  envName?: string;
  envValue?: string | null;
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* work */ }
}

export const combine = defineUserFunction(import.meta.url, (info, inputs: any, outputs: any, other: Steer) => {
  const a = inputs.a as Block;
  const b = inputs.b as Block;
  if (other?.dieOnBlock === info.block.index && isComputeWorker()) process.exit(7);
  if (other?.throwOnBlock === info.block.index) throwDeep(info.block.index);
  if (other?.killOnceOnBlock === info.block.index && isComputeWorker()) {
    const marker = other.markerDir + '/killed-block-' + info.block.index;
    if (!existsSync(marker)) {
      writeFileSync(marker, String(process.pid));
      process.kill(process.pid, 'SIGKILL');
    }
  }
  if (other?.stallOnBlock === info.block.index) busy(other.stallMs ?? Number.POSITIVE_INFINITY);
  const out = new Block('Float32', 2, a.rows, a.cols);
  const n = a.rows * a.cols;
  const k = offsets[info.block.index % offsets.length]!;
  for (let i = 0; i < n; i++) {
    out.data[i] = a.data[i]! * cfg.scale + b.data[i]! + cfg.shift;
    out.data[n + i] = a.data[i]! - b.data[i]! * k + info.block.index;
  }
  outputs.out = out;
  if (other && typeof other.count === 'number') other.count++;
  if (other?.envName !== undefined) other.envValue = process.env[other.envName] ?? null;
  const ms = (other?.busyMs ?? 0) * (other?.slowWorker !== undefined && other.slowWorker === computeWorkerId() ? (other.slowFactor ?? 10) : 1);
  if (ms > 0) busy(ms);
}, 'combine');

function throwDeep(index: number): never {
  throw new RangeError('user function refuses block ' + index);
}
`;

export const WEIGHTS_MODULE = `export const offsets: number[] = [1, 2, 3, 5, 8, 13];\n`;

/** Write the user module and its sibling into `dir` (with npm packages reachable, as in a user's project). */
export function writeUserModule(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  if (!existsSync(path.join(dir, 'node_modules'))) symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  writeFileSync(path.join(dir, 'weights.ts'), WEIGHTS_MODULE);
  const file = path.join(dir, 'userfn.ts');
  writeFileSync(file, USER_MODULE);
  return file;
}

/** Two inputs on one grid: Int16 `a` and Float32 `b`. */
export function makeInputs(dir: string, cols: number, rows: number): { a: string; b: string } {
  const a = path.join(dir, 'a.tif');
  const b = path.join(dir, 'b.tif');
  makeTestRaster({ path: a, cols, rows, dtype: 'Int16', expr: 'rng.integers(-500, 500, (rows, cols))', seed: 3 });
  makeTestRaster({ path: b, cols, rows, dtype: 'Float32', expr: '(rng.random((rows, cols)) * 100).astype(np.float32)', seed: 4 });
  return { a, b };
}

/**
 * The fixture of the remote-kind tests: inputs of `cols` x `rows` in `dir`, the user module
 * imported from `dir/user`, and the bytes of its sequential run in blocks of 64 (otherArgs
 * `{ count: 0 }`), which every concurrent run must reproduce.
 */
export async function sequentialFixture(
  dir: string,
  cols: number,
  rows: number,
): Promise<{ inputs: { a: string; b: string }; combine: Parameters<typeof apply>[0]; seqBytes: Buffer }> {
  const inputs = makeInputs(dir, cols, rows);
  const mod = (await import(pathToFileURL(writeUserModule(path.join(dir, 'user'))).href)) as { combine: Parameters<typeof apply>[0] };
  const seq = path.join(dir, 'seq.tif');
  await apply(mod.combine, inputs, { out: seq }, { controls: { windowXSize: 64, windowYSize: 64 }, otherArgs: { count: 0 } });
  return { inputs, combine: mod.combine, seqBytes: readFileSync(seq) };
}

/** Worker events of the runs in this process, while recording. */
export class EventLog {
  readonly events: WorkerEvent[] = [];
  private readonly waiters: { pred: (e: WorkerEvent) => boolean; resolve: (e: WorkerEvent) => void }[] = [];
  private readonly listeners: ((e: WorkerEvent) => void)[] = [];
  private readonly sub = (m: unknown): void => {
    const e = m as WorkerEvent;
    this.events.push(e);
    for (const l of this.listeners) l(e);
    for (const w of this.waiters.splice(0)) {
      if (w.pred(e)) w.resolve(e);
      else this.waiters.push(w);
    }
  };
  constructor() {
    diagnostics.subscribe(WORKER_EVENTS, this.sub);
  }
  /** Call `f` synchronously on every event (before the backend goes on). */
  on(f: (e: WorkerEvent) => void): void {
    this.listeners.push(f);
  }
  waitFor(pred: (e: WorkerEvent) => boolean): Promise<WorkerEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
  of<T extends WorkerEvent['event']>(kind: T): Extract<WorkerEvent, { event: T }>[] {
    return this.events.filter((e) => e.event === kind) as Extract<WorkerEvent, { event: T }>[];
  }
  /** Pids of every worker process started. */
  pids(): number[] {
    return this.of('launched').map((e) => Number(/pid (\d+)/.exec(e.handle)![1]));
  }
  close(): void {
    diagnostics.unsubscribe(WORKER_EVENTS, this.sub);
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie is not running
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * A private temp folder for this test file: TMPDIR points to it (workers inherit it), so the
 * check for leftovers sees only this file's runs.
 */
export function privateTmpdir(parent: string): string {
  const t = path.join(parent, 'tmp');
  mkdirSync(t, { recursive: true });
  process.env.TMPDIR = t;
  return t;
}

/** What the channel-worker tests share: see {@link channelFixture}. */
export interface ChannelFixture {
  dir: string;
  inputs: { a: string; b: string };
  /** The test user module's file, and its `combine` function. */
  userModule: string;
  combine: Parameters<typeof apply>[0];
  /** The sequential run's output, which every concurrent run must equal byte for byte. */
  seqBytes: Buffer;
  /** Restore TMPDIR and remove the folder. */
  close(): void;
}

/**
 * A private folder (also TMPDIR, so that riots' temporary folders can be counted) holding two
 * `cols` x `rows` inputs, the test user module, and the sequential output of `combine` over them
 * in 64 x 64 windows (with `otherArgs`, when given).
 */
export async function channelFixture(prefix: string, cols: number, rows: number, otherArgs?: unknown): Promise<ChannelFixture> {
  const savedTmp = process.env.TMPDIR;
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  privateTmpdir(dir);
  const inputs = makeInputs(dir, cols, rows);
  const userModule = writeUserModule(path.join(dir, 'user'));
  const combine = ((await import(pathToFileURL(userModule).href)) as { combine: Parameters<typeof apply>[0] }).combine;
  const seq = path.join(dir, 'seq.tif');
  await apply(combine, inputs, { out: seq }, { controls: { windowXSize: 64, windowYSize: 64 }, ...(otherArgs === undefined ? {} : { otherArgs }) });
  return {
    dir,
    inputs,
    userModule,
    combine,
    seqBytes: readFileSync(seq),
    close: () => {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** riots' temporary folders in the temp dir (run folders, worker bundle folders). */
export function riotsTempEntries(): string[] {
  return readdirSync(os.tmpdir()).filter((n) => n.startsWith('riots-run-') || n.startsWith('riots-cw'));
}

export function subprocControls(n: number, extra: Record<string, unknown> = {}, read = false): Record<string, unknown> {
  return {
    windowXSize: 64,
    windowYSize: 64,
    concurrency: {
      computeWorkerKind: 'CW_SUBPROC',
      numComputeWorkers: n,
      computeWorkersRead: read,
      // the main reads for workers that do not read (RIOS refuses 0 read workers then)
      numReadWorkers: read ? 0 : 1,
      computeBarrierTimeout: 60,
      computeWorkerExtraParams: { heartbeatSeconds: 0.2, workerLostSeconds: 1.5, ...extra },
    },
  };
}

/**
 * After a run, however it ended: no worker process of `log` is alive and no riots temporary
 * folder appeared since `tempBefore`. With `workersStarted`, at least one worker must have run.
 */
export function assertNothingLeft(log: EventLog, tempBefore: string[], workersStarted = false): void {
  const pids = log.pids();
  if (workersStarted) assert.ok(pids.length > 0, 'workers were started');
  for (const pid of pids) assert.equal(alive(pid), false, `worker process ${pid} is gone`);
  assert.deepEqual(
    riotsTempEntries().filter((e) => !tempBefore.includes(e)),
    [],
    'no riots temporary folder is left',
  );
}

/**
 * Run `body` with an EventLog recording the run's worker events; afterwards (only if body did not
 * throw, and unless `checkNothingLeft` is false) check that no worker process of the log is alive
 * and no riots temporary folder was left ({@link assertNothingLeft}, with `workersStarted`). The
 * log is closed however it ends.
 */
export async function withEventLog(body: (log: EventLog) => Promise<void>, opts: { workersStarted?: boolean; checkNothingLeft?: boolean } = {}): Promise<void> {
  const tempBefore = riotsTempEntries();
  const log = new EventLog();
  try {
    await body(log);
    if (opts.checkNothingLeft ?? true) assertNothingLeft(log, tempBefore, opts.workersStarted ?? false);
  } finally {
    log.close();
  }
}
