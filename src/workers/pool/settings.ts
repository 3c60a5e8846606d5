/**
 * The computeWorkerExtraParams every channel worker kind shares, declared once as a table
 * (src/settings.ts); each kind adds its own table to it (kinds/*.ts, `EXTRA_PARAMS`).
 */
import { ControlsError } from '../../errors.js';
import { custom, numberAtLeast, optionalSeconds, parseSettings, positiveInt, seconds, text, type SettingsTable } from '../../settings.js';
import type { ConcurrencyStyle } from '../../concurrency.js';
import type { Launcher } from './launcher.js';

/** The settings of the shared channel backend. */
export const CHANNEL_SETTINGS = {
  heartbeatSeconds: seconds(5, 'heartbeat period, both ways'),
  workerLostSeconds: seconds(
    15,
    'a worker that sends nothing, not even a heartbeat, for this long is declared lost and its blocks re-queued (more than heartbeatSeconds)',
  ),
  tasksPerWorker: positiveInt(2, { meaning: 'blocks a worker holds at once (credit; at least numReadWorkers + 1 for workers that read)' }),
  maxBlockDeaths: positiveInt(3, { meaning: 'worker deaths on one block that fail the run' }),
  workerTimeoutSeconds: optionalSeconds({
    default: '= workerLostSeconds',
    meaning: "the worker's `--timeout`: how long it waits for an unreachable or silent main before exiting",
  }),
  lostWorkerDrainSeconds: optionalSeconds({
    default: 'min(5, 2 × heartbeatSeconds)',
    meaning: 'at the end, how long a lost but still connected worker may take to go before it is cancelled',
  }),
  channelPortRange: custom<[number, number]>('[lo, hi]', { default: '[30000, 50000]', meaning: 'ports the channel server draws from' }, (v, bad) => {
    if (!(Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x > 0 && x < 65536) && v[0] <= v[1])) bad('[lo, hi], two port numbers');
    return v as [number, number];
  }),
  channelHost: text({ default: "the launcher's", meaning: 'the address the channel server binds' }),
  advertiseHost: text({ default: "the launcher's", meaning: 'the address workers are told to connect to' }),
  singleBlockMaxWorkers: positiveInt(undefined, { default: "the kind's", meaning: 'with `singleBlockComputeWorkers`: workers alive at once' }),
  startupReadAheadMB: numberAtLeast(0, 256, { meaning: 'until the first worker is ready, the main reads up to this many MiB of input blocks ahead; 0: off' }),
} satisfies SettingsTable;

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

/** Read the shared settings from computeWorkerExtraParams (the kind checks the keys). @throws {ControlsError} on a bad value. */
export function channelBackendSettings(extra: Readonly<Record<string, unknown>>): ChannelBackendSettings {
  const s = parseSettings(CHANNEL_SETTINGS, extra, 'computeWorkerExtraParams', { strict: false });
  if (s.workerLostSeconds <= s.heartbeatSeconds) {
    throw new ControlsError(`computeWorkerExtraParams.workerLostSeconds (${s.workerLostSeconds}) must be more than heartbeatSeconds (${s.heartbeatSeconds})`);
  }
  return {
    ...s,
    workerTimeoutSeconds: s.workerTimeoutSeconds ?? s.workerLostSeconds,
    lostWorkerDrainSeconds: s.lostWorkerDrainSeconds ?? Math.min(5, 2 * s.heartbeatSeconds),
  };
}

/**
 * With singleBlockComputeWorkers, how many workers may be alive at once: the setting
 * computeWorkerExtraParams.singleBlockMaxWorkers, else the launcher's default.
 * @throws {ControlsError} when neither says, or the setting is more than the kind allows.
 */
export function singleBlockMaxWorkers(
  settings: Pick<ChannelBackendSettings, 'singleBlockMaxWorkers'>,
  launcher: Pick<Launcher<unknown>, 'kind' | 'singleBlockWorkers'>,
): number {
  const given = settings.singleBlockMaxWorkers;
  const lim = launcher.singleBlockWorkers;
  if (given === undefined) {
    if (!lim)
      throw new ControlsError(`${launcher.kind} with singleBlockComputeWorkers needs computeWorkerExtraParams.singleBlockMaxWorkers (workers alive at once)`);
    return lim.default;
  }
  if (lim?.most !== undefined && given > lim.most) {
    throw new ControlsError(
      `computeWorkerExtraParams.singleBlockMaxWorkers ${given} is more than ${launcher.kind} runs at once: ${lim.most}${lim.mostWhy ? ` (${lim.mostWhy})` : ''}`,
    );
  }
  return given;
}

/**
 * Blocks a pool worker holds at once: `tasksPerWorker`, and for workers that read with
 * `numReadWorkers` n, at least n + 1 (the block it computes and the n it reads ahead).
 */
export function workerCredit(tasksPerWorker: number, c: Pick<ConcurrencyStyle, 'computeWorkersRead' | 'numReadWorkers'>): number {
  return c.computeWorkersRead ? Math.max(tasksPerWorker, c.numReadWorkers + 1) : tasksPerWorker;
}
