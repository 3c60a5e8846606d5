/**
 * Mutual authentication of a channel connection, before any frame is parsed.
 *
 * Both sides know a 32-byte key that is never sent. Each side sends a fixed-size HELLO with a
 * fresh 32-byte random nonce, then a fixed-size PROOF:
 *
 * ```
 * HELLO (40 bytes): "RIOH" | version u8 | role u8 ('S' or 'C') | 0x0000 | nonce[32]
 * PROOF (32 bytes): HMAC-SHA256(key, label | clientNonce | serverNonce)
 *   label = "riots-channel-v1 server proof" or "riots-channel-v1 client proof"
 * ```
 *
 * The labels separate the two directions, so a proof cannot be reflected back; the fresh nonces
 * of both sides make every proof single-use. Proofs are compared with `timingSafeEqual`. Bytes
 * that follow the peer's PROOF are handed to the frame parser only after the proof checks out;
 * a peer with the wrong key is dropped with none of them read.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { AuthError, ChannelError, ProtocolError, TimeoutError } from '../../errors.js';
import type { SocketReader } from './sockread.js';

export const HANDSHAKE_MAGIC = Buffer.from('RIOH', 'latin1');
export const HANDSHAKE_VERSION = 1;
export const KEY_BYTES = 32;
export const NONCE_BYTES = 32;
export const HELLO_BYTES = 8 + NONCE_BYTES;
export const PROOF_BYTES = 32;
const LABEL: Record<Role, Buffer> = {
  server: Buffer.from('riots-channel-v1 server proof', 'latin1'),
  client: Buffer.from('riots-channel-v1 client proof', 'latin1'),
};
const ROLE_BYTE: Record<Role, number> = { server: 0x53, client: 0x43 };

export type Role = 'server' | 'client';

/** A fresh random channel key. */
export function newChannelKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** @throws {AuthError} when `key` is not 32 bytes. */
export function checkKey(key: Uint8Array): Buffer {
  if (!(key instanceof Uint8Array) || key.byteLength !== KEY_BYTES) {
    throw new AuthError(`channel key must be ${KEY_BYTES} bytes, got ${key instanceof Uint8Array ? key.byteLength : typeof key}`);
  }
  return Buffer.from(key);
}

export function encodeHello(role: Role, nonce: Buffer): Buffer {
  const b = Buffer.alloc(HELLO_BYTES);
  HANDSHAKE_MAGIC.copy(b, 0);
  b[4] = HANDSHAKE_VERSION;
  b[5] = ROLE_BYTE[role];
  nonce.copy(b, 8);
  return b;
}

/** The peer's nonce from its HELLO. @throws {ProtocolError} on a malformed HELLO or the wrong role. */
export function decodeHello(b: Buffer, expectRole: Role): Buffer {
  if (!b.subarray(0, 4).equals(HANDSHAKE_MAGIC)) throw new ProtocolError('channel handshake: the peer does not speak the riots channel protocol');
  if (b[4] !== HANDSHAKE_VERSION) throw new ProtocolError(`channel handshake: peer uses handshake version ${b[4]}, this side ${HANDSHAKE_VERSION}`);
  if (b[5] !== ROLE_BYTE[expectRole] || b[6] !== 0 || b[7] !== 0) throw new ProtocolError(`channel handshake: peer is not a riots channel ${expectRole}`);
  return Buffer.from(b.subarray(8, HELLO_BYTES));
}

/** The proof `role` sends for this pair of nonces. */
export function computeProof(key: Buffer, role: Role, clientNonce: Buffer, serverNonce: Buffer): Buffer {
  return createHmac('sha256', key).update(LABEL[role]).update(clientNonce).update(serverNonce).digest();
}

export interface HandshakeOptions {
  /** The socket's reader (sockread.ts): the handshake takes its bytes until it ends. */
  reader: SocketReader;
  key: Buffer;
  role: Role;
  /** Give up (and destroy the socket) after this many milliseconds. */
  timeoutMs: number;
}

export interface HandshakeResult {
  /** Bytes received after the peer's proof: the start of the first frame(s). */
  leftover: Buffer;
}

/**
 * Run the handshake on a connected socket. On success the socket is paused and its reader has no
 * sink, ready for the frame reader (which must consume `leftover` first). On failure the socket
 * is destroyed and the promise rejects.
 * @throws {AuthError} the peer's proof is wrong (it does not hold the key).
 * @throws {ProtocolError} the peer does not speak this handshake.
 * @throws {TimeoutError} the handshake did not complete in time.
 * @throws {ChannelError} the connection closed during the handshake.
 */
export function authenticate(socket: Socket, opts: HandshakeOptions): Promise<HandshakeResult> {
  const peerRole: Role = opts.role === 'server' ? 'client' : 'server';
  const myNonce = randomBytes(NONCE_BYTES);
  const need = HELLO_BYTES + PROOF_BYTES;
  const got = Buffer.alloc(need);
  let have = 0;
  let sentProof = false;
  let expected: Buffer | undefined;

  return new Promise<HandshakeResult>((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      opts.reader.setSink(undefined);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const failWith = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => {
      failWith(
        new TimeoutError(
          `channel handshake with ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} did not complete within ${opts.timeoutMs / 1000} s`,
        ),
      );
    }, opts.timeoutMs);
    const onClose = (): void => failWith(new ChannelError(`channel connection with ${socket.remoteAddress ?? '?'} closed during the handshake`));
    const onError = (err: Error): void => failWith(new ChannelError(`channel handshake failed: ${err.message}`, { cause: err }));
    // the reader's buffer is reused after each call: copy what is kept
    const onData = (buf: Buffer, n: number): void => {
      const chunk = buf.subarray(0, n);
      try {
        const take = Math.min(need - have, chunk.length);
        chunk.copy(got, have, 0, take);
        have += take;
        if (!sentProof && have >= HELLO_BYTES) {
          const peerNonce = decodeHello(got.subarray(0, HELLO_BYTES), peerRole);
          const [clientNonce, serverNonce] = opts.role === 'client' ? [myNonce, peerNonce] : [peerNonce, myNonce];
          socket.write(computeProof(opts.key, opts.role, clientNonce, serverNonce));
          expected = computeProof(opts.key, peerRole, clientNonce, serverNonce);
          sentProof = true;
        }
        if (have < need) return;
        if (!timingSafeEqual(got.subarray(HELLO_BYTES, need), expected!)) {
          throw new AuthError(`channel authentication failed: the peer at ${socket.remoteAddress ?? '?'} does not hold this run's key`);
        }
        socket.pause();
        cleanup();
        resolve({ leftover: Buffer.from(chunk.subarray(take)) });
      } catch (err) {
        failWith(err as Error);
      }
    };
    opts.reader.setSink({ target: () => undefined, received: onData });
    socket.on('close', onClose);
    socket.on('error', onError);
    socket.write(encodeHello(opts.role, myNonce));
  });
}
