/**
 * Reading a channel socket straight into the memory its bytes are for.
 *
 * By default Node reads a socket into a fresh 64 KiB buffer per read, and the frame parser then
 * copies the bytes into the payload they belong to: every payload byte is copied twice in user
 * space, and every read touches new memory (page faults and garbage). A {@link SocketReader}
 * asks its {@link ReadSink} before each read where the bytes should go: inside a payload, the
 * rest of that payload (the kernel copies into it, nothing else does); elsewhere (frame headers,
 * the handshake), a small staging buffer reused for every read.
 *
 * Node offers this as the `onread` option of `net.connect`, which the worker side uses. A socket
 * accepted by a server has no such option; the main side switches it to the same mechanism
 * after the fact, through the socket's `onread` fields and its handle's `useUserBuffer`. Those
 * are internal to Node, so they are looked up and checked first: where they are missing (another
 * Node version), the reader falls back to 'data' events, which is correct, only slower. The
 * environment variable RIOTS_CHANNEL_DIRECT_READS=0 forces the fallback on both sides.
 */
import type { Socket } from 'node:net';

/** Where received bytes go. */
export interface ReadSink {
  /**
   * The buffer the next read should fill (it may be filled partly), or undefined for the reader's
   * staging buffer.
   */
  target(): Buffer | undefined;
  /**
   * `n` bytes were read into the start of `buf`: the buffer `target()` returned (`direct`), or a
   * staging buffer that is reused as soon as this returns (the sink must copy what it keeps).
   */
  received(buf: Buffer, n: number, direct: boolean): void;
}

/** Staging buffer size: frame headers and handshakes are small, payloads are read directly. */
const STAGING_BYTES = 16 * 1024;

/** The `onread` option of `net.connect`, as Node types it. */
export interface OnReadOption {
  buffer: () => Uint8Array;
  callback: (n: number, buf: Uint8Array) => boolean;
}

export function directReadsEnabled(): boolean {
  return process.env.RIOTS_CHANNEL_DIRECT_READS !== '0';
}

/**
 * Dispatches a socket's reads to the current sink. Bytes read while no sink is set are kept
 * (copied) and handed to the next sink first.
 */
export class SocketReader {
  /** True when reads go into sink buffers; false when it listens to 'data' events. */
  readonly direct: boolean;
  private sink: ReadSink | undefined;
  private readonly staging: Buffer;
  /** The buffer the socket is reading into now (direct mode). */
  private current: Buffer;
  private currentIsTarget = false;
  private held: Buffer[] = [];

  private constructor(direct: boolean) {
    this.direct = direct;
    this.staging = direct ? Buffer.allocUnsafeSlow(STAGING_BYTES) : Buffer.alloc(0);
    this.current = this.staging;
  }

  /**
   * A reader for a socket about to be made with `net.connect({..., onread})`. Returns the reader
   * and the option to pass (undefined when direct reads are disabled: then call
   * {@link SocketReader.listen} on the socket once it exists).
   */
  static forConnect(): { reader: SocketReader; onread: OnReadOption | undefined } {
    if (!directReadsEnabled()) return { reader: new SocketReader(false), onread: undefined };
    const reader = new SocketReader(true);
    return { reader, onread: { buffer: () => reader.nextBuffer(), callback: (n) => reader.onRead(n) } };
  }

  /** Attach to a socket made without `onread` (a server's accepted socket, or the fallback). */
  static attach(socket: Socket): SocketReader {
    if (directReadsEnabled()) {
      const reader = new SocketReader(true);
      if (switchToUserBuffers(socket, reader)) return reader;
    }
    const reader = new SocketReader(false);
    reader.listen(socket);
    return reader;
  }

  /** In fallback mode: take the socket's 'data' events. */
  listen(socket: Socket): void {
    if (this.direct) return;
    socket.on('data', (chunk: Buffer) => this.deliver(chunk, chunk.length, false));
  }

  /** Route further reads (and any held bytes) to `sink`; undefined holds them. */
  setSink(sink: ReadSink | undefined): void {
    this.sink = sink;
    while (this.sink && this.held.length > 0) {
      const b = this.held.shift()!;
      this.sink.received(b, b.length, false);
    }
  }

  /** The buffer for the next read (direct mode). */
  nextBuffer(): Buffer {
    const t = this.sink && this.held.length === 0 ? this.sink.target() : undefined;
    if (t !== undefined && t.length > 0) {
      this.current = t;
      this.currentIsTarget = true;
    } else {
      this.current = this.staging;
      this.currentIsTarget = false;
    }
    return this.current;
  }

  /** A read of `n` bytes into the current buffer completed (direct mode). */
  onRead(n: number): boolean {
    this.deliver(this.current, n, this.currentIsTarget);
    return true;
  }

  private deliver(buf: Buffer, n: number, direct: boolean): void {
    if (this.sink && this.held.length === 0) this.sink.received(buf, n, direct);
    else if (this.sink) {
      this.setSink(this.sink);
      this.sink.received(buf, n, direct);
    } else {
      // cannot be a target: targets come from a sink
      this.held.push(Buffer.from(buf.subarray(0, n)));
    }
  }
}

interface OnReadFields {
  kBuffer: symbol;
  kBufferGen: symbol;
  kBufferCb: symbol;
}

let onReadFields: OnReadFields | null | undefined;

/** Node's own fields behind the `onread` option, found by name on a socket; null when absent. */
function findOnReadFields(socket: Socket): OnReadFields | null {
  if (onReadFields !== undefined) return onReadFields;
  const syms = Object.getOwnPropertySymbols(socket);
  const find = (d: string): symbol | undefined => syms.find((s) => s.description === d);
  const kBuffer = find('kBuffer');
  const kBufferGen = find('kBufferGen');
  const kBufferCb = find('kBufferCb');
  onReadFields = kBuffer && kBufferGen && kBufferCb ? { kBuffer, kBufferGen, kBufferCb } : null;
  return onReadFields;
}

/**
 * Give an accepted socket what `onread` gives a connecting one. Must run before the socket's
 * first read completes (synchronously in the server's 'connection' listener). Returns false,
 * changing nothing, when this Node does not have the expected internals.
 */
function switchToUserBuffers(socket: Socket, reader: SocketReader): boolean {
  const f = findOnReadFields(socket);
  const s = socket as unknown as Record<symbol, unknown> & { _handle?: { useUserBuffer?: (b: Uint8Array) => void } };
  const handle = s._handle;
  if (!f || !handle || typeof handle.useUserBuffer !== 'function') return false;
  // Not yet set by anyone else: the fields must hold what a socket made without onread holds.
  if (s[f.kBuffer] !== null || s[f.kBufferGen] !== null || s[f.kBufferCb] !== null) return false;
  const first = reader.nextBuffer();
  s[f.kBuffer] = first;
  s[f.kBufferGen] = () => reader.nextBuffer();
  s[f.kBufferCb] = (n: number) => reader.onRead(n);
  handle.useUserBuffer(first);
  return true;
}
