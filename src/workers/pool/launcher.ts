/**
 * What a compute-worker kind supplies to the shared channel backend (remote.ts): a
 * {@link Launcher} that starts and stops `riots computeworker`, and the settings every channel
 * kind shares (from computeWorkerExtraParams).
 */
import type { RunDescription } from '../backend.js';
import { ControlsError } from '../../errors.js';

/** Where a worker connects. `addrFile` is set when the launcher asked for one (it also holds the key). */
export interface WorkerChannelAddress {
  host: string;
  port: number;
  addrFile?: string;
}

/** Everything needed to start one worker. */
export interface LaunchSpec {
  workerId: number;
  addr: WorkerChannelAddress;
  /** Arguments after `riots`: `computeworker -i ID --channaddrfile F ...` (never the key). */
  args: string[];
  /** Environment to add: the key (RIOTS_CHANNEL_KEY) when there is no address file. */
  env: Record<string, string>;
}

export interface LaunchContext {
  /** A private folder (0700) for this run, removed at the end; holds the address file. */
  tempDir: string;
  run: RunDescription;
  /** Workers of the run (numComputeWorkers), or with singleBlockComputeWorkers the most alive at once. */
  numWorkers: number;
}

/**
 * How one worker kind starts and stops `riots computeworker`. Everything else is shared.
 * @typeParam H the kind's handle for one started worker (a child process, a job id, ...).
 */
export interface Launcher<H> {
  /** For messages: "CW_SUBPROC", "CW_SLURM", ... */
  readonly kind: string;
  /** Address the channel server binds (default '0.0.0.0'). */
  readonly bindHost?: string;
  /** Host workers connect to (default: the bind address, or this machine's name for 0.0.0.0). */
  readonly advertiseHost?: string;
  /** Workers read the address and key from a 0600 file in the run's temp folder (same machine or shared temp). Else: --channaddr plus the key in the environment. */
  readonly useAddrFile: boolean;
  /**
   * With singleBlockComputeWorkers: how many workers may be alive at once when
   * computeWorkerExtraParams.singleBlockMaxWorkers is not given (`default`), and the most that
   * setting may ask for (`most`, with `mostWhy` saying why; none: no cap). A kind without it
   * needs the setting.
   */
  readonly singleBlockWorkers?: { default: number; most?: number; mostWhy?: string };
  /**
   * True when {@link ended} settles by itself as soon as the worker ends (a local process's
   * exit): the end of a run then lets a worker that sent its final report exit by itself before
   * cancelling it. Kinds that learn of the end by polling (Batch) leave it unset: their cancel()
   * gives an ending worker its grace while polling actively, and a passive wait would only add
   * a poll period to every run.
   */
  readonly endNoticedPromptly?: boolean;
  /** Called once before the first launch. */
  prepare?(ctx: LaunchContext): Promise<void>;
  /** Start one worker. Resolves once it is submitted/spawned, not when it is connected. */
  launch(spec: LaunchSpec): Promise<H>;
  /** Stop it (idempotent); resolves once it is gone, as far as the kind can tell. */
  cancel(handle: H): Promise<void>;
  /** A line on its state, for error messages ("exited with code 1: <stderr tail>", "job FAILED: ..."). */
  status(handle: H): Promise<string>;
  /** Resolves (never rejects) with a status when the worker has ended, where the kind can observe it. */
  ended?(handle: H): Promise<string>;
  /** A short name for events and messages (pid, job id). */
  describe(handle: H): string;
  /** Called once at the very end. */
  close?(): Promise<void>;
}

/** Settings of the shared backend, from computeWorkerExtraParams. */
export interface ChannelBackendSettings {
  /** Seconds between heartbeats, both ways. Default 5. */
  heartbeatSeconds: number;
  /**
   * A worker silent this long is declared lost and its blocks re-queued. Default 15 (three
   * heartbeats), below computeBufferPopTimeout's default 20, so that a stalled worker's blocks are
   * re-run before the writer gives up on them.
   */
  workerLostSeconds: number;
  /** Blocks a worker holds at once. Default 2. */
  tasksPerWorker: number;
  /** Deaths of a worker on one block that fail the run. Default 3. */
  maxBlockDeaths: number;
  /** Seconds a worker waits for an unreachable or silent main before exiting. Default: workerLostSeconds. */
  workerTimeoutSeconds: number;
  /** At the end, how long a worker declared lost but still connected may take to go by itself. Default min(5, 2 x heartbeatSeconds). */
  lostWorkerDrainSeconds: number;
  /** Port range of the channel server. Default [30000, 50000]. */
  channelPortRange: [number, number] | undefined;
  /** Host to bind / to advertise, overriding the launcher's. */
  channelHost: string | undefined;
  advertiseHost: string | undefined;
  /** singleBlockComputeWorkers: workers alive at once (launched and not yet done with their block and report). Default: the launcher's. */
  singleBlockMaxWorkers: number | undefined;
  /**
   * Until the first worker is ready, the main process reads blocks ahead into memory, up to this
   * many MiB of input pixels, instead of sitting idle while jobs start; those blocks travel to
   * the workers with their inputs (also with computeWorkersRead). 0 turns it off. Default 256.
   */
  startupReadAheadMB: number;
}

/**
 * A number of seconds from computeWorkerExtraParams[k]: `dflt` when not given; positive, or with
 * `allowZero` non-negative. For the settings of each kind.
 * @throws {ControlsError} naming the setting.
 */
export function extraSeconds(extra: Readonly<Record<string, unknown>>, k: string, dflt: number, allowZero = false): number {
  const v = extra[k];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new ControlsError(`computeWorkerExtraParams.${k} must be a ${allowZero ? 'non-negative' : 'positive'} number of seconds (got ${String(v)})`);
  }
  return v;
}

/** A non-empty string setting of computeWorkerExtraParams, or undefined. @throws {ControlsError} naming the setting. */
export function extraString(extra: Readonly<Record<string, unknown>>, k: string): string | undefined {
  const v = extra[k];
  if (v !== undefined && (typeof v !== 'string' || v === '')) throw new ControlsError(`computeWorkerExtraParams.${k} must be a non-empty string`);
  return v as string | undefined;
}

/**
 * An environment setting of computeWorkerExtraParams (NAME: value strings, default none) for the
 * workers' jobs or tasks. `reserved(name)` is true for names riots or the service sets.
 * @throws {ControlsError} naming the setting and the variable.
 */
export function extraEnvironment(extra: Readonly<Record<string, unknown>>, k: string, reserved: (name: string) => boolean, who: string): Record<string, string> {
  const env = extra[k] ?? {};
  if (typeof env !== 'object' || env === null || Array.isArray(env)) throw new ControlsError(`computeWorkerExtraParams.${k} must be an object of NAME: value strings`);
  for (const [name, v] of Object.entries(env)) {
    if (typeof v !== 'string') throw new ControlsError(`computeWorkerExtraParams.${k}.${name} must be a string`);
    if (reserved(name)) throw new ControlsError(`computeWorkerExtraParams.${k} may not set ${name} (${who} sets it)`);
  }
  return env as Record<string, string>;
}

/** Read the shared settings from computeWorkerExtraParams. @throws {ControlsError} on a bad value. */
export function channelBackendSettings(extra: Readonly<Record<string, unknown>>): ChannelBackendSettings {
  const num = (k: string, dflt: number, integer = false): number => {
    const v = extra[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new ControlsError(`computeWorkerExtraParams.${k} must be a positive ${integer ? 'integer' : 'number'} (got ${String(v)})`);
    }
    return v;
  };
  const str = (k: string): string | undefined => {
    const v = extra[k];
    if (v !== undefined && (typeof v !== 'string' || v === '')) throw new ControlsError(`computeWorkerExtraParams.${k} must be a host name or address`);
    return v as string | undefined;
  };
  const range = extra.channelPortRange;
  if (range !== undefined && !(Array.isArray(range) && range.length === 2 && range.every((x) => Number.isInteger(x)))) {
    throw new ControlsError('computeWorkerExtraParams.channelPortRange must be [lo, hi]');
  }
  const heartbeatSeconds = num('heartbeatSeconds', 5);
  const workerLostSeconds = num('workerLostSeconds', 15);
  if (workerLostSeconds <= heartbeatSeconds) {
    throw new ControlsError(`computeWorkerExtraParams.workerLostSeconds (${workerLostSeconds}) must be more than heartbeatSeconds (${heartbeatSeconds})`);
  }
  const readAhead = extra.startupReadAheadMB ?? 256;
  if (typeof readAhead !== 'number' || !(readAhead >= 0) || !Number.isFinite(readAhead)) {
    throw new ControlsError(`computeWorkerExtraParams.startupReadAheadMB must be a number of MiB, 0 or more (got ${String(readAhead)})`);
  }
  return {
    heartbeatSeconds,
    workerLostSeconds,
    tasksPerWorker: num('tasksPerWorker', 2, true),
    maxBlockDeaths: num('maxBlockDeaths', 3, true),
    workerTimeoutSeconds: num('workerTimeoutSeconds', workerLostSeconds),
    lostWorkerDrainSeconds: num('lostWorkerDrainSeconds', Math.min(5, 2 * heartbeatSeconds)),
    channelPortRange: range as [number, number] | undefined,
    channelHost: str('channelHost'),
    advertiseHost: str('advertiseHost'),
    singleBlockMaxWorkers: extra.singleBlockMaxWorkers === undefined ? undefined : num('singleBlockMaxWorkers', 1, true),
    startupReadAheadMB: readAhead,
  };
}

/**
 * With singleBlockComputeWorkers, how many workers may be alive at once: the setting
 * computeWorkerExtraParams.singleBlockMaxWorkers, else the launcher's default.
 * @throws {ControlsError} when neither says, or the setting is more than the kind allows.
 */
export function singleBlockMaxWorkers(settings: Pick<ChannelBackendSettings, 'singleBlockMaxWorkers'>, launcher: Pick<Launcher<unknown>, 'kind' | 'singleBlockWorkers'>): number {
  const given = settings.singleBlockMaxWorkers;
  const lim = launcher.singleBlockWorkers;
  if (given === undefined) {
    if (!lim) throw new ControlsError(`${launcher.kind} with singleBlockComputeWorkers needs computeWorkerExtraParams.singleBlockMaxWorkers (workers alive at once)`);
    return lim.default;
  }
  if (lim?.most !== undefined && given > lim.most) {
    throw new ControlsError(
      `computeWorkerExtraParams.singleBlockMaxWorkers ${given} is more than ${launcher.kind} runs at once: ${lim.most}${lim.mostWhy ? ` (${lim.mostWhy})` : ''}`,
    );
  }
  return given;
}

