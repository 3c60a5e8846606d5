/**
 * The data channel between the main process and out-of-process compute workers: an
 * authenticated TCP server on the main side ({@link ChannelServer}) and the worker's client
 * ({@link ChannelClient}). See docs/channel.md for the protocol.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { ChannelError, ProtocolError, TimeoutError } from '../../errors.js';
import { riotsVersion } from '../../packageroot.js';
import { frameLimits, type FrameLimits, type PayloadAllocator } from './framing.js';
import { authenticate, checkKey, newChannelKey } from './handshake.js';
import { PeerConnection } from './peer.js';
import { PROTOCOL_VERSION, type HelloMessage, type MainToWorker, type WorkerToMain } from './protocol.js';
import { SocketReader } from './sockread.js';
import { sleep } from '../../timeout.js';

/** The main side's view of one worker: sends MainToWorker, receives WorkerToMain. */
export type WorkerConnection = PeerConnection<MainToWorker, WorkerToMain>;
/** The worker side's view of the main process. */
export type MainConnection = PeerConnection<WorkerToMain, MainToWorker>;

/** Where a worker connects, and the key it proves itself with. */
export interface ChannelAddress {
  host: string;
  port: number;
  key: Buffer;
}

export interface ChannelServerOptions {
  /** 32-byte key; a fresh random one by default (the normal case: one per run). */
  key?: Uint8Array;
  /** Address to bind. Default '0.0.0.0' (remote workers must reach it); '127.0.0.1' for local workers only. */
  host?: string;
  /** Ports to draw from at random, inclusive. Default [30000, 50000]. */
  portRange?: readonly [number, number];
  /** Drop a connection that has not authenticated and said hello within this time. Default 10. */
  handshakeTimeoutSeconds?: number;
  /** Connections still in the handshake at once; more are closed at once. Default 16. */
  maxPendingHandshakes?: number;
  /** Seconds between heartbeats. Default 5. */
  heartbeatSeconds?: number;
  /** A worker silent for longer is declared lost. Default 60. */
  peerTimeoutSeconds?: number;
  limits?: Partial<FrameLimits>;
  /** Memory for received payloads (see {@link FrameParser}); a fresh ArrayBuffer each by default. */
  allocPayload?: PayloadAllocator;
}

export const CHANNEL_DEFAULTS = {
  host: '0.0.0.0',
  portRange: [30000, 50000] as const,
  handshakeTimeoutSeconds: 10,
  maxPendingHandshakes: 16,
  heartbeatSeconds: 5,
  peerTimeoutSeconds: 60,
} as const;

/** Why a connection was refused before it became a worker connection. */
export interface RefusedConnection {
  remoteAddress: string;
  error: Error;
}

export interface ChannelServerEvents {
  /** An authenticated worker said hello. Attach 'message' / 'close' listeners now. */
  connection: [conn: WorkerConnection];
  /** A connection failed the handshake (wrong key, timeout, garbage) or was over the cap. */
  refused: [info: RefusedConnection];
}

export interface ChannelServerStats {
  authenticated: number;
  refused: number;
  /** Bytes handed to frame parsers, over all connections: only authenticated peers contribute. */
  parserBytes: number;
}

function positive(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ChannelError(`channel option ${name} must be a positive number, got ${String(v)}`);
  return v;
}

/** The main side of the channel: a TCP server that authenticates workers. */
export class ChannelServer extends EventEmitter<ChannelServerEvents> {
  readonly key: Buffer;
  readonly host: string;
  readonly port: number;
  readonly connections = new Set<WorkerConnection>();
  readonly stats: ChannelServerStats = { authenticated: 0, refused: 0, parserBytes: 0 };
  private readonly server: net.Server;
  private readonly opts: Required<Omit<ChannelServerOptions, 'key' | 'limits' | 'allocPayload'>> & { limits: FrameLimits; allocPayload?: PayloadAllocator };
  /** Sockets still in the handshake or waiting for hello. */
  private readonly pendingSockets = new Set<net.Socket>();

  private constructor(server: net.Server, key: Buffer, port: number, opts: ChannelServer['opts']) {
    super();
    this.server = server;
    this.key = key;
    this.host = opts.host;
    this.port = port;
    this.opts = opts;
    server.on('connection', (socket) => this.onSocket(socket));
  }

  /**
   * Start a server on a random free port of the range.
   * @throws {ChannelError} on bad options or when no port of the range can be bound.
   * @example
   * const server = await ChannelServer.create({ host: '127.0.0.1' });
   * server.on('connection', (conn) => conn.on('message', (m) => ...));
   * await writeChannelAddrFile(file, server.address());
   */
  static async create(options: ChannelServerOptions = {}): Promise<ChannelServer> {
    const opts = {
      host: options.host ?? CHANNEL_DEFAULTS.host,
      portRange: options.portRange ?? CHANNEL_DEFAULTS.portRange,
      handshakeTimeoutSeconds: positive('handshakeTimeoutSeconds', options.handshakeTimeoutSeconds ?? CHANNEL_DEFAULTS.handshakeTimeoutSeconds),
      maxPendingHandshakes: positive('maxPendingHandshakes', options.maxPendingHandshakes ?? CHANNEL_DEFAULTS.maxPendingHandshakes),
      heartbeatSeconds: positive('heartbeatSeconds', options.heartbeatSeconds ?? CHANNEL_DEFAULTS.heartbeatSeconds),
      peerTimeoutSeconds: positive('peerTimeoutSeconds', options.peerTimeoutSeconds ?? CHANNEL_DEFAULTS.peerTimeoutSeconds),
      limits: frameLimits(options.limits),
      ...(options.allocPayload ? { allocPayload: options.allocPayload } : {}),
    };
    const key = options.key === undefined ? newChannelKey() : checkKey(options.key);
    const [lo, hi] = opts.portRange;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) {
      throw new ChannelError(`channel portRange must be two integers 1 <= lo <= hi <= 65535, got [${lo}, ${hi}]`);
    }
    const span = hi - lo + 1;
    const attempts = Math.min(span, 64);
    const tried = new Set<number>();
    let lastErr: Error | undefined;
    while (tried.size < attempts) {
      const port = lo + Math.floor(Math.random() * span);
      if (tried.has(port)) continue;
      tried.add(port);
      const server = net.createServer({ pauseOnConnect: false });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: opts.host, port, exclusive: true }, () => {
            server.off('error', reject);
            resolve();
          });
        });
        return new ChannelServer(server, key, port, opts);
      } catch (err) {
        lastErr = err as Error;
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' && code !== 'EACCES') {
          throw new ChannelError(`channel server cannot listen on ${opts.host}:${port}: ${lastErr.message}`, { cause: err });
        }
      }
    }
    throw new ChannelError(`channel server found no free port in ${lo}..${hi} on ${opts.host} after ${tried.size} tries`, { cause: lastErr });
  }

  /**
   * The address workers should connect to. `advertiseHost` defaults to the bind address, or to
   * this machine's hostname when bound to all interfaces.
   */
  address(advertiseHost?: string): ChannelAddress {
    const wildcard = this.host === '0.0.0.0' || this.host === '::';
    return { host: advertiseHost ?? (wildcard ? os.hostname() : this.host), port: this.port, key: Buffer.from(this.key) };
  }

  /** Stop listening and close every connection. */
  async close(): Promise<void> {
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.pendingSockets) s.destroy();
    for (const c of this.connections) c.destroy();
    await closing;
  }

  private refuse(remoteAddress: string, error: Error): void {
    this.stats.refused++;
    this.emit('refused', { remoteAddress, error });
  }

  private onSocket(socket: net.Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.on('error', () => undefined);
    if (this.pendingSockets.size >= this.opts.maxPendingHandshakes) {
      socket.destroy();
      this.refuse(
        remote,
        new ChannelError(`channel server: more than ${this.opts.maxPendingHandshakes} connections waiting in the handshake; closed ${remote}`),
      );
      return;
    }
    this.pendingSockets.add(socket);
    // before the first read completes: the reader decides where every byte goes
    const reader = SocketReader.attach(socket);
    const deadline = Date.now() + this.opts.handshakeTimeoutSeconds * 1000;
    void this.admit(socket, reader, deadline).then(
      (conn) => {
        this.pendingSockets.delete(socket);
        if (conn.closed) {
          // Closed (e.g. an invalid frame right behind the hello) before it could be handed over.
          this.refuse(remote, conn.closeReason ?? new ChannelError(`channel server: ${remote} closed right after hello`));
          return;
        }
        this.stats.authenticated++;
        this.connections.add(conn);
        conn.on('close', () => this.connections.delete(conn));
        this.emit('connection', conn);
      },
      (err: Error) => {
        this.pendingSockets.delete(socket);
        socket.destroy();
        this.refuse(remote, err);
      },
    );
  }

  /** Handshake, then wait for the worker's hello; both within the handshake timeout. */
  private async admit(socket: net.Socket, reader: SocketReader, deadline: number): Promise<WorkerConnection> {
    const { leftover } = await authenticate(socket, { reader, key: this.key, role: 'server', timeoutMs: this.opts.handshakeTimeoutSeconds * 1000 });
    const conn: WorkerConnection = new PeerConnection(socket, {
      reader,
      heartbeatSeconds: this.opts.heartbeatSeconds,
      peerTimeoutSeconds: this.opts.peerTimeoutSeconds,
      limits: this.opts.limits,
      receive: 'toMain',
      leftover,
      onParserBytes: (n) => (this.stats.parserBytes += n),
      ...(this.opts.allocPayload ? { allocPayload: this.opts.allocPayload } : {}),
    });
    const hello = await new Promise<HelloMessage>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new TimeoutError(`channel server: ${conn.remoteAddress} authenticated but sent no hello within ${this.opts.handshakeTimeoutSeconds} s`)),
        Math.max(0, deadline - Date.now()),
      );
      const onMessage = (m: WorkerToMain): void => {
        if (m.type !== 'hello') return fail(new ProtocolError(`channel server: first message from ${conn.remoteAddress} is ${m.type}, expected hello`));
        clearTimeout(timer);
        conn.off('close', onClose);
        conn.off('message', onMessage);
        resolve(m);
      };
      const onClose = (err: Error | null): void => fail(err ?? new ChannelError(`channel server: ${conn.remoteAddress} closed before hello`));
      const fail = (err: Error): void => {
        clearTimeout(timer);
        conn.off('message', onMessage);
        conn.off('close', onClose);
        conn.destroy(err);
        reject(err);
      };
      conn.on('message', onMessage);
      conn.on('close', onClose);
    });
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      const err = new ProtocolError(
        `worker ${hello.workerId} speaks channel protocol ${hello.protocolVersion}, this main process ${PROTOCOL_VERSION}: install the same riots version on both`,
        { workerId: hello.workerId },
      );
      await conn.send({ type: 'shutdown', reason: err.message }).catch(() => undefined);
      await conn.close();
      throw err;
    }
    conn.hello = hello;
    return conn;
  }
}

export interface ChannelClientOptions extends ChannelAddress {
  workerId: number;
  /**
   * Give up when the main process cannot be reached (connect and handshake) within this many
   * seconds, and declare it lost when it is silent this long once connected. Default 60.
   */
  timeoutSeconds?: number;
  /** Seconds between heartbeats. Default 5. */
  heartbeatSeconds?: number;
  limits?: Partial<FrameLimits>;
  /** Sent in hello; defaults to this package's version. */
  riotsVersion?: string;
}

function connectOnce(host: string, port: number, timeoutMs: number): Promise<{ socket: net.Socket; reader: SocketReader }> {
  return new Promise((resolve, reject) => {
    const { reader, onread } = SocketReader.forConnect();
    const socket = net.connect({ host, port, ...(onread ? { onread } : {}) });
    reader.listen(socket);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TimeoutError(`channel: no TCP connection to ${host}:${port} within ${Math.round(timeoutMs) / 1000} s`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', reject);
      resolve({ socket, reader });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The worker side of the channel. */
export const ChannelClient = {
  /**
   * Connect to the main process, authenticate both ways, and say hello. Refused connections are
   * retried until `timeoutSeconds`; once connected there is no reconnection: when the
   * connection closes or the main process is lost, the worker should exit.
   * @throws {AuthError} the server does not hold the key. @throws {TimeoutError} main unreachable in time.
   * @throws {ChannelError} other connection failures.
   */
  async connect(options: ChannelClientOptions): Promise<MainConnection> {
    const key = checkKey(options.key);
    if (!Number.isInteger(options.workerId) || options.workerId < 0 || options.workerId > 2 ** 31 - 1) {
      throw new ChannelError(`channel: workerId must be an integer 0..2^31-1, got ${String(options.workerId)}`);
    }
    const timeoutSeconds = positive('timeoutSeconds', options.timeoutSeconds ?? 60);
    const heartbeatSeconds = positive('heartbeatSeconds', options.heartbeatSeconds ?? CHANNEL_DEFAULTS.heartbeatSeconds);
    const limits = frameLimits(options.limits);
    const deadline = Date.now() + timeoutSeconds * 1000;
    let link: { socket: net.Socket; reader: SocketReader };
    let delay = 50;
    for (;;) {
      try {
        link = await connectOnce(options.host, options.port, Math.max(1, deadline - Date.now()));
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const retry = code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH';
        if (!retry || Date.now() + delay >= deadline) {
          if (err instanceof TimeoutError) throw err;
          throw new ChannelError(
            `channel: cannot connect to the main process at ${options.host}:${options.port} within ${timeoutSeconds} s: ${(err as Error).message}`,
            { cause: err, workerId: options.workerId },
          );
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 1000);
      }
    }
    const { socket, reader } = link;
    socket.on('error', () => undefined);
    const { leftover } = await authenticate(socket, { reader, key, role: 'client', timeoutMs: Math.max(1, deadline - Date.now()) });
    const conn: MainConnection = new PeerConnection(socket, {
      reader,
      heartbeatSeconds,
      peerTimeoutSeconds: timeoutSeconds,
      limits,
      receive: 'toWorker',
      leftover,
    });
    await conn.send({
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      riotsVersion: options.riotsVersion ?? riotsVersion(),
      workerId: options.workerId,
      pid: process.pid,
      hostname: os.hostname(),
    });
    return conn;
  },
};
