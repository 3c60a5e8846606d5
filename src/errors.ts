/**
 * The one error tree of riots.
 *
 * Every error riots throws is a {@link RiotsError} with a literal `code` and typed context
 * (file, imageName, block, workerId, jobId). Errors serialise with {@link errorToJSON} /
 * {@link errorFromJSON} so that code, message, stack, context and cause survive a thread, a
 * process or a socket.
 */

/** Where in the working grid a block lies (core window, without overlap margins). */
export interface BlockCoords {
  /** Block index in row-major walking order, from 0. */
  index: number;
  /** Pixel column of the block's top-left corner on the working grid. */
  xoff: number;
  /** Pixel row of the block's top-left corner on the working grid. */
  yoff: number;
  xsize: number;
  ysize: number;
}

export interface ErrorContext {
  file?: string;
  imageName?: string;
  block?: BlockCoords;
  workerId?: number;
  jobId?: string;
}

export type ErrorCode =
  | 'RIOTS_ERROR'
  | 'INPUT_MISSING'
  | 'INPUT_NOT_RASTER'
  | 'INPUT_ERROR'
  | 'GRID_MISMATCH'
  | 'GRID_ERROR'
  | 'REFERENCE_ERROR'
  | 'OUTPUT_DIR'
  | 'OUTPUT_BLOCK'
  | 'OUTPUT_ERROR'
  | 'CONTROLS'
  | 'USER_FUNCTION'
  | 'WORKER'
  | 'WORKER_LOST'
  | 'TIMEOUT'
  | 'CHANNEL'
  | 'AUTH'
  | 'PROTOCOL'
  | 'AWS'
  | 'INTERRUPTED'
  | 'GDAL'
  | 'SCHEDULER_COMMAND'
  | 'USAGE'
  | 'RAT';

export interface RiotsErrorOptions extends ErrorContext {
  cause?: unknown;
}

export class RiotsError extends Error {
  readonly code: ErrorCode = 'RIOTS_ERROR';
  // declared, not initialised: a context field exists only when given, so an uncaught error does
  // not print `block: undefined, workerId: undefined, …`
  declare readonly file?: string;
  declare readonly imageName?: string;
  declare readonly block?: BlockCoords;
  declare readonly workerId?: number;
  declare readonly jobId?: string;

  constructor(message: string, options: RiotsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options.file !== undefined) this.file = options.file;
    if (options.imageName !== undefined) this.imageName = options.imageName;
    if (options.block !== undefined) this.block = options.block;
    if (options.workerId !== undefined) this.workerId = options.workerId;
    if (options.jobId !== undefined) this.jobId = options.jobId;
  }
}

// ---- inputs ----
export class InputError extends RiotsError {
  override readonly code: ErrorCode = 'INPUT_ERROR';
}
/** An input file that does not exist. */
export class InputMissingError extends InputError {
  override readonly code = 'INPUT_MISSING' as const;
}
/** An input that exists but that GDAL cannot open as a raster (or vector, where allowed). */
export class InputNotRasterError extends InputError {
  override readonly code = 'INPUT_NOT_RASTER' as const;
}

// ---- grids ----
export class GridError extends RiotsError {
  override readonly code: ErrorCode = 'GRID_ERROR';
}
/** Inputs that do not share projection, pixel size or alignment, with no reference to resolve it. */
export class GridMismatchError extends GridError {
  override readonly code = 'GRID_MISMATCH' as const;
}
/** A reference image or pixgrid that cannot serve as the working grid. */
export class ReferenceImageError extends GridError {
  override readonly code = 'REFERENCE_ERROR' as const;
}

// ---- outputs ----
export class OutputError extends RiotsError {
  override readonly code: ErrorCode = 'OUTPUT_ERROR';
}
/** The folder of an output is missing or not writable. */
export class OutputDirError extends OutputError {
  override readonly code = 'OUTPUT_DIR' as const;
}
/** An output block of the wrong shape, type or kind. */
export class OutputBlockError extends OutputError {
  override readonly code = 'OUTPUT_BLOCK' as const;
}

// ---- controls ----
/** Controls or options that make no sense, found at construction. */
export class ControlsError extends RiotsError {
  override readonly code = 'CONTROLS' as const;
}

// ---- user function ----
/** The user function threw. `block` says where; `cause` is the original error. */
export class UserFunctionError extends RiotsError {
  override readonly code = 'USER_FUNCTION' as const;
}

// ---- workers ----
export class WorkerError extends RiotsError {
  override readonly code: ErrorCode = 'WORKER';
}
/** Workers lost beyond recovery: every worker gone, or a block that kept killing its worker. */
export class WorkerLostError extends WorkerError {
  override readonly code = 'WORKER_LOST' as const;
}
/** A cluster scheduler's command (sbatch, qstat, ...) failed: its own words, and its exit code (undefined: it did not run to an end). */
export class SchedulerCommandError extends WorkerError {
  override readonly code = 'SCHEDULER_COMMAND' as const;
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  constructor(message: string, options: RiotsErrorOptions & { exitCode?: number; stdout?: string; stderr?: string } = {}) {
    const { exitCode, stdout, stderr, ...rest } = options;
    super(message, rest);
    this.exitCode = exitCode;
    this.stdout = stdout ?? '';
    this.stderr = stderr ?? '';
  }
}
/** A wait that ran out. The message says what was waited for. */
export class TimeoutError extends RiotsError {
  override readonly code = 'TIMEOUT' as const;
}

// ---- channel ----
export class ChannelError extends RiotsError {
  override readonly code: ErrorCode = 'CHANNEL';
}
export class AuthError extends ChannelError {
  override readonly code = 'AUTH' as const;
}
export class ProtocolError extends ChannelError {
  override readonly code = 'PROTOCOL' as const;
}

// ---- cloud ----
export class AwsError extends RiotsError {
  override readonly code = 'AWS' as const;
}

/** The run was stopped by a signal (SIGINT, SIGTERM) or an AbortSignal. */
export class InterruptedError extends RiotsError {
  override readonly code = 'INTERRUPTED' as const;
}

/** A wrong command line or command-line-like setting: the CLI prints the message and the command's help (exit 2). */
export class UsageError extends RiotsError {
  override readonly code = 'USAGE' as const;
}

/** A raster attribute table that cannot be read or written as asked: no table, no such column or band, a type that does not fit. */
export class RatError extends RiotsError {
  override readonly code = 'RAT' as const;
}

/** A GDAL call failed in a way not covered by a more specific error. */
export class GdalError extends RiotsError {
  override readonly code = 'GDAL' as const;
}

const classes: Record<string, new (message: string, options?: RiotsErrorOptions) => RiotsError> = {
  RiotsError,
  InputError,
  InputMissingError,
  InputNotRasterError,
  GridError,
  GridMismatchError,
  ReferenceImageError,
  OutputError,
  OutputDirError,
  OutputBlockError,
  ControlsError,
  UserFunctionError,
  WorkerError,
  WorkerLostError,
  SchedulerCommandError,
  TimeoutError,
  ChannelError,
  AuthError,
  ProtocolError,
  AwsError,
  InterruptedError,
  GdalError,
  UsageError,
  RatError,
};

/** The plain-data form of an error, safe for JSON and structured clone. */
export interface SerializedError {
  name: string;
  code?: string;
  message: string;
  stack?: string;
  context?: ErrorContext;
  cause?: SerializedError;
}

/** Turn any thrown value into plain data (depth-limited, no functions). */
export function errorToJSON(err: unknown, depth = 0): SerializedError {
  if (err instanceof Error) {
    const out: SerializedError = { name: err.name, message: err.message };
    if (err.stack !== undefined) out.stack = err.stack;
    if (err instanceof RiotsError) {
      out.code = err.code;
      const context: ErrorContext = {};
      if (err.file !== undefined) context.file = err.file;
      if (err.imageName !== undefined) context.imageName = err.imageName;
      if (err.block !== undefined) context.block = { ...err.block };
      if (err.workerId !== undefined) context.workerId = err.workerId;
      if (err.jobId !== undefined) context.jobId = err.jobId;
      out.context = context;
    } else if (typeof (err as { code?: unknown }).code === 'string') {
      out.code = (err as unknown as { code: string }).code;
    }
    if (err.cause !== undefined && depth < 8) out.cause = errorToJSON(err.cause, depth + 1);
    return out;
  }
  return { name: 'Error', message: typeof err === 'string' ? err : safeString(err) };
}

/** Rebuild an error from {@link errorToJSON}'s output, with its class where it is one of ours. */
export function errorFromJSON(data: SerializedError): Error {
  const cause = data.cause ? errorFromJSON(data.cause) : undefined;
  const Cls = classes[data.name];
  let err: Error;
  if (Cls) {
    err = new Cls(data.message, { ...(data.context ?? {}), cause });
  } else {
    err = new Error(data.message, cause === undefined ? undefined : { cause });
    err.name = data.name;
    if (data.code !== undefined) (err as Error & { code?: string }).code = data.code;
  }
  if (data.stack !== undefined) err.stack = data.stack;
  return err;
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return 'unprintable error value';
  }
}

/** Format block coordinates for messages: "block 3 (x 256..511, y 0..255)". */
export function describeBlock(b: BlockCoords): string {
  return `block ${b.index} (x ${b.xoff}..${b.xoff + b.xsize - 1}, y ${b.yoff}..${b.yoff + b.ysize - 1})`;
}
