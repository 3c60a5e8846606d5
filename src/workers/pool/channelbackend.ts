/**
 * The compute backend shared by every kind whose workers are separate processes that speak the
 * data channel (CW_SUBPROC, CW_AWSBATCH, CW_ECS, CW_SLURM, CW_PBS).
 *
 * {@link ChannelWorkerBackend} owns everything but the start and stop of a worker: the channel
 * server, the setup of each worker, dynamic scheduling with credit, heartbeats and loss
 * detection, re-queueing, the barrier for the first worker, and the final collection of otherArgs
 * and timings. A kind only supplies a {@link Launcher}: how to start `riots computeworker`
 * somewhere, how to cancel it, and how to describe it for error messages.
 *
 * Its parts: each worker's state in a {@link WorkerSlot} (slot.ts), block scheduling in
 * {@link BlockScheduler} (scheduler.ts), what a worker is sent at setup (setup.ts), and with
 * singleBlockComputeWorkers the {@link SingleBlockPolicy} (singleblock.ts).
 *
 * Events for tests and diagnostics are published on the `node:diagnostics_channel` channel
 * {@link WORKER_EVENTS} (see {@link WorkerEvent}).
 */
import { Block, type BlockAssociations } from '../../block.js';
import { ChannelError, ControlsError, InterruptedError, WorkerError, errorFromJSON, type BlockCoords } from '../../errors.js';
import { checkOtherArgs } from '../../otherargs.js';
import { settleWithin } from '../../timeout.js';
import type { Timings } from '../../timings.js';
import { userFunctionSpecOf } from '../../userfunction.js';
import type { ComputeBackend, DispatchHook, RunDescription } from '../backend.js';
import type { WorkerConnection } from '../channel/channel.js';
import { associationsToWire, wireToAssociations, type TaskSpec, type WireBlock, type WorkerToMain } from '../channel/protocol.js';
import { BufferPool } from './bufferpool.js';
import { publish } from './events.js';
import type { Launcher } from './launcher.js';
import { Liveness } from './liveness.js';
import { RunChannel } from './runchannel.js';
import { BlockScheduler } from './scheduler.js';
import { channelBackendSettings, singleBlockMaxWorkers, workerCredit, type ChannelBackendSettings } from './settings.js';
import { workerReadEnv } from './workerenv.js';
import { prepareSetup, setupMessage, type SetupData } from './setup.js';
import { SingleBlockPolicy } from './singleblock.js';
import { SlotTable, type WorkerSlot } from './slot.js';

/** Most bytes of free block buffers the main keeps for reuse (a few times a run's blocks in flight). */
const POOL_BYTES = 64 * 1024 * 1024;

/** Everything shared by the channel worker kinds; see the module comment. */
export class ChannelWorkerBackend<H> implements ComputeBackend {
  readonly capacity: number;
  readonly settings: ChannelBackendSettings;
  private readonly run: RunDescription;
  private readonly launcher: Launcher<H>;
  private readonly scheduler: BlockScheduler<WireBlock[], BlockAssociations>;
  private readonly slots = new SlotTable<H>();
  private readonly single: SingleBlockPolicy | undefined;
  /** The pipeline's dispatch hooks, by block index, until the block settles. */
  private readonly dispatchHooks = new Map<number, DispatchHook>();
  private channel: RunChannel | undefined;
  private anyReady = false;
  private readonly liveness: Liveness<H>;
  private setupP: Promise<SetupData> | undefined;
  private launchP: Promise<void> | undefined;
  /** The pool's first launches (each settles when its worker is spawned or submitted, or failed to be). */
  private initialLaunches: Promise<void>[] = [];
  private startP: Promise<void> | undefined;
  private failure: unknown;
  private firstReady!: () => void;
  private barrierFailed!: (e: unknown) => void;
  private readonly barrier: Promise<void>;
  private teardownP: Promise<void> | undefined;
  private finishing = false;
  private readonly onAbort: () => void;

  /**
   * The main's block buffers, reused (bufferpool.ts): input blocks are read into them and given
   * back once a worker's result for the block is accepted; results are received into them and
   * given back once written. At most this many bytes wait free at once.
   */
  private readonly buffers = new BufferPool(POOL_BYTES);
  readonly inputAllocator = (bytes: number): ArrayBuffer => this.buffers.take(bytes);

  constructor(run: RunDescription, launcher: Launcher<H>) {
    this.run = run;
    this.launcher = launcher;
    this.settings = channelBackendSettings(run.concurrency.computeWorkerExtraParams);
    const maxDeaths = this.settings.maxBlockDeaths;
    if (run.concurrency.singleBlockComputeWorkers) {
      // blocksLeft is set from the plan once the inputs are open; nothing is launched before
      this.single = new SingleBlockPolicy(singleBlockMaxWorkers(this.settings, launcher), maxDeaths);
      this.capacity = this.single.capacity;
      this.scheduler = new BlockScheduler({ ...this.single.schedulerOptions, maxDeaths });
    } else {
      const n = run.concurrency.numComputeWorkers;
      const credit = workerCredit(this.settings.tasksPerWorker, run.concurrency);
      // Blocks between read and write. Beyond the workers' credit, room for fast workers to go on
      // while the in-order writer waits for a slow worker's block.
      this.capacity = n * credit * 4;
      this.scheduler = new BlockScheduler({ credit, maxDeaths });
      for (let id = 0; id < n; id++) this.slots.add();
    }
    this.barrier = new Promise<void>((resolve, reject) => {
      this.firstReady = resolve;
      this.barrierFailed = reject;
    });
    this.barrier.catch(() => undefined);
    this.liveness = new Liveness<H>({
      kind: launcher.kind,
      slots: this.slots,
      single: this.single,
      settings: this.settings,
      barrierSeconds: run.concurrency.computeBarrierTimeout,
      pending: () => this.scheduler.pending,
      anyReady: () => this.anyReady,
      topUp: () => this.topUp(),
      lose: (slot, reason) => this.lose(slot, reason),
      fail: (err) => this.failRun(err),
      describe: () => this.slots.describe(this.launcher, this.single),
    });
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

  /** Make the run's folder and the channel, launch the pool, and make the setup (in the background). */
  private async launchAll(): Promise<void> {
    const run = this.run;
    if (run.signal.aborted) throw run.signal.reason;
    const spec = userFunctionSpecOf(run.userFunction);
    if (!spec)
      throw new ControlsError(`${this.launcher.kind} needs a user function made with defineUserFunction(import.meta.url, fn) and exported from its module`);
    checkOtherArgs(run.otherArgs);
    this.channel = await RunChannel.open({
      tempBase: run.controls.global.tempdir,
      settings: this.settings,
      launcher: this.launcher,
      allocPayload: (bytes) => this.buffers.take(bytes),
      onConnection: (c) => this.onConnection(c),
      alive: () => this.checkAlive(),
    });
    this.checkAlive();
    await this.launcher.prepare?.({ tempDir: this.channel.tempDir, run, numWorkers: this.single ? this.single.maxWorkers : this.slots.all.length });
    this.checkAlive();
    this.liveness.startMonitor();
    if (!this.single) this.initialLaunches = this.slots.all.map((slot) => this.launch(slot));
    // The setup (the bundle) is made while the workers start: it is needed only once one
    // connects. Made after the launches are out, since loading esbuild and starting its service
    // holds this thread for ~50 ms that the launches need not wait for.
    const setupP = prepareSetup(run, spec);
    setupP.catch(() => undefined);
    this.setupP = setupP;

    // Elastic start: blocks are computed once the first worker is ready, but start() returns as
    // soon as the setup is made, so the main reads ahead while the workers start. The barrier
    // (computeBarrierTimeout) fails the run, and so every block waiting, if no worker comes.
    const stop = run.timings.start('wait:workers');
    const first = this.liveness.waitFirst(this.barrier);
    first.then(stop, stop);
    first.catch(() => undefined);
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
      this.slots.all.map(async (slot) => {
        const conn = slot.conn;
        if (!conn || conn.closed) return;
        if (slot.working) {
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
    const finished = this.slots.all.filter((s) => s.state === 'finished');
    const workerTimings = new Map<number, Timings>();
    for (const s of this.slots.all) if (s.timings.phases().length > 0) workerTimings.set(s.id, s.timings);
    return { otherArgsList: finished.map((s) => s.otherArgs), workerTimings };
  }

  async destroy(reason?: unknown): Promise<void> {
    this.failRun(reason ?? new InterruptedError('the run was stopped'));
    // a start() still in progress stops at its next step; what it made is then torn down here
    await this.launchP?.catch(() => undefined);
    for (const slot of this.slots.all) {
      const c = slot.conn;
      if (c && !c.closed) {
        void c.send({ type: 'shutdown', reason: reason instanceof Error ? reason.message.slice(0, 4096) : 'stopped' }).catch(() => undefined);
        // end, not reset: the worker reads its shutdown and exits 0 instead of seeing its main
        // lost (a reset discards what it had not read); the teardown destroys it after the kind's stop
        void c.close();
      }
    }
    await this.teardown();
  }

  // ---------------------------------------------------------------- workers

  /** singleBlockComputeWorkers: launch what the policy asks for. */
  private topUp(): void {
    const sb = this.single;
    if (!sb || this.failure !== undefined || this.finishing || this.teardownP || !this.channel) return;
    for (let n = sb.toLaunch(this.slots); n > 0; n--) void this.launch(this.slots.add());
  }

  /** Tell a worker to shut down (it sends its final report and exits 0); resolves on the report or its loss. */
  private shutdownSlot(slot: WorkerSlot<H>, reason: string | null): Promise<void> {
    this.slots.setState(slot, 'finishing');
    return slot.shutdown(reason);
  }

  /** A worker that failed before it was ready (could not start, or ended first). */
  private startFailed(slot: WorkerSlot<H>, reason: string): void {
    this.slots.setState(slot, 'failed');
    slot.reason = reason;
    this.single?.workerFailedToStart();
    this.checkAllGone();
  }

  private async launch(slot: WorkerSlot<H>): Promise<void> {
    const s = this.settings;
    const { addr } = this.channel!;
    const env = { ...workerReadEnv(this.run), ...this.channel!.env };
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
      this.startFailed(slot, `could not be started: ${(err as Error).message}`);
    }
  }

  private onEnded(slot: WorkerSlot<H>, status: string): void {
    publish({ event: 'ended', workerId: slot.id, status });
    if (slot.state === 'launching') {
      this.startFailed(slot, status);
    } else if (slot.working) {
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
    const slot = this.slots.get(id);
    if (slot && !slot.conn && slot.state === 'launching' && this.finishing && this.failure === undefined) {
      // too late for this run: tell it to stop (it exits 0), it gets no setup
      conn.send({ type: 'shutdown', reason: 'the run has finished' }).then(
        () => conn.close(),
        () => conn.destroy(),
      );
      return;
    }
    if (!slot || slot.conn || slot.state !== 'launching' || this.failure !== undefined) {
      conn.destroy(new ChannelError(`unexpected connection from worker ${id}`));
      return;
    }
    slot.connected(conn);
    this.slots.setState(slot, 'connected');
    publish({ event: 'connected', workerId: id, pid: conn.hello!.pid, hostname: conn.hello!.hostname });
    conn.on('message', (m) => this.onMessage(slot, m));
    conn.on('close', (err) => this.onClose(slot, err));
    this.setupP!.then((st) => conn.send(setupMessage(st, this.run))).catch((err: Error) => this.lose(slot, `setup could not be sent: ${err.message}`));
  }

  private onMessage(slot: WorkerSlot<H>, m: WorkerToMain): void {
    switch (m.type) {
      case 'ready':
        if (slot.state !== 'connected') return;
        this.slots.setState(slot, 'ready');
        this.scheduler.addWorker(slot.id);
        publish({ event: 'ready', workerId: slot.id });
        this.anyReady = true;
        this.single?.workerReady();
        this.firstReady();
        this.checkAllGone();
        this.dispatch();
        return;
      case 'result':
        this.onResult(slot, m);
        return;
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
        if (!slot.working) return;
        const cause = errorFromJSON(m.error);
        this.failRun(
          new WorkerError(`${this.launcher.kind} worker ${slot.id} could not set up (user function or inputs): ${cause.message}`, { workerId: slot.id, cause }),
        );
        return;
      }
      case 'finished':
        if (slot.state !== 'finishing') return;
        this.slots.setState(slot, 'finished');
        slot.ended(m.otherArgs);
        publish({ event: 'finished', workerId: slot.id });
        if (this.single) this.checkAllGone();
        return;
      case 'log':
        process.stderr.write(`[${this.launcher.kind} worker ${slot.id}] ${m.text}\n`);
        return;
      default:
        return;
    }
  }

  private onResult(slot: WorkerSlot<H>, m: Extract<WorkerToMain, { type: 'result' }>): void {
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
      this.single.blockDone();
      this.scheduler.removeWorker(slot.id);
      void this.shutdownSlot(slot, null);
    }
    this.dispatch();
  }

  private onClose(slot: WorkerSlot<H>, err: Error | null): void {
    if (slot.gone) return;
    this.lose(slot, err ? err.message : 'closed its connection');
  }

  /** Declare a worker lost: its blocks go back to the queue (see BlockScheduler.workerLost). */
  private lose(slot: WorkerSlot<H>, reason: string): void {
    if (slot.gone) return;
    const wasFinishing = slot.state === 'finishing';
    const beforeReady = slot.state === 'launching' || slot.state === 'connected';
    this.slots.setState(slot, 'lost');
    slot.reason = reason;
    const outcome = this.scheduler.workerLost(slot.id, reason);
    if (this.single) {
      this.scheduler.removeWorker(slot.id);
      if (beforeReady) this.single.workerFailedToStart();
    }
    publish({ event: 'lost', workerId: slot.id, reason, requeued: outcome.fatal ? [] : outcome.revoked.map((t) => t.job.coords.index) });
    const conn = slot.conn;
    if (conn && !conn.closed) {
      for (const t of outcome.revoked) void conn.send({ type: 'cancel', taskId: t.taskId }).catch(() => undefined);
      void conn.send({ type: 'shutdown', reason: `declared lost: ${reason}` }).catch(() => undefined);
    }
    // give it time to go by itself (and to have its late results discarded), then stop it
    if (slot.handle !== undefined && !this.teardownP) {
      const handle = slot.handle;
      slot.killTimer = setTimeout(() => void this.launcher.cancel(handle).catch(() => undefined), this.settings.workerLostSeconds * 1000);
      slot.killTimer.unref();
    }
    if (wasFinishing) slot.ended();
    if (outcome.fatal) this.failRun(outcome.fatal);
    this.dispatch();
    this.checkAllGone();
  }

  /** Fail the run when every worker is gone (liveness.ts); nothing to check once it failed or is finishing. */
  private checkAllGone(): void {
    if (this.failure !== undefined || this.finishing) return;
    this.liveness.check();
  }

  private dispatch(): void {
    const overlap = this.run.controls.global.overlap;
    for (const [id, tasks] of this.scheduler.assign()) {
      const slot = this.slots.get(id)!;
      const specs: TaskSpec[] = tasks.map((t) => {
        const c = t.job.coords;
        publish({ event: 'dispatched', workerId: id, blockIndex: c.index, attempt: t.attempt });
        this.dispatchHooks.get(c.index)?.(id);
        return { taskId: t.taskId, attempt: t.attempt, block: c, overlap, inputs: t.job.payload };
      });
      slot.conn!.send({ type: 'tasks', tasks: specs }).catch((err: Error) => this.lose(slot, `tasks could not be sent: ${err.message}`));
    }
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
      this.liveness.stop();
      for (const s of this.slots.all) clearTimeout(s.killTimer);
      await Promise.all(this.slots.all.map((s) => s.stop(this.launcher)));
      for (const s of this.slots.all) s.conn?.destroy();
      await this.channel?.server.close().catch(() => undefined);
      await this.launcher.close?.().catch(() => undefined);
      await this.channel?.close();
      publish({ event: 'buffers', ...this.buffers.stats });
    })();
    return this.teardownP;
  }
}
