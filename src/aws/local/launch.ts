/**
 * How the local endpoint starts and stops what a job or task runs: the shared interface of the
 * two ways it can (./processes.ts: a local process from the Dockerfile's ENTRYPOINT;
 * ./containers.ts: a container of the pushed image).
 */

export interface LaunchCallbacks {
  /** It runs (a process id: the process's, or the engine client's for a container). */
  started(pid: number): void;
  /** It ended: its exit code (128 + signal number when killed) and the signal, if one. */
  exited(exitCode: number, signal: NodeJS.Signals | null): void;
  /** It could not start at all: the message is the job's reason. */
  failed(message: string): void;
}

/** A local process: the image's ENTRYPOINT made local, in the Dockerfile's folder. */
export interface ProcessSpec {
  kind: 'process';
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** A container of a pushed image, the command appended to its ENTRYPOINT. */
export interface ContainerSpec {
  kind: 'container';
  image: string;
  command: string[];
  /** The container's environment (nothing of the endpoint's own is passed). */
  env: Record<string, string>;
  /** Limits, as the job or task asks: vCPUs and MiB. */
  cpus: number;
  memoryMiB: number;
}

export type LaunchSpec = ProcessSpec | ContainerSpec;

export interface Launcher {
  readonly kind: LaunchSpec['kind'];
  /** Start `spec` under `key` (a job or task id), stdout and stderr appended to `logPath`. */
  launch(key: string, spec: LaunchSpec, logPath: string, cb: LaunchCallbacks): void;
  /** Whether `key` is running. */
  has(key: string): boolean;
  /** SIGTERM, then SIGKILL after `graceMs` if it still runs. */
  stop(key: string, graceMs: number): void;
  /** Process ids of what still runs. */
  runningPids(): number[];
  /** Kill everything now (synchronous: also usable as the process exits). */
  killAll(): void;
  /** Kill everything and wait for it to end (at most `timeoutMs`). */
  close(timeoutMs: number): Promise<void>;
}
