/**
 * Frames of the data channel: a small fixed header, a JSON header and raw binary payloads.
 *
 * Layout (all integers little-endian):
 *
 * ```
 * offset  size      field
 * 0       4         magic "RIOF"
 * 4       1         frame format version (FRAME_VERSION)
 * 5       1         frame type (FRAME_TYPE_MESSAGE)
 * 6       2         reserved, must be 0
 * 8       4         header length H (bytes of UTF-8 JSON)
 * 12      4         payload count N
 * 16      4 × N     payload lengths
 * 16+4N   H         JSON header
 * ...     Σ len     payloads, back to back, no padding
 * ```
 *
 * {@link FrameParser} is incremental and checks every announced size against its limits before
 * allocating anything. Each received payload lands in a Buffer that owns its whole ArrayBuffer
 * (byteOffset 0), so consumers may view it as any TypedArray or transfer it to a worker thread
 * without a further copy. Bytes fed with `push` are copied there; a reader that asks
 * {@link FrameParser.directTarget} first can have the socket read payload bytes straight into it
 * (sockread.ts).
 */
import { ProtocolError } from '../../errors.js';

export const FRAME_MAGIC = Buffer.from('RIOF', 'latin1');
export const FRAME_VERSION = 1;
/** The only frame type so far: one protocol message. */
export const FRAME_TYPE_MESSAGE = 1;
const FIXED_BYTES = 16;
/** Largest total frame the format can describe with 32-bit payload lengths. */
const FORMAT_MAX_PAYLOAD = 0xffffffff;

export interface FrameLimits {
  /** Whole frame (fixed header + lengths + JSON + payloads), bytes. */
  maxFrameBytes: number;
  /** JSON header, bytes. */
  maxHeaderBytes: number;
  /** Payloads in one frame. */
  maxPayloads: number;
}

export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = Object.freeze({
  maxFrameBytes: 512 * 1024 * 1024,
  maxHeaderBytes: 1024 * 1024,
  maxPayloads: 4096,
});

/** Fill in and check limits. @throws {ProtocolError} on a limit that is not a positive integer. */
export function frameLimits(partial: Partial<FrameLimits> = {}): FrameLimits {
  const l = { ...DEFAULT_FRAME_LIMITS, ...partial };
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new ProtocolError(`frame limit ${k} must be a positive integer, got ${String(v)}`);
  }
  if (l.maxFrameBytes > 4 * 1024 * 1024 * 1024) throw new ProtocolError(`frame limit maxFrameBytes ${l.maxFrameBytes} exceeds 4 GiB`);
  return l;
}

/** A parsed frame. */
export interface Frame {
  type: number;
  /** The parsed JSON header (plain data; not yet validated as a message). */
  header: unknown;
  /** Each payload owns its ArrayBuffer: `p.byteOffset === 0 && p.byteLength === p.buffer.byteLength`. */
  payloads: Buffer[];
}

/**
 * Encode a frame as a list of buffers to write in order (for `writev`). The payloads are not
 * copied: the caller must not modify them until the write completes.
 * @throws {ProtocolError} when the frame breaks `limits` (so that the sender learns it, not only the peer).
 */
export function encodeFrame(header: unknown, payloads: readonly Uint8Array[], limits: FrameLimits = DEFAULT_FRAME_LIMITS): Buffer[] {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  if (json.length > limits.maxHeaderBytes) throw new ProtocolError(`frame header of ${json.length} bytes exceeds the limit of ${limits.maxHeaderBytes}`);
  if (payloads.length > limits.maxPayloads) throw new ProtocolError(`frame with ${payloads.length} payloads exceeds the limit of ${limits.maxPayloads}`);
  const prefixLen = FIXED_BYTES + 4 * payloads.length;
  let total = prefixLen + json.length;
  const prefix = Buffer.allocUnsafe(prefixLen + json.length);
  FRAME_MAGIC.copy(prefix, 0);
  prefix.writeUInt8(FRAME_VERSION, 4);
  prefix.writeUInt8(FRAME_TYPE_MESSAGE, 5);
  prefix.writeUInt16LE(0, 6);
  prefix.writeUInt32LE(json.length, 8);
  prefix.writeUInt32LE(payloads.length, 12);
  const out: Buffer[] = [prefix];
  payloads.forEach((p, i) => {
    if (p.byteLength > FORMAT_MAX_PAYLOAD) throw new ProtocolError(`payload ${i} of ${p.byteLength} bytes is too large for a frame`);
    prefix.writeUInt32LE(p.byteLength, FIXED_BYTES + 4 * i);
    total += p.byteLength;
    if (p.byteLength > 0) out.push(Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  });
  if (total > limits.maxFrameBytes) throw new ProtocolError(`frame of ${total} bytes exceeds the limit of ${limits.maxFrameBytes}`);
  json.copy(prefix, prefixLen);
  return out;
}

/**
 * Memory for one received payload of `bytes` bytes (contents undefined): an ArrayBuffer of
 * exactly that length that nothing else uses (e.g. from a pool the consumer gives payloads back to).
 */
export type PayloadAllocator = (bytes: number) => ArrayBuffer;

/** Called once a frame's JSON header is parsed, before any payload byte is allocated. May throw. */
export type HeaderCheck = (header: unknown, payloadLengths: readonly number[]) => void;

type State = 'fixed' | 'lengths' | 'header' | 'payload';

const EMPTY = Buffer.alloc(0);

/** A Buffer over a whole allocated ArrayBuffer, checked to be of the asked length. */
function payloadBuffer(alloc: PayloadAllocator, len: number): Buffer {
  const ab = alloc(len);
  if (ab.byteLength !== len) throw new ProtocolError(`payload allocator returned ${ab.byteLength} bytes for a payload of ${len}`);
  return Buffer.from(ab);
}

/** JSON.parse that refuses keys which could alter prototypes when a consumer merges the object. */
function parseJsonHeader(buf: Buffer): unknown {
  return JSON.parse(buf.toString('utf8'), (key, value: unknown) => {
    if (key === '__proto__') throw new ProtocolError('frame header holds a "__proto__" key');
    return value;
  });
}

/**
 * Incremental frame parser: feed socket chunks to {@link FrameParser.push}, which yields each
 * complete frame. Any malformed or oversize input throws a {@link ProtocolError}; the parser is
 * then unusable (the connection must be dropped).
 */
export class FrameParser {
  readonly limits: FrameLimits;
  private readonly onHeader: HeaderCheck | undefined;
  private state: State = 'fixed';
  private failed: ProtocolError | undefined;
  // Small staging buffer for the fixed header, the lengths table and the JSON header.
  private stage: Buffer = Buffer.alloc(FIXED_BYTES);
  private staged = 0;
  private need = FIXED_BYTES;
  private headerLen = 0;
  private payloadCount = 0;
  private lengths: number[] = [];
  private header: unknown;
  private payloads: Buffer[] = [];
  private current: Buffer | undefined;
  private currentFilled = 0;
  private frameAllocated = 0;
  /** Total bytes pushed so far. */
  bytesIn = 0;
  /** Largest number of bytes allocated for any one frame (payloads + staging), for tests. */
  peakFrameBytes = 0;

  private readonly alloc: PayloadAllocator | undefined;

  constructor(limits: Partial<FrameLimits> = {}, onHeader?: HeaderCheck, alloc?: PayloadAllocator) {
    this.limits = frameLimits(limits);
    this.onHeader = onHeader;
    this.alloc = alloc;
  }

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.state === 'fixed' && this.staged === 0;
  }

  /** Feed bytes; yields every frame completed by them. Iterate the result to the end. */
  *push(chunk: Uint8Array): Generator<Frame, void, undefined> {
    if (this.failed) throw this.failed;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.bytesIn += buf.length;
    let pos = 0;
    try {
      for (;;) {
        if (this.state === 'payload') {
          if (this.allPayloadsDone()) {
            yield this.finishFrame();
            continue;
          }
          if (pos >= buf.length && this.lengths[this.payloads.length] !== 0) break;
          pos = this.fillPayload(buf, pos);
          continue;
        }
        if (pos >= buf.length) break;
        const take = Math.min(this.need - this.staged, buf.length - pos);
        buf.copy(this.stage, this.staged, pos, pos + take);
        this.staged += take;
        pos += take;
        if (this.staged < this.need) break;
        this.advance();
      }
    } catch (err) {
      throw this.fail(err);
    }
  }

  /**
   * Inside a payload: the unfilled rest of it, for the next read to fill directly (then call
   * {@link FrameParser.pushDirect}). Undefined elsewhere (feed those bytes with `push`). Allocates
   * the payload when its first byte is due, as `push` would.
   */
  directTarget(): Buffer | undefined {
    if (this.failed || this.state !== 'payload') return undefined;
    if (this.current === undefined) {
      if (this.payloads.length >= this.payloadCount || this.lengths[this.payloads.length] === 0) return undefined;
      try {
        this.startPayload();
      } catch (err) {
        this.fail(err);
        return undefined;
      }
    }
    return this.current!.subarray(this.currentFilled);
  }

  /**
   * `n` bytes were written into the buffer {@link FrameParser.directTarget} returned; yields every
   * frame they complete. Iterate the result to the end.
   */
  *pushDirect(n: number): Generator<Frame, void, undefined> {
    if (this.failed) throw this.failed;
    const cur = this.current;
    if (this.state !== 'payload' || cur === undefined || !Number.isInteger(n) || n <= 0 || n > cur.length - this.currentFilled) {
      throw this.fail(new ProtocolError(`pushDirect(${n}) does not match the payload being received`));
    }
    this.bytesIn += n;
    this.currentFilled += n;
    if (this.currentFilled === cur.length) {
      this.payloads.push(cur);
      this.current = undefined;
    }
    yield* this.push(EMPTY);
  }

  private fail(err: unknown): ProtocolError {
    this.failed = err instanceof ProtocolError ? err : new ProtocolError(`malformed frame: ${(err as Error).message}`, { cause: err });
    this.releaseFrame();
    return this.failed;
  }

  private allPayloadsDone(): boolean {
    return this.payloads.length === this.payloadCount && this.current === undefined;
  }

  /** A staged section is complete: check it and move to the next state. */
  private advance(): void {
    if (this.state === 'fixed') {
      const s = this.stage;
      if (!s.subarray(0, 4).equals(FRAME_MAGIC)) throw new ProtocolError('bad frame magic');
      if (s[4] !== FRAME_VERSION) throw new ProtocolError(`unsupported frame version ${s[4]}`);
      if (s[5] !== FRAME_TYPE_MESSAGE) throw new ProtocolError(`unknown frame type ${s[5]}`);
      if (s.readUInt16LE(6) !== 0) throw new ProtocolError('reserved frame bits set');
      this.headerLen = s.readUInt32LE(8);
      this.payloadCount = s.readUInt32LE(12);
      if (this.headerLen === 0 || this.headerLen > this.limits.maxHeaderBytes) {
        throw new ProtocolError(`frame header length ${this.headerLen} outside 1..${this.limits.maxHeaderBytes}`);
      }
      if (this.payloadCount > this.limits.maxPayloads) {
        throw new ProtocolError(`frame announces ${this.payloadCount} payloads, limit ${this.limits.maxPayloads}`);
      }
      const fixedAndLengths = FIXED_BYTES + 4 * this.payloadCount;
      if (fixedAndLengths + this.headerLen > this.limits.maxFrameBytes) {
        throw new ProtocolError(`frame exceeds the limit of ${this.limits.maxFrameBytes} bytes`);
      }
      this.beginStage(4 * this.payloadCount, 'lengths');
      if (this.payloadCount === 0) this.advance();
    } else if (this.state === 'lengths') {
      let total = FIXED_BYTES + 4 * this.payloadCount + this.headerLen;
      this.lengths = new Array<number>(this.payloadCount);
      for (let i = 0; i < this.payloadCount; i++) {
        const n = this.stage.readUInt32LE(4 * i);
        this.lengths[i] = n;
        total += n;
      }
      if (total > this.limits.maxFrameBytes) {
        throw new ProtocolError(`frame of ${total} bytes exceeds the limit of ${this.limits.maxFrameBytes}`);
      }
      this.beginStage(this.headerLen, 'header');
    } else if (this.state === 'header') {
      try {
        this.header = parseJsonHeader(this.stage.subarray(0, this.headerLen));
      } catch (err) {
        if (err instanceof ProtocolError) throw err;
        throw new ProtocolError('frame header is not valid JSON', { cause: err });
      }
      this.onHeader?.(this.header, this.lengths);
      this.state = 'payload';
      this.payloads = [];
      this.current = undefined;
      this.stage = Buffer.alloc(FIXED_BYTES);
      this.staged = 0;
    }
  }

  private beginStage(n: number, state: State): void {
    this.state = state;
    this.need = n;
    this.staged = 0;
    if (this.stage.length < n) {
      this.stage = Buffer.allocUnsafe(n);
      this.account(n);
    }
  }

  private account(n: number): void {
    this.frameAllocated += n;
    if (this.frameAllocated > this.peakFrameBytes) this.peakFrameBytes = this.frameAllocated;
  }

  /** Copy bytes of the current payload; allocates it only when its first byte arrives. */
  private fillPayload(buf: Buffer, pos: number): number {
    if (this.current === undefined) {
      this.startPayload();
      if (this.current!.length === 0) {
        this.payloads.push(this.current!);
        this.current = undefined;
        return pos;
      }
    }
    const current = this.current!;
    const take = Math.min(current.length - this.currentFilled, buf.length - pos);
    buf.copy(current, this.currentFilled, pos, pos + take);
    this.currentFilled += take;
    if (this.currentFilled === current.length) {
      this.payloads.push(current);
      this.current = undefined;
    }
    return pos + take;
  }

  /** Allocate the next payload as `current`. */
  private startPayload(): void {
    const len = this.lengths[this.payloads.length]!;
    this.current = this.alloc && len > 0 ? payloadBuffer(this.alloc, len) : Buffer.allocUnsafeSlow(len);
    this.account(len);
    this.currentFilled = 0;
  }

  private finishFrame(): Frame {
    const frame: Frame = { type: FRAME_TYPE_MESSAGE, header: this.header, payloads: this.payloads };
    this.releaseFrame();
    return frame;
  }

  private releaseFrame(): void {
    this.state = 'fixed';
    this.need = FIXED_BYTES;
    this.staged = 0;
    this.header = undefined;
    this.payloads = [];
    this.current = undefined;
    this.lengths = [];
    this.payloadCount = 0;
    this.frameAllocated = 0;
    if (this.stage.length > 64 * 1024) this.stage = Buffer.alloc(FIXED_BYTES);
  }
}
