/**
 * The compute backend shared by every kind whose workers are separate processes that speak the
 * data channel (CW_SUBPROC, CW_AWSBATCH, CW_ECS, CW_SLURM, CW_PBS).
 *
 * {@link ChannelWorkerBackend} owns everything but the start and stop of a worker: the channel
 * server, the user-function bundle, the setup of each worker, dynamic scheduling with credit,
 * heartbeats and loss detection, re-queueing, the barrier for the first worker, and the final
 * collection of otherArgs and timings. A kind only supplies a {@link Launcher}: how to start
 * `riots computeworker` somewhere, how to cancel it, and how to describe it for error messages.
 *
 * With singleBlockComputeWorkers there is no fixed pool: a worker is launched for every block,
 * takes exactly that one (credit 1, one task in its life), is told to shut down once its result
 * is accepted, and the next is launched as it goes, with at most `singleBlockMaxWorkers` alive at
 * once (see {@link singleBlockMaxWorkers}). A lost worker's block goes back to the queue and a
 * new worker is launched for it.
 *
 * Events for tests and diagnostics are published on the `node:diagnostics_channel` channel
 * {@link WORKER_EVENTS} (see {@link WorkerEvent}).
 */
import { promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BlockAssociations } from '../../block.js';
import type { RunDescription } from '../backend.js';
import type { ComputeBackend, DispatchHook } from '../backend.js';
import { Timings } from '../../timings.js';
import { ChannelError, ControlsError, InterruptedError, TimeoutError, WorkerError, WorkerLostError, errorFromJSON, type BlockCoords } from '../../errors.js';
import { bundleUserModule, userFunctionExportName, type BundleImports } from './bundle.js';
import { ChannelServer, type WorkerConnection } from '../channel/channel.js';
import { channelKeyEnv, writeChannelAddrFile } from '../channel/address.js';
import type { WorkerSettings } from '../worker/computeworker.js';
import { associationsToWire, wireToAssociations } from '../channel/protocol.js';
import { checkOtherArgs } from '../../otherargs.js';
import { BlockScheduler, type Task } from './scheduler.js';
import type { JsonObject, TaskSpec, WireBlock, WorkerToMain } from '../channel/protocol.js';
import { userFunctionSpecOf, type UserFunctionSpec } from '../../userfunction.js';
import type { Launcher, WorkerChannelAddress } from './launcher.js';
import { channelBackendSettings, singleBlockMaxWorkers, type ChannelBackendSettings } from './settings.js';
import { publish } from './events.js';
import { cleanUpAtExit } from '../../exitcleanup.js';
import { settleWithin } from '../../timeout.js';
import { Block } from '../../block.js';
import { BufferPool } from './bufferpool.js';

export { channelBackendSettings, singleBlockMaxWorkers } from './settings.js';
export type { ChannelBackendSettings } from './settings.js';
export type { LaunchContext, LaunchSpec, Launcher, WorkerChannelAddress } from './launcher.js';
export { WORKER_EVENTS, type WorkerEvent } from './events.js';


type SlotState = 'launching' | 'connected' | 'ready' | 'finishing' | 'finished' | 'lost' | 'failed';
const GONE: readonly SlotState[] = ['finished', 'lost', 'failed'];
/** Most bytes of free block buffers the main keeps for reuse (a few times a run's blocks in flight). */
const POOL_BYTES = 64 * 1024 * 1024;

/** At the end, how long a worker that sent its final report may take to exit before it is cancelled. */
const FINISHED_EXIT_GRACE_MS = 2000;

interface Slot<H> {
  id: number;
  state: SlotState;
  handle?: H;
  conn?: WorkerConnection;
  /** Why it failed or was lost. */
  reason?: string;
  lastBytes: number;
  lastSeen: number;
  timings: Timings;
  otherArgs?: unknown;
  /** Set when it is told to shut down: resolves on its final report (or its loss). */
  done?: Promise<void>;
  finished?: () => void;
  killTimer?: NodeJS.Timeout;
}

/** singleBlockComputeWorkers bookkeeping. */
interface SingleBlock {
  /** Workers alive at once, at most. */
  maxWorkers: number;
  /** Blocks of the run whose result has not been accepted yet. */
  blocksLeft: number;
  /** Workers that failed or were lost before they were ready, since a worker was last ready. */
  startFailures: number;
}

interface SetupData {
  bundle: Uint8Array;
  bundleImports: BundleImports;
  /** '' when the main could not tell: the worker resolves the function from the spec in settings. */
  exportName: string;
  settings: JsonObject;
}

type Sched = BlockScheduler<WireBlock[], BlockAssociations>;

/** Everything shared by the channel worker kinds; see the module comment. */
export class ChannelWorkerBackend<H> implements ComputeBackend {
  readonly capacity: number;
  readonly settings: ChannelBackendSettings;
  private readonly run: RunDescription;
  private readonly launcher: Launcher<H>;
  private readonly scheduler: Sched;
  private readonly slots: Slot<H>[];
  /** Slots not yet finished, lost or failed (pool mode: at most the pool; single-block: at most singleBlockMaxWorkers). */
  private readonly live = new Set<Slot<H>>();
  private readonly single: SingleBlock | undefined;
  /** The pipeline's dispatch hooks, by block index, until the block settles. */
  private readonly dispatchHooks = new Map<number, DispatchHook>();
  private addr: WorkerChannelAddress | undefined;
  private env: Record<string, string> = {};
  private anyReady = false;
  private server: ChannelServer | undefined;
  private tempDir: string | undefined;
  /** Unregisters the run folder's removal at process exit (see exitcleanup.ts). */
  private keepTempDirAtExit: (() => void) | undefined;
  private setupP: Promise<SetupData> | undefined;
  private launchP: Promise<void> | undefined;
  /** The pool's first launches (each settles when its worker is spawned or submitted, or failed to be). */
  private initialLaunches: Promise<void>[] = [];
  private startP: Promise<void> | undefined;
  private monitor: NodeJS.Timeout | undefined;
  private failure: unknown;
  private firstReady!: () => void;
  private barrierFailed!: (e: unknown) => void;
  private readonly barrier: Promise<void>;
  private teardownP: Promise<void> | undefined;
  private finishing = false;
  private noWorkerTimer: NodeJS.Timeout | undefined;
  private readonly onAbort: () => void;

  /**
   * The main's block buffers, reused (src/bufferpool.ts): input blocks are read into them and
   * given back once a worker's result for the block is accepted; results are received into them
   * and given back once written. At most this many bytes wait free at once.
   */
  private readonly buffers = new BufferPool(POOL_BYTES);
  readonly inputAllocator = (bytes: number): ArrayBuffer => this.buffers.take(bytes);

  constructor(run: RunDescription, launcher: Launcher<H>) {
    this.run = run;
    this.launcher = launcher;
    this.settings = channelBackendSettings(run.concurrency.computeWorkerExtraParams);
    if (run.concurrency.singleBlockComputeWorkers) {
      const maxWorkers = singleBlockMaxWorkers(this.settings, launcher);
      // blocksLeft is set from the plan once the inputs are open; nothing is launched before
      this.single = { maxWorkers, blocksLeft: 0, startFailures: 0 };
      // each worker holds one block; room as in pool mode for the in-order writer, never more
      // however many blocks the run has
      this.capacity = 4 * maxWorkers;
      this.scheduler = new BlockScheduler({ credit: 1, maxDeaths: this.settings.maxBlockDeaths, tasksPerLifetime: 1 });
      this.slots = [];
    } else {
      const n = run.concurrency.numComputeWorkers;
      // Blocks between read and write. Beyond the workers' credit, room for fast workers to go on
      // while the in-order writer waits for a slow worker's block.
      this.capacity = n * this.settings.tasksPerWorker * 4;
      this.scheduler = new BlockScheduler({ credit: this.settings.tasksPerWorker, maxDeaths: this.settings.maxBlockDeaths });
      this.slots = [];
      for (let id = 0; id < n; id++) this.newSlot();
    }
    this.barrier = new Promise<void>((resolve, reject) => {
      this.firstReady = resolve;
      this.barrierFailed = reject;
    });
    this.barrier.catch(() => undefined);
    this.onAbort = () => this.failRun(run.signal.reason ?? new InterruptedError('the run was interrupted'));
    run.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  get startupReadAhead(): { budgetBytes: number; until: Promise<unknown> } | undefined {
    const mb = this.settings.startupReadAheadMB;
    return mb > 0 ? { budgetBytes: mb * 1024 * 1024, until: this.barrier } : undefined;
  }

  /** Results discarded because they came from a worker already declared lost (or for a re-queued block). */
  get discardedResults(): number {
    return this.scheduler.discarded;
  }

  /**
   * Launch the workers and make their setup. Called before the inputs are open (see
   * RunDescription.layout): pool workers are launched at once, single-block workers once the
   * number of blocks is known; resolves when the setup (bundle, grid) is ready to send.
   */
  start(): Promise<void> {
    this.startP ??= (async () => {
      this.launchP = this.launchAll();
      await this.launchP;
      if (this.single) {
        this.single.blocksLeft = (await this.run.layout).plan.total;
        this.topUp();
      }
      await this.setupP;
    })();
    return this.startP;
  }

  async launched(): Promise<void> {
    await this.launchP;
    // a launch request that never returns is bounded by the run's failure (computeBarrierTimeout,
    // an interrupt), which rejects the barrier; a ready worker means the launches are out anyway
    await Promise.race([Promise.all(this.initialLaunches), this.barrier]);
  }

  /** After each step of launchAll(): stop there if the run failed meanwhile (destroy() waits for it). */
  private checkAlive(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Make the run's folder and the channel, launch the pool, and make the bundle (in the background). */
  private async launchAll(): Promise<void> {
    const run = this.run;
    if (run.signal.aborted) throw run.signal.reason;
    const spec = userFunctionSpecOf(run.userFunction);
    if (!spec) throw new ControlsError(`${this.launcher.kind} needs a user function made with defineUserFunction(import.meta.url, fn) and exported from its module`);
    checkOtherArgs(run.otherArgs);

    const base = run.controls.global.tempdir ?? os.tmpdir();
    const tempDir = await fs.mkdtemp(path.join(base, 'riots-run-'));
    this.tempDir = tempDir;
    this.keepTempDirAtExit = cleanUpAtExit(() => rmSync(tempDir, { recursive: true, force: true }));
    this.checkAlive();
    const s = this.settings;
    this.server = await ChannelServer.create({
      host: s.channelHost ?? this.launcher.bindHost ?? '0.0.0.0',
      ...(s.channelPortRange ? { portRange: s.channelPortRange } : {}),
      heartbeatSeconds: s.heartbeatSeconds,
      allocPayload: (bytes) => this.buffers.take(bytes),
      // the backend declares loss itself (and keeps the connection to discard late results); this is the backstop
      peerTimeoutSeconds: s.workerLostSeconds * 4,
    });
    this.checkAlive();
    this.server.on('connection', (c) => this.onConnection(c));
    const addr = this.server.address(s.advertiseHost ?? this.launcher.advertiseHost);
    const waddr: WorkerChannelAddress = { host: addr.host, port: addr.port };
    if (this.launcher.useAddrFile) {
      waddr.addrFile = path.join(this.tempDir, 'channel.addr');
      await writeChannelAddrFile(waddr.addrFile, addr);
    }
    this.env = this.launcher.useAddrFile ? {} : channelKeyEnv(addr.key);
    this.addr = waddr;
    await this.launcher.prepare?.({ tempDir: this.tempDir, run, numWorkers: this.single ? this.single.maxWorkers : this.slots.length });
    this.checkAlive();
    this.startMonitor();
    if (!this.single) this.initialLaunches = this.slots.map((slot) => this.launch(slot));
    // The bundle is made while the workers start: it is needed only once one connects. Made after
    // the launches are out, since loading esbuild and starting its service holds this thread for
    // ~50 ms that the launches need not wait for.
    const setupP = this.prepareSetup(spec);
    setupP.catch(() => undefined);
    this.setupP = setupP;

    // Elastic start: blocks are computed once the first worker is ready, but start() returns as
    // soon as the bundle is made, so the main reads ahead while the workers start. The barrier
    // (computeBarrierTimeout) fails the run, and so every block waiting, if no worker comes.
    const stop = run.timings.start('wait:workers');
    const first = this.waitFirst();
    first.then(stop, stop);
    first.catch(() => undefined);
  }

  /** The bundle, the export name (when the main can tell) and the settings every worker gets. */
  private async prepareSetup(spec: UserFunctionSpec): Promise<SetupData> {
    const run = this.run;
    const [exportName, bundle, layout] = await Promise.all([userFunctionExportName(run.userFunction, spec), bundleUserModule(spec.moduleUrl), run.layout]);
    publish({ event: 'bundled', files: bundle.inputs, packages: bundle.packages, bytes: bundle.code.byteLength });
    const settings: WorkerSettings = {
      infoContext: layout.infoContext,
      controls: run.controls.toJSON(),
      outRefs: run.outRefs,
      inputs: layout.sources.map((s) => ({ name: s.ref.name, listIndex: s.ref.listIndex, path: s.ref.path, nodata: s.nodata })),
      userFunction: { ...spec },
    };
    return { bundle: bundle.code, bundleImports: bundle.imports, exportName: exportName ?? '', settings: JSON.parse(JSON.stringify(settings)) as JsonObject };
  }

  releaseOutputs(outputs: BlockAssociations): void {
    for (const v of Object.values(outputs)) {
      for (const b of Array.isArray(v) ? v : [v]) if (b instanceof Block) this.buffers.give(b.data.buffer);
    }
  }

  compute(coords: BlockCoords, inputs: BlockAssociations | undefined, onDispatch?: DispatchHook): Promise<BlockAssociations> {
    const p = this.scheduler.submit(coords, inputs ? associationsToWire(inputs) : []);
    if (onDispatch) {
      this.dispatchHooks.set(coords.index, onDispatch);
      const forget = (): void => void this.dispatchHooks.delete(coords.index);
      p.then(forget, forget);
    }
    this.dispatch();
    return p;
  }

  async finish(): Promise<{ otherArgsList: unknown[]; workerTimings: Map<number, Timings> }> {
    this.finishing = true;
    const grace = this.settings.workerLostSeconds * 1000;
    await Promise.all(
      this.slots.map(async (slot) => {
        const conn = slot.conn;
        if (!conn || conn.closed) return;
        if (slot.state === 'ready' || slot.state === 'connected') {
          await settleWithin(Promise.race([this.shutdownSlot(slot, null), conn.whenClosed()]), grace);
        } else if (slot.state === 'finishing') {
          // a single-block worker sending its final report
          await settleWithin(Promise.race([slot.done, conn.whenClosed()]), grace);
        } else if (slot.state === 'lost') {
          // let a worker declared lost deliver (and have discarded) what it still sends, briefly
          await settleWithin(conn.whenClosed(), this.settings.lostWorkerDrainSeconds * 1000);
        }
      }),
    );
    await this.teardown();
    if (this.failure !== undefined) throw this.failure;
    const finished = this.slots.filter((s) => s.state === 'finished');
    const workerTimings = new Map<number, Timings>();
    for (const s of this.slots) if (s.timings.phases().length > 0) workerTimings.set(s.id, s.timings);
    return { otherArgsList: finished.map((s) => s.otherArgs), workerTimings };
  }

  async destroy(reason?: unknown): Promise<void> {
    this.failRun(reason ?? new InterruptedError('the run was stopped'));
    // a start() still in progress stops at its next step; what it made is then torn down here
    await this.launchP?.catch(() => undefined);
    for (const slot of this.slots) {
      const c = slot.conn;
      if (c && !c.closed) {
        void c.send({ type: 'shutdown', reason: reason instanceof Error ? reason.message.slice(0, 4096) : 'stopped' }).catch(() => undefined);
        c.destroy();
      }
    }
    await this.teardown();
  }

  // ---------------------------------------------------------------- workers

  private newSlot(): Slot<H> {
    const slot: Slot<H> = { id: this.slots.length, state: 'launching', lastBytes: 0, lastSeen: Date.now(), timings: new Timings() };
    this.slots.push(slot);
    this.live.add(slot);
    return slot;
  }

  private setState(slot: Slot<H>, state: SlotState): void {
    slot.state = state;
    if (GONE.includes(state)) this.live.delete(slot);
  }

  /**
   * singleBlockComputeWorkers: launch workers while fewer than singleBlockMaxWorkers are alive
   * and fewer are working (launching, setting up, or holding their block) than blocks are left.
   */
  private topUp(): void {
    const sb = this.single;
    if (!sb || this.failure !== undefined || this.finishing || this.teardownP || !this.addr) return;
    let working = 0;
    for (const s of this.live) if (s.state !== 'finishing') working++;
    for (let alive = this.live.size; alive < sb.maxWorkers && working < sb.blocksLeft; alive++, working++) void this.launch(this.newSlot());
  }

  /** Tell a worker to shut down (it sends its final report and exits 0); resolves on the report or its loss. */
  private shutdownSlot(slot: Slot<H>, reason: string | null): Promise<void> {
    this.setState(slot, 'finishing');
    slot.done = new Promise<void>((r) => (slot.finished = r));
    void slot.conn?.send({ type: 'shutdown', reason }).catch(() => undefined);
    return slot.done;
  }

  private async launch(slot: Slot<H>): Promise<void> {
    const s = this.settings;
    const addr = this.addr!;
    const env = this.env;
    const args = ['computeworker', '-i', String(slot.id)];
    if (addr.addrFile) args.push('--channaddrfile', addr.addrFile);
    else args.push('--channaddr', `${addr.host},${addr.port}`);
    args.push('--timeout', String(s.workerTimeoutSeconds), '--heartbeat', String(s.heartbeatSeconds));
    try {
      if (this.failure !== undefined) return;
      const handle = await this.launcher.launch({ workerId: slot.id, addr, args, env });
      slot.handle = handle;
      publish({ event: 'launched', workerId: slot.id, handle: this.launcher.describe(handle) });
      if (this.teardownP) {
        await this.launcher.cancel(handle).catch(() => undefined);
        return;
      }
      void this.launcher.ended?.(handle).then((status) => this.onEnded(slot, status));
    } catch (err) {
      this.setState(slot, 'failed');
      slot.reason = `could not be started: ${(err as Error).message}`;
      if (this.single) this.single.startFailures++;
      this.checkAllGone();
    }
  }

  private onEnded(slot: Slot<H>, status: string): void {
    publish({ event: 'ended', workerId: slot.id, status });
    if (slot.state === 'launching') {
      this.setState(slot, 'failed');
      slot.reason = status;
      if (this.single) this.single.startFailures++;
      this.checkAllGone();
    } else if (slot.state === 'connected' || slot.state === 'ready') {
      this.lose(slot, status);
    } else if (slot.state === 'finished' && this.single) {
      // a single-block worker done and gone: nothing of it is needed any more but its report
      slot.handle = undefined;
      if (slot.conn?.closed) slot.conn = undefined;
    }
    // 'finishing': its `finished` may still be in the socket; the connection's close decides
  }

  private onConnection(conn: WorkerConnection): void {
    const id = conn.hello!.workerId;
    const slot = this.slots[id];
    if (slot && !slot.conn && slot.state === 'launching' && this.finishing && this.failure === undefined) {
      // too late for this run: tell it to stop (it exits 0), it gets no setup
      conn.send({ type: 'shutdown', reason: 'the run has finished' }).then(() => conn.close(), () => conn.destroy());
      return;
    }
    if (!slot || slot.conn || slot.state !== 'launching' || this.failure !== undefined) {
      conn.destroy(new ChannelError(`unexpected connection from worker ${id}`));
      return;
    }
    slot.conn = conn;
    this.setState(slot, 'connected');
    slot.lastBytes = conn.bytesReceived;
    slot.lastSeen = Date.now();
    publish({ event: 'connected', workerId: id, pid: conn.hello!.pid, hostname: conn.hello!.hostname });
    conn.on('message', (m) => this.onMessage(slot, m));
    conn.on('close', (err) => this.onClose(slot, err));
    const run = this.run;
    this.setupP!
      .then((st) =>
        conn.send({
        type: 'setup',
        bundle: st.bundle,
        bundleImports: st.bundleImports,
        exportName: st.exportName,
        otherArgs: run.otherArgs,
        settings: st.settings,
        computeWorkersRead: run.concurrency.computeWorkersRead,
        inputFiles: run.concurrency.computeWorkersRead ? run.inRefs.map((r) => ({ name: r.name, listIndex: r.listIndex, path: absoluteInputPath(r.path) })) : [],
        }),
      )
      .catch((err: Error) => this.lose(slot, `setup could not be sent: ${err.message}`));
  }

  private onMessage(slot: Slot<H>, m: WorkerToMain): void {
    switch (m.type) {
      case 'ready':
        if (slot.state !== 'connected') return;
        this.setState(slot, 'ready');
        this.scheduler.addWorker(slot.id);
        publish({ event: 'ready', workerId: slot.id });
        this.anyReady = true;
        if (this.single) this.single.startFailures = 0;
        this.firstReady();
        this.checkAllGone();
        this.dispatch();
        return;
      case 'result': {
        const t = this.scheduler.take(slot.id, m.taskId, m.attempt, m.blockIndex);
        if (!t) {
          publish({ event: 'discarded', workerId: slot.id, blockIndex: m.blockIndex, attempt: m.attempt });
          return;
        }
        slot.timings.merge(m.timings);
        let outputs: BlockAssociations;
        try {
          outputs = wireToAssociations(m.outputs);
        } catch (err) {
          t.job.settled = true;
          t.job.reject(err);
          this.failRun(err);
          return;
        }
        this.scheduler.resolve(t, outputs);
        // Sent once, to the worker that answered: every byte of its frame was read, so nothing
        // refers to the inputs any more. (A block sent again after a loss may still sit in the
        // lost worker's send queue: its buffers are left to the garbage collector.)
        if (t.job.attempts === 1) for (const w of t.job.payload) this.buffers.give(w.data.buffer);
        publish({ event: 'result', workerId: slot.id, blockIndex: m.blockIndex, attempt: m.attempt });
        if (this.single) {
          // its one block is done: it reports and exits, and the next worker may start
          this.single.blocksLeft--;
          this.scheduler.removeWorker(slot.id);
          void this.shutdownSlot(slot, null);
        }
        this.dispatch();
        return;
      }
      case 'taskError': {
        const t = this.scheduler.take(slot.id, m.taskId, m.attempt, m.blockIndex);
        if (!t) {
          publish({ event: 'discarded', workerId: slot.id, blockIndex: m.blockIndex, attempt: m.attempt });
          return;
        }
        const err = errorFromJSON(m.error);
        t.job.settled = true;
        t.job.reject(err);
        this.failRun(err);
        return;
      }
      case 'workerError': {
        if (slot.state !== 'connected' && slot.state !== 'ready') return;
        const cause = errorFromJSON(m.error);
        this.failRun(new WorkerError(`${this.launcher.kind} worker ${slot.id} could not set up (user function or inputs): ${cause.message}`, { workerId: slot.id, cause }));
        return;
      }
      case 'finished':
        if (slot.state !== 'finishing') return;
        slot.otherArgs = m.otherArgs;
        this.setState(slot, 'finished');
        publish({ event: 'finished', workerId: slot.id });
        slot.finished?.();
        if (this.single) this.checkAllGone();
        return;
      case 'log':
        process.stderr.write(`[${this.launcher.kind} worker ${slot.id}] ${m.text}\n`);
        return;
      default:
        return;
    }
  }

  private onClose(slot: Slot<H>, err: Error | null): void {
    if (GONE.includes(slot.state)) return;
    this.lose(slot, err ? err.message : 'closed its connection');
  }

  /** Declare a worker lost: its blocks go back to the queue (see BlockScheduler.workerLost). */
  private lose(slot: Slot<H>, reason: string): void {
    if (GONE.includes(slot.state)) return;
    const wasFinishing = slot.state === 'finishing';
    const beforeReady = slot.state === 'launching' || slot.state === 'connected';
    this.setState(slot, 'lost');
    slot.reason = reason;
    const outcome = this.scheduler.workerLost(slot.id, reason);
    if (this.single) {
      this.scheduler.removeWorker(slot.id);
      if (beforeReady) this.single.startFailures++;
    }
    publish({ event: 'lost', workerId: slot.id, reason, requeued: outcome.fatal ? [] : outcome.revoked.map((t) => t.job.coords.index) });
    const conn = slot.conn;
    if (conn && !conn.closed) {
      for (const t of outcome.revoked) void conn.send({ type: 'cancel', taskId: t.taskId }).catch(() => undefined);
      void conn.send({ type: 'shutdown', reason: `declared lost: ${reason}` }).catch(() => undefined);
    }
    // give it time to go by itself (and to have its late results discarded), then stop it
    if (slot.handle !== undefined && !this.teardownP) {
      slot.killTimer = setTimeout(() => void this.launcher.cancel(slot.handle as H).catch(() => undefined), this.settings.workerLostSeconds * 1000);
      slot.killTimer.unref();
    }
    if (wasFinishing) slot.finished?.();
    if (outcome.fatal) this.failRun(outcome.fatal);
    this.dispatch();
    this.checkAllGone();
  }

  /**
   * Every worker failed or was lost: fail the run instead of waiting for ever. With only workers
   * still starting, wait for one of them at most computeBarrierTimeout.
   */
  private checkAllGone(): void {
    if (this.failure !== undefined || this.finishing) return;
    if (this.single) {
      this.checkSingle(this.single);
      return;
    }
    if (this.slots.some((s) => s.state === 'connected' || s.state === 'ready')) {
      clearTimeout(this.noWorkerTimer);
      this.noWorkerTimer = undefined;
      return;
    }
    if (this.slots.some((s) => s.state === 'launching')) {
      const secs = this.run.concurrency.computeBarrierTimeout;
      if (secs !== null && this.noWorkerTimer === undefined) {
        this.noWorkerTimer = setTimeout(() => {
          void this.describeSlots().then((d) => {
            this.failRun(new TimeoutError(`no ${this.launcher.kind} compute worker was ready for ${secs} s (computeBarrierTimeout) after the others were lost: ${d}`));
          });
        }, secs * 1000);
        this.noWorkerTimer.unref();
      }
      return;
    }
    void this.describeSlots().then((d) => {
      this.failRun(new WorkerLostError(`every ${this.launcher.kind} compute worker is gone, with ${this.scheduler.pending} block(s) not done: ${d}`));
    });
  }

  /**
   * singleBlockComputeWorkers: workers come and go, so "every worker gone" means maxBlockDeaths
   * workers in a row failed before they were ready (no endless relaunching of workers that
   * cannot start); otherwise launch what is missing. While blocks are left and no worker is
   * connected, wait at most computeBarrierTimeout for one (after the first: waitFirst's job).
   */
  private checkSingle(sb: SingleBlock): void {
    if (sb.startFailures >= this.settings.maxBlockDeaths) {
      const n = sb.startFailures;
      void this.describeSlots().then((d) => {
        this.failRun(
          new WorkerLostError(
            `every ${this.launcher.kind} compute worker is gone, with ${this.scheduler.pending} block(s) not done: ${n} single-block workers in a row failed before they were ready, so no more are launched: ${d}`,
          ),
        );
      });
      return;
    }
    this.topUp();
    let alive = false;
    for (const s of this.live) if (s.state === 'connected' || s.state === 'ready') alive = true;
    if (alive || !this.anyReady || sb.blocksLeft === 0) {
      clearTimeout(this.noWorkerTimer);
      this.noWorkerTimer = undefined;
      return;
    }
    const secs = this.run.concurrency.computeBarrierTimeout;
    if (secs !== null && this.noWorkerTimer === undefined) {
      this.noWorkerTimer = setTimeout(() => {
        void this.describeSlots().then((d) => {
          this.failRun(new TimeoutError(`no ${this.launcher.kind} compute worker was ready for ${secs} s (computeBarrierTimeout) with ${sb.blocksLeft} block(s) not done: ${d}`));
        });
      }, secs * 1000);
      this.noWorkerTimer.unref();
    }
  }

  /**
   * Every worker and its state, for error messages. With singleBlockComputeWorkers, the workers
   * that did their block are left out and only the last 12 others are listed.
   */
  private async describeSlots(): Promise<string> {
    let slots = this.slots;
    let more = '';
    if (this.single) {
      const others = slots.filter((s) => s.state !== 'finished');
      slots = others.slice(-12);
      if (others.length > slots.length) more = ` | and ${others.length - slots.length} earlier worker(s)`;
    }
    const parts = await Promise.all(
      slots.map(async (s) => {
        let st = s.reason ?? s.state;
        if (s.handle !== undefined) {
          const more = await this.launcher.status(s.handle).catch(() => '');
          if (more && !st.includes(more)) st += `; ${more}`;
        }
        return `worker ${s.id} (${s.handle !== undefined ? this.launcher.describe(s.handle) : 'not started'}): ${st}`;
      }),
    );
    return parts.join(' | ') + more;
  }

  private dispatch(): void {
    const assigned = this.scheduler.assign();
    const overlap = this.run.controls.global.overlap;
    for (const [id, tasks] of assigned) {
      const slot = this.slots[id]!;
      const specs: TaskSpec[] = tasks.map((t: Task<WireBlock[], BlockAssociations>) => {
        const c = t.job.coords;
        publish({ event: 'dispatched', workerId: id, blockIndex: c.index, attempt: t.attempt });
        this.dispatchHooks.get(c.index)?.(id);
        return {
          taskId: t.taskId,
          attempt: t.attempt,
          block: c,
          overlap,
          inputs: t.job.payload,
        };
      });
      slot.conn!.send({ type: 'tasks', tasks: specs }).catch((err: Error) => this.lose(slot, `tasks could not be sent: ${err.message}`));
    }
  }

  /** Declare workers lost that sent nothing, not even a heartbeat, for workerLostSeconds. */
  private startMonitor(): void {
    const lostMs = this.settings.workerLostSeconds * 1000;
    const tick = Math.max(20, Math.min(this.settings.heartbeatSeconds * 1000, lostMs / 4));
    let last = Date.now();
    this.monitor = setInterval(() => {
      const now = Date.now();
      // this process stalled (a long synchronous step): the workers' bytes may be waiting unread
      const stalled = now - last > Math.max(2 * tick, 1000);
      last = now;
      for (const slot of this.live) {
        const c = slot.conn;
        if (!c || (slot.state !== 'connected' && slot.state !== 'ready')) continue;
        if (stalled || c.bytesReceived !== slot.lastBytes) {
          slot.lastBytes = c.bytesReceived;
          slot.lastSeen = now;
        } else if (now - slot.lastSeen > lostMs) {
          this.lose(slot, `sent nothing, not even a heartbeat, for more than ${this.settings.workerLostSeconds} s (workerLostSeconds: a user function that keeps a worker busy longer than that on one block needs a larger value)`);
        }
      }
    }, tick);
    this.monitor.unref();
  }

  private waitFirst(): Promise<void> {
    const secs = this.run.concurrency.computeBarrierTimeout;
    if (secs === null) return this.barrier;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        void this.describeSlots().then((d) => {
          const err = new TimeoutError(`timed out after ${secs} s (computeBarrierTimeout) waiting for the first ${this.launcher.kind} compute worker to be ready: ${d}`);
          this.failRun(err);
          reject(err);
        });
      }, secs * 1000);
      this.barrier.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  private failRun(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.scheduler.fail(err);
    this.barrierFailed(err);
  }

  /** Stop every worker, close the channel, remove the temp folder. Once. */
  private teardown(): Promise<void> {
    this.teardownP ??= (async () => {
      this.run.signal.removeEventListener('abort', this.onAbort);
      clearInterval(this.monitor);
      clearTimeout(this.noWorkerTimer);
      for (const s of this.slots) clearTimeout(s.killTimer);
      await Promise.all(
        this.slots.map(async (s) => {
          try {
            // a worker that sent its final report is exiting: let it end by itself (exit 0)
            if (s.handle !== undefined && s.state === 'finished' && this.launcher.ended && this.launcher.endNoticedPromptly) {
              await settleWithin(this.launcher.ended(s.handle), FINISHED_EXIT_GRACE_MS);
            }
            // (a single-block worker seen to end has no handle any more)
            if (s.handle !== undefined) await this.launcher.cancel(s.handle);
          } catch {
            // a worker that cannot be cancelled never stops the teardown (the channel, the folder)
          }
        }),
      );
      for (const s of this.slots) s.conn?.destroy();
      await this.server?.close().catch(() => undefined);
      await this.launcher.close?.().catch(() => undefined);
      if (this.tempDir) await fs.rm(this.tempDir, { recursive: true, force: true }).catch(() => undefined);
      this.keepTempDirAtExit?.();
      publish({ event: 'buffers', ...this.buffers.stats });
    })();
    return this.teardownP;
  }
}

/**
 * Workers run in another folder (CW_SUBPROC: an empty one; remote: another machine with a shared
 * filesystem), so a relative input path is made absolute. GDAL virtual paths, URLs and
 * driver-prefixed names are left as they are.
 */
export function absoluteInputPath(p: string): string {
  if (p.startsWith('/vsi') || /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || /^[A-Z][A-Z0-9_]*:/.test(p)) return p;
  return path.resolve(p);
}
