/**
 * Test helpers for the data channel: sample messages of every type with random pixel bytes,
 * a frame round trip through the real parser, and a raw TCP peer that runs the handshake by
 * hand (so tests can play a wrong-key client or a silent server).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { encodeFrame, FrameParser, type Frame } from '../../src/workers/channel/framing.js';
import { computeProof, decodeHello, encodeHello, HELLO_BYTES, NONCE_BYTES, PROOF_BYTES, type Role } from '../../src/workers/channel/handshake.js';
import {
  PROTOCOL_VERSION,
  blockByteLength,
  encodeMessage,
  type MainToWorker,
  type Message,
  type WireBlock,
  type WorkerToMain,
} from '../../src/workers/channel/protocol.js';
import type { DataType } from '../../src/dtypes.js';

export function wireBlock(name: string, listIndex: number | null, dtype: DataType, bands: number, rows: number, cols: number): WireBlock {
  return { name, listIndex, dtype, bands, rows, cols, data: new Uint8Array(randomBytes(blockByteLength(dtype, bands, rows, cols))) };
}

export function sampleWorkerToMain(): WorkerToMain[] {
  return [
    { type: 'hello', protocolVersion: PROTOCOL_VERSION, riotsVersion: '0.1.0', workerId: 3, pid: 4242, hostname: 'node-7' },
    { type: 'ready' },
    {
      type: 'result',
      taskId: 17,
      blockIndex: 5,
      attempt: 1,
      outputs: [wireBlock('out', null, 'Float32', 2, 16, 24), wireBlock('list', 0, 'Byte', 1, 16, 24), wireBlock('list', 1, 'Int16', 3, 16, 24)],
      timings: { userfunction: { seconds: 0.25, count: 1 }, reading: { seconds: 0.5, count: 2 } },
    },
    { type: 'result', taskId: 18, blockIndex: 6, attempt: 0, outputs: [], timings: {} },
    {
      type: 'taskError',
      taskId: 9,
      blockIndex: 2,
      attempt: 0,
      error: {
        name: 'UserFunctionError',
        code: 'USER_FUNCTION',
        message: 'boom',
        stack: 'UserFunctionError: boom\n    at f (bundle.js:1:1)',
        context: { block: { index: 2, xoff: 0, yoff: 256, xsize: 256, ysize: 100 }, workerId: 3 },
        cause: { name: 'RangeError', message: 'inner' },
      },
    },
    { type: 'workerError', error: { name: 'Error', message: 'bundle failed to load' } },
    {
      type: 'finished',
      otherArgs: { total: 12.5, counts: new Map([['a', 1]]), hist: new Float64Array([1, 2, 3]), when: new Date(0) },
      timings: { userfunction: { seconds: 3, count: 10 } },
    },
    { type: 'log', level: 'warn', text: 'low memory ✓' },
    { type: 'heartbeat', seq: 99 },
  ];
}

export function sampleMainToWorker(): MainToWorker[] {
  return [
    {
      type: 'setup',
      bundle: new Uint8Array(
        Buffer.from(
          'import { Block } from "riots-import-0123456789abcdef01234567:0";\nexport function f(info, inputs, outputs) { outputs.out = inputs.a; }\n',
          'utf8',
        ),
      ),
      bundleImports: { marker: 'riots-import-0123456789abcdef01234567', specs: ['riots-self:block'] },
      exportName: 'f',
      otherArgs: { scale: 2, names: ['x', 'y'], nested: { set: new Set([1, 2]) } },
      settings: { windowxsize: 256, drivername: 'GTiff', creationoptions: ['COMPRESS=DEFLATE'], nested: { a: null } },
      computeWorkersRead: true,
      inputFiles: [
        { name: 'a', listIndex: null, path: '/data/a.tif' },
        { name: 'b', listIndex: 0, path: '/vsis3/bucket/b.tif' },
      ],
      files: [
        { path: 'lut.json', data: new Uint8Array(Buffer.from('{"1": 10}')) },
        { path: 'data/empty.bin', data: new Uint8Array(0) },
      ],
    },
    {
      type: 'tasks',
      tasks: [
        {
          taskId: 1,
          attempt: 0,
          block: { index: 0, xoff: 0, yoff: 0, xsize: 32, ysize: 16 },
          overlap: 2,
          inputs: [wireBlock('a', null, 'Float64', 1, 20, 36), wireBlock('b', 0, 'UInt16', 2, 20, 36)],
        },
        {
          taskId: 2,
          attempt: 3,
          block: { index: 1, xoff: 32, yoff: 0, xsize: 32, ysize: 16 },
          overlap: 2,
          inputs: [wireBlock('a', null, 'Float64', 1, 20, 36), wireBlock('b', 0, 'UInt32', 1, 20, 36), wireBlock('c', null, 'Int32', 1, 20, 36)],
        },
      ],
    },
    { type: 'tasks', tasks: [{ taskId: 3, attempt: 0, block: { index: 2, xoff: 0, yoff: 16, xsize: 32, ysize: 16 }, overlap: 0, inputs: [] }] },
    { type: 'cancel', taskId: 2 },
    { type: 'shutdown', reason: null },
    { type: 'shutdown', reason: 'interrupted' },
    { type: 'heartbeat', seq: 0 },
  ];
}

/** Encode a message to the bytes of one frame. */
export function frameBytes(msg: Message): Buffer {
  const { header, payloads } = encodeMessage(msg);
  return Buffer.concat(encodeFrame(header, payloads));
}

/** Parse bytes split at the given cut points. */
export function parseInPieces(bytes: Buffer, cuts: number[], parser = new FrameParser()): Frame[] {
  const out: Frame[] = [];
  let prev = 0;
  for (const c of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    out.push(...parser.push(bytes.subarray(prev, c)));
    prev = c;
  }
  return out;
}

/** Read exactly n bytes from a socket (in paused mode). */
export function readExactly(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      have += c.length;
      if (have >= n) {
        socket.off('data', onData);
        socket.off('close', onClose);
        socket.pause();
        const all = Buffer.concat(chunks);
        if (all.length > n) socket.unshift(all.subarray(n));
        resolve(all.subarray(0, n));
      }
    };
    const onClose = (): void => reject(new Error(`socket closed after ${have} of ${n} bytes`));
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.resume();
  });
}

/** A raw TCP peer that runs the handshake by hand with any key. */
export async function rawHandshake(
  socket: net.Socket,
  role: Role,
  key: Buffer,
  extra: Buffer = Buffer.alloc(0),
): Promise<{ peerProof: Buffer; expectedPeerProof: Buffer }> {
  const nonce = randomBytes(NONCE_BYTES);
  socket.write(encodeHello(role, nonce));
  const peerHello = await readExactly(socket, HELLO_BYTES);
  const peerNonce = decodeHello(peerHello, role === 'client' ? 'server' : 'client');
  const [cn, sn] = role === 'client' ? [nonce, peerNonce] : [peerNonce, nonce];
  // Proof and any extra bytes in one write, as an eager peer would send them.
  socket.write(Buffer.concat([computeProof(key, role, cn, sn), extra]));
  const peerProof = await readExactly(socket, PROOF_BYTES).catch(() => Buffer.alloc(0));
  return { peerProof, expectedPeerProof: computeProof(key, role === 'client' ? 'server' : 'client', cn, sn) };
}

export function connectRaw(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolve on the first emission of an event. */
export function once<T extends unknown[]>(emitter: { once(event: string, fn: (...args: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: T) => resolve(args)));
}
