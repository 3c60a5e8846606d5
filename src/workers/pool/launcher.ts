/**
 * What a compute-worker kind supplies to the shared channel backend (channelbackend.ts): a
 * {@link Launcher} that starts and stops `riots computeworker`.
 */
import type { RunDescription } from '../backend.js';

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
