/**
 * Fuzzing the frame parser and the message validator with random, mutated and truncated frames:
 * nothing but ProtocolError may come out, nothing may be allocated beyond the frame cap, and
 * memory stays bounded. A few hundred mutated frames also go over real authenticated
 * connections, which must end in a ProtocolError close (or a valid message) and leave the
 * server serving. Set FUZZ_SEED to replay a run.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ProtocolError } from '../../../../src/errors.js';
import { ChannelClient, ChannelServer } from '../../../../src/workers/channel/channel.js';
import { encodeFrame, FrameParser, type FrameLimits } from '../../../../src/workers/channel/framing.js';
import { checkMessage, type MessageBuilder } from '../../../../src/workers/channel/messagecheck.js';
import { PROTOCOL_VERSION, encodeMessage, type Direction, type Message } from '../../../../src/workers/channel/protocol.js';
import { connectRaw, frameBytes, rawHandshake, sampleMainToWorker, sampleWorkerToMain, wireBlock } from '../../../helpers/channel.js';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES = 120_000;
const LIMITS: FrameLimits = { maxFrameBytes: 256 * 1024, maxHeaderBytes: 16 * 1024, maxPayloads: 64 };

/** mulberry32: a small seeded PRNG, so that a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);
const int = (n: number): number => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => void unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
after(() => process.off('unhandledRejection', onUnhandled));

/** Small messages of every type (small blocks, so that a case is cheap). */
function corpus(): [Direction, Message][] {
  const small: [Direction, Message][] = [
    [
      'toMain',
      {
        type: 'result',
        taskId: 3,
        blockIndex: 3,
        attempt: 0,
        outputs: [wireBlock('o', null, 'Float32', 1, 4, 4), wireBlock('p', 2, 'Byte', 3, 2, 5)],
        timings: { userfunction: { seconds: 0.1, count: 1 } },
      },
    ],
    [
      'toWorker',
      {
        type: 'tasks',
        tasks: [
          { taskId: 1, attempt: 0, block: { index: 0, xoff: 0, yoff: 0, xsize: 4, ysize: 4 }, overlap: 1, inputs: [wireBlock('a', null, 'Int16', 2, 6, 6)] },
        ],
      },
    ],
  ];
  return [
    ...small,
    ...sampleWorkerToMain()
      .filter((m) => m.type !== 'result')
      .map((m): [Direction, Message] => ['toMain', m]),
    ...sampleMainToWorker()
      .filter((m) => m.type !== 'tasks')
      .map((m): [Direction, Message] => ['toWorker', m]),
  ];
}

const RANDOM_VALUES: unknown[] = [
  null,
  true,
  -1,
  0,
  1.5,
  2 ** 31,
  2 ** 53,
  -(2 ** 40),
  NaN,
  '',
  'x'.repeat(2000),
  'Float32',
  'Float16',
  [],
  [1, 2],
  {},
  { a: 1 },
  '__proto__',
];

type Path = (string | number)[];

/** Every node of a JSON tree, as paths from the root. */
function paths(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) paths(x, [...prefix, Array.isArray(v) ? Number(k) : k], out);
  }
  return out;
}

/** A copy of `v` with the node at `path` replaced by `f(node)` (removed when f returns REMOVE). */
const REMOVE = Symbol('remove');
function edit(v: unknown, path: Path, f: (x: unknown) => unknown): unknown {
  if (path.length === 0) return f(v);
  const [k, ...rest] = path;
  if (Array.isArray(v)) {
    const out = v.map((x, i) => (i === k ? edit(x, rest, f) : x));
    return out.filter((x) => x !== REMOVE);
  }
  const o = { ...(v as Record<string, unknown>) };
  const x = edit(o[k!], rest, f);
  if (x === REMOVE) delete o[k!];
  else o[k!] = x;
  return o;
}

/** Replace, remove or extend one node picked uniformly from the whole JSON tree. */
function mutateJson(v: unknown): unknown {
  const path = pick(paths(v));
  const r = rand();
  return edit(v, path, (x) => {
    if (path.length > 0 && r < 0.2) return REMOVE;
    if (r < 0.3 && typeof x === 'object' && x !== null) return Array.isArray(x) ? [...x, pick(RANDOM_VALUES)] : { ...x, extra: pick(RANDOM_VALUES) };
    if (r < 0.45) return null;
    return pick(RANDOM_VALUES);
  });
}

interface Case {
  bytes: Buffer;
  direction: Direction;
  /** The case is a valid frame of a valid message and must decode. */
  valid: boolean;
}

function makeCase(base: [Direction, Message, Buffer][]): Case {
  const [direction, msg, frame] = pick(base);
  const kind = [0, 1, 2, 3, 3, 3, 4, 5, 6, 7][int(10)]!;
  switch (kind) {
    case 0: {
      const b = Buffer.from(Array.from({ length: int(300) }, () => int(256)));
      if (rand() < 0.5) frame.copy(b, 0, 0, Math.min(b.length, 6 + int(10)));
      return { bytes: b, direction, valid: false };
    }
    case 1: {
      const b = Buffer.from(frame);
      for (let i = 1 + int(8); i > 0; i--) b[int(b.length)] = int(256);
      return { bytes: b, direction, valid: false };
    }
    case 2:
      return { bytes: frame.subarray(0, int(frame.length)), direction, valid: false };
    case 3: {
      const { header, payloads } = encodeMessage(msg);
      const bytes = Buffer.concat(encodeFrame(mutateJson(header), payloads, LIMITS));
      return { bytes, direction, valid: false };
    }
    case 4: {
      // Random 32-bit sizes in the fixed header or the lengths table: oversize announcements.
      const b = Buffer.from(frame);
      const count = b.readUInt32LE(12);
      const slots = [8, 12, ...Array.from({ length: count }, (_, i) => 16 + 4 * i)];
      const big = pick([
        0xffffffff,
        0x7fffffff,
        LIMITS.maxFrameBytes,
        LIMITS.maxFrameBytes + 1,
        LIMITS.maxHeaderBytes + 1,
        LIMITS.maxPayloads + 1,
        int(2 ** 32),
      ]);
      b.writeUInt32LE(big, pick(slots));
      return { bytes: b, direction, valid: false };
    }
    case 5: {
      const [, , other] = pick(base);
      const both = Buffer.concat([frame, other]);
      return { bytes: both.subarray(0, int(both.length + 1)), direction, valid: false };
    }
    case 6: {
      // Wrong direction.
      return { bytes: frame, direction: direction === 'toMain' ? 'toWorker' : 'toMain', valid: msg.type === 'heartbeat' };
    }
    default:
      return { bytes: frame, direction, valid: true };
  }
}

/**
 * Feed a case in random pieces; returns decoded messages. Throws only what the parser throws.
 * Half the cases are read as a socket reader does (sockread.ts): where the parser offers a
 * payload to fill directly, a random part of the bytes is written there and announced with
 * pushDirect; the rest goes through push.
 */
function runCase(c: Case): { messages: Message[]; parser: FrameParser } {
  let build: MessageBuilder | undefined;
  const parser = new FrameParser(LIMITS, (h, lengths) => (build = checkMessage(h, lengths, c.direction)));
  const messages: Message[] = [];
  const direct = rand() < 0.5;
  let pos = 0;
  while (pos < c.bytes.length) {
    const target = direct ? parser.directTarget() : undefined;
    if (target && rand() < 0.8) {
      const n = Math.min(target.length, c.bytes.length - pos, rand() < 0.5 ? target.length : 1 + int(target.length));
      c.bytes.copy(target, 0, pos, pos + n);
      for (const f of parser.pushDirect(n)) messages.push(build!(f.payloads));
      pos += n;
      continue;
    }
    const end = rand() < 0.5 ? c.bytes.length : pos + 1 + int(c.bytes.length - pos);
    for (const f of parser.push(c.bytes.subarray(pos, end))) messages.push(build!(f.payloads));
    pos = end;
  }
  return { messages, parser };
}

describe('frame parser and message validator under fuzzing', () => {
  test(`${CASES} random, mutated and truncated frames (seed ${SEED})`, () => {
    const base = corpus().map(([d, m]): [Direction, Message, Buffer] => {
      const { header, payloads } = encodeMessage(m);
      return [d, m, Buffer.concat(encodeFrame(header, payloads, LIMITS))];
    });
    const mem0 = process.memoryUsage();
    const outcome = { accepted: 0, rejected: 0, incomplete: 0 };
    let peak = 0;
    let maxRss = mem0.rss;
    for (let i = 0; i < CASES; i++) {
      const c = makeCase(base);
      try {
        const { messages, parser } = runCase(c);
        peak = Math.max(peak, parser.peakFrameBytes);
        if (messages.length > 0) outcome.accepted++;
        else outcome.incomplete++;
        // Whatever was accepted is a well-formed message that encodes again.
        for (const m of messages) encodeMessage(m);
        if (c.valid) assert.ok(messages.length === 1 && parser.idle, `case ${i}: a valid frame must decode`);
      } catch (err) {
        // The parser wraps unexpected exceptions (a validator bug, a failed allocation) as
        // "malformed frame: ..." so that production drops the connection; here they are bugs.
        if (!(err instanceof ProtocolError) || err.message.startsWith('malformed frame:')) {
          throw new Error(`case ${i} (seed ${SEED}) threw ${String(err)} instead of a ProtocolError`, { cause: err });
        }
        assert.ok(!c.valid, `case ${i}: a valid frame was refused: ${err.message}`);
        outcome.rejected++;
      }
      if (i % 10000 === 0) maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
    const mem1 = process.memoryUsage();
    assert.ok(peak <= LIMITS.maxFrameBytes, `a parser allocated ${peak} bytes for one frame, cap ${LIMITS.maxFrameBytes}`);
    assert.ok(outcome.rejected > CASES / 4 && outcome.accepted > CASES / 10 && outcome.incomplete > 0, JSON.stringify(outcome));
    assert.ok(maxRss - mem0.rss < 256 * 1024 * 1024, `rss grew by ${(maxRss - mem0.rss) / 2 ** 20} MiB`);
    assert.ok(mem1.arrayBuffers - mem0.arrayBuffers < 64 * 1024 * 1024, 'array buffers stay bounded');
    assert.deepEqual(unhandled, []);
  });

  test('oversize announcements are refused before anything is allocated', () => {
    const frame = frameBytes({ type: 'result', taskId: 0, blockIndex: 0, attempt: 0, outputs: [wireBlock('o', null, 'Byte', 1, 8, 8)], timings: {} });
    for (const [offset, value, pattern] of [
      [16, 0xffffffff, /exceeds the limit/],
      [8, 0xffffffff, /header length/],
      [12, 0xffffffff, /payloads, limit/],
    ] as const) {
      const b = Buffer.from(frame);
      b.writeUInt32LE(value, offset);
      const parser = new FrameParser(LIMITS);
      // Only the fixed part and the lengths table: the refusal must come from the announcement alone.
      assert.throws(() => [...parser.push(b.subarray(0, 20))], pattern);
      assert.ok(parser.peakFrameBytes <= 64, `allocated ${parser.peakFrameBytes} bytes before refusing`);
      assert.throws(() => [...parser.push(b)], ProtocolError, 'a failed parser stays failed');
    }
  });

  test('mutated frames over authenticated connections end in ProtocolError closes; the server keeps serving', async () => {
    const server = await ChannelServer.create({ host: '127.0.0.1', limits: LIMITS, maxPendingHandshakes: 64 });
    try {
      const base = corpus()
        .filter(([d, m]) => d === 'toMain' && m.type !== 'hello')
        .map(([d, m]): [Direction, Message, Buffer] => [d, m, frameBytes(m)]);
      const hello = frameBytes({ type: 'hello', protocolVersion: PROTOCOL_VERSION, riotsVersion: 'x', workerId: 1, pid: 1, hostname: 'h' });
      let protocolCloses = 0;
      let other = 0;
      server.on('refused', ({ error }) => {
        if (error instanceof ProtocolError) protocolCloses++;
        else other++;
      });
      server.on('connection', (conn) => {
        conn.on('message', () => undefined);
        conn.on('close', (err) => {
          if (err instanceof ProtocolError) protocolCloses++;
          else other++;
        });
      });
      const N = 300;
      for (let i = 0; i < N; i++) {
        const c = makeCase(base);
        const sock = await connectRaw(server.port);
        await rawHandshake(sock, 'client', server.key, Buffer.concat([hello, c.bytes]));
        sock.end();
        await new Promise<void>((r) => {
          sock.on('close', () => r());
          sock.resume();
        });
      }
      await new Promise((r) => setImmediate(r));
      assert.equal(server.stats.authenticated + server.stats.refused, N);
      assert.ok(protocolCloses > N / 4, `${protocolCloses} ProtocolError closes, ${other} others`);
      // Still serving.
      const client = await ChannelClient.connect({ ...server.address(), workerId: 2, timeoutSeconds: 5 });
      await client.close();
      assert.deepEqual(unhandled, []);
    } finally {
      await server.close();
    }
  });
});
