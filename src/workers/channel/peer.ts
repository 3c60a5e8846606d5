/**
 * PeerConnection: one authenticated channel connection, seen from either end. It frames and
 * validates messages, sends heartbeats, and declares the peer lost when nothing at all has been
 * received for `peerTimeoutSeconds`.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { ChannelError, ProtocolError, TimeoutError } from '../../errors.js';
import { encodeFrame, FrameParser, type FrameLimits, type PayloadAllocator } from './framing.js';
import { checkMessage, type MessageBuilder } from './messagecheck.js';
import { encodeMessage, type Direction, type HelloMessage, type Message } from './protocol.js';
import type { SocketReader } from './sockread.js';

export interface PeerOptions {
  /** Seconds between heartbeats sent to the peer. */
  heartbeatSeconds: number;
  /** Seconds without any byte from the peer after which it is declared lost. */
  peerTimeoutSeconds: number;
  limits: FrameLimits;
  /** The direction of the messages this end receives. */
  receive: Direction;
  /** Bytes received before the frame reader started (from the handshake). */
  leftover: Buffer;
  /** Counts bytes given to the frame parser (for tests and stats). */
  onParserBytes?: (n: number) => void;
  /** Memory for received payloads (see {@link FrameParser}). */
  allocPayload?: PayloadAllocator;
  /** The socket's reader: the connection takes its bytes, reading payloads in place when it can. */
  reader: SocketReader;
}

export interface PeerEvents<In extends Message> {
  /** A validated message (heartbeats are consumed by the connection itself). */
  message: [msg: In];
  /** The peer was silent longer than the timeout; 'close' follows. */
  lost: [err: TimeoutError];
  /** The connection is closed; `err` is null for an orderly close. */
  close: [err: Error | null];
}

/**
 * One end of an authenticated connection. `Out` is what this end sends, `In` what it receives.
 *
 * Messages received while nobody listens to 'message' (and no {@link messages} iterator runs)
 * are kept until a listener attaches, so none is lost between connection and setup.
 * Received payloads own their ArrayBuffers; the caller may keep or transfer them.
 */
export class PeerConnection<Out extends Message, In extends Message> extends EventEmitter<PeerEvents<In>> {
  /** The worker's hello (main side only; set before the server emits 'connection'). */
  hello: HelloMessage | undefined;
  /** Why the connection closed, once closed (null for an orderly close). */
  closeReason: Error | null | undefined;
  readonly remoteAddress: string;
  bytesReceived = 0;
  /** Of bytesReceived, those the socket read straight into payload buffers (sockread.ts). */
  bytesReceivedDirect = 0;
  framesReceived = 0;
  private readonly socket: Socket;
  private readonly parser: FrameParser;
  private readonly opts: PeerOptions;
  private build: MessageBuilder | undefined;
  private readonly pending: In[] = [];
  private lastReceived = Date.now();
  private seq = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  constructor(socket: Socket, opts: PeerOptions) {
    super();
    this.socket = socket;
    this.opts = opts;
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.parser = new FrameParser(
      opts.limits,
      (header, lengths) => {
        this.build = checkMessage(header, lengths, opts.receive);
      },
      opts.allocPayload,
    );
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    socket.setNoDelay(true);
    socket.on('error', (err) => this.finish(new ChannelError(`channel connection with ${this.remoteAddress}: ${err.message}`, { cause: err })));
    socket.on('close', () => this.finish(this.closeReason ?? null));
    socket.on('end', () =>
      this.finish(
        this.parser.idle ? null : new ProtocolError(`channel peer ${this.describe()} closed the connection in the middle of a frame`, this.context()),
      ),
    );
    (this as unknown as EventEmitter).on('newListener', (event: string | symbol) => {
      if (event === 'message') process.nextTick(() => this.flushPending());
    });
    const tick = Math.max(10, Math.min(opts.heartbeatSeconds * 1000, (opts.peerTimeoutSeconds * 1000) / 4));
    let sinceBeat = 0;
    let lastTick = Date.now();
    this.timer = setInterval(() => {
      const now = Date.now();
      // A tick far behind schedule means this process stalled, not the peer: its bytes may be
      // waiting unread (timers run before I/O). Give the peer a fresh period instead.
      if (now - lastTick > Math.max(2 * tick, 1000)) this.lastReceived = now;
      lastTick = now;
      if (now - this.lastReceived > opts.peerTimeoutSeconds * 1000) {
        const err = new TimeoutError(`channel peer ${this.describe()} sent nothing for more than ${opts.peerTimeoutSeconds} s: declared lost`, this.context());
        this.emit('lost', err);
        this.destroy(err);
        return;
      }
      sinceBeat += tick;
      // Heartbeats only matter when the link is idle: bytes already queued tell the peer we live.
      if (sinceBeat >= opts.heartbeatSeconds * 1000 && socket.writableLength === 0) {
        sinceBeat = 0;
        this.send({ type: 'heartbeat', seq: this.seq++ } as Out).catch(() => undefined);
      }
    }, tick);
    this.timer.unref();
    if (opts.leftover.length > 0) this.onData(opts.leftover);
    opts.reader.setSink({
      target: () => (this.closed ? undefined : this.parser.directTarget()),
      received: (buf, n, direct) => (direct ? this.onData(undefined, n) : this.onData(buf.subarray(0, n))),
    });
    socket.resume();
  }

  /** The worker id from its hello, when known. */
  get remoteWorkerId(): number | undefined {
    return this.hello?.workerId;
  }

  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  /**
   * Send a message. Resolves when the socket can take more (honouring backpressure), which may
   * be before the bytes leave. Payload buffers are written without copying: do not modify them
   * after calling send.
   * @throws {ChannelError} when the connection is closed; {@link ProtocolError} when the message breaks the frame limits.
   */
  send(msg: Out): Promise<void> {
    if (this.closed || this.socket.destroyed) {
      return Promise.reject(
        new ChannelError(`cannot send ${msg.type}: channel connection with ${this.describe()} is closed`, {
          ...this.context(),
          cause: this.closeReason ?? undefined,
        }),
      );
    }
    let bufs: Buffer[];
    try {
      const { header, payloads } = encodeMessage(msg);
      bufs = encodeFrame(header, payloads, this.opts.limits);
    } catch (err) {
      return Promise.reject(err);
    }
    this.socket.cork();
    let ok = true;
    for (const b of bufs) ok = this.socket.write(b);
    this.socket.uncork();
    if (ok) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        this.off('close', onClose);
        resolve();
      };
      const onClose = (err: Error | null): void => {
        this.socket.off('drain', onDrain);
        reject(new ChannelError(`channel connection with ${this.describe()} closed while sending ${msg.type}`, { ...this.context(), cause: err ?? undefined }));
      };
      this.socket.once('drain', onDrain);
      this.once('close', onClose);
    });
  }

  /** Iterate received messages until the connection closes. */
  async *messages(): AsyncGenerator<In, void, undefined> {
    const queue: In[] = [];
    let wake: (() => void) | undefined;
    const onMessage = (m: In): void => {
      queue.push(m);
      wake?.();
    };
    const onClose = (): void => wake?.();
    queue.push(...this.pending.splice(0));
    this.on('message', onMessage);
    this.on('close', onClose);
    try {
      for (;;) {
        if (queue.length > 0) {
          yield queue.shift()!;
          continue;
        }
        if (this.closed) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.off('message', onMessage);
      this.off('close', onClose);
    }
  }

  /** Orderly close: flush what was sent, end the connection, wait until it is closed. */
  async close(): Promise<void> {
    if (!this.socket.destroyed) this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), 5000);
    await this.closedPromise;
    clearTimeout(t);
  }

  /** Close now; `err` is reported to 'close' listeners. */
  destroy(err?: Error): void {
    this.finish(err ?? null);
    this.socket.destroy();
  }

  /** Resolves once closed. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  /**
   * Bytes received: `chunk` (copied by the parser, may be reused afterwards), or, when undefined,
   * `direct` bytes read straight into the parser's {@link FrameParser.directTarget}.
   */
  private onData(chunk: Buffer | undefined, direct = 0): void {
    if (this.closed) return;
    const n = chunk ? chunk.length : direct;
    this.lastReceived = Date.now();
    this.bytesReceived += n;
    if (!chunk) this.bytesReceivedDirect += n;
    this.opts.onParserBytes?.(n);
    // (generators run on the first next(): a malformed input throws inside the try below)
    const frames = chunk ? this.parser.push(chunk) : this.parser.pushDirect(n);
    for (;;) {
      let msg: In;
      try {
        const next = frames.next();
        if (next.done) return;
        const build = this.build!;
        this.build = undefined;
        msg = build(next.value.payloads) as In;
      } catch (err) {
        const e = err instanceof ProtocolError ? err : new ProtocolError(`channel peer ${this.describe()}: ${(err as Error).message}`, { cause: err });
        this.destroy(e);
        return;
      }
      this.framesReceived++;
      if (msg.type === 'heartbeat') continue;
      // Outside the try: an exception in a 'message' listener is the listener's, not the peer's.
      this.deliver(msg);
      if (this.closed) return;
    }
  }

  private deliver(msg: In): void {
    if (this.pending.length === 0 && this.listenerCount('message') > 0) this.emit('message', msg);
    else this.pending.push(msg);
  }

  private flushPending(): void {
    while (this.pending.length > 0 && this.listenerCount('message') > 0) this.emit('message', this.pending.shift()!);
  }

  private finish(err: Error | null): void {
    if (this.closed) return;
    this.closeReason = err;
    clearInterval(this.timer);
    if (err) this.socket.destroy();
    this.flushPending();
    this.emit('close', err);
    this.resolveClosed();
  }

  private describe(): string {
    return this.hello ? `worker ${this.hello.workerId} (${this.remoteAddress})` : this.remoteAddress;
  }

  private context(): { workerId?: number } {
    return this.hello ? { workerId: this.hello.workerId } : {};
  }
}
