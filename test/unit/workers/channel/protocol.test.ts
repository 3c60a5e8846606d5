import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { Block } from '../../../../src/block.js';
import { DATA_TYPES } from '../../../../src/dtypes.js';
import { ProtocolError } from '../../../../src/errors.js';
import { encodeFrame, FrameParser, DEFAULT_FRAME_LIMITS } from '../../../../src/workers/channel/framing.js';
import { checkMessage, decodeMessage } from '../../../../src/workers/channel/messagecheck.js';
import {
  blockByteLength,
  blockFromWire,
  blockToWire,
  encodeMessage,
  MAIN_TO_WORKER_TYPES,
  WORKER_TO_MAIN_TYPES,
  type Direction,
  type Message,
  type TaskSpec,
  type WireBlock,
} from '../../../../src/workers/channel/protocol.js';
import { frameBytes, parseInPieces, sampleMainToWorker, sampleWorkerToMain, wireBlock } from '../../../helpers/channel.js';

/** Every binary field of a message, in wire order, as plain bytes. */
function pixelBytes(m: Message): Buffer[] {
  if (m.type === 'result') return m.outputs.map((o) => Buffer.from(o.data));
  if (m.type === 'tasks') return m.tasks.flatMap((t) => t.inputs.map((i) => Buffer.from(i.data)));
  if (m.type === 'setup') return [Buffer.from(m.bundle), ...m.files.map((f) => Buffer.from(f.data))];
  return [];
}

/** The message with its binary fields replaced by their byte lengths, for structural comparison. */
function shape(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: v.byteLength };
  if (v instanceof Map || v instanceof Set) return [...v].map(shape);
  if (Array.isArray(v)) return v.map(shape);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  return v;
}

/** checkMessage of the encoded `m`, with its payloads' lengths (changed by `lengths`, if given). */
function check(m: Message, direction: Direction, lengths: (l: number[]) => number[] = (l) => l): void {
  const { header, payloads } = encodeMessage(m);
  checkMessage(header, lengths(payloads.map((p) => p.byteLength)), direction);
}

function roundTrip(msg: Message, direction: Direction, cuts: number[] = []): Message {
  const frames = parseInPieces(frameBytes(msg), cuts);
  assert.equal(frames.length, 1);
  return decodeMessage(frames[0]!.header, frames[0]!.payloads, direction);
}

describe('protocol round trip', () => {
  const cases: [Direction, Message[]][] = [
    ['toMain', sampleWorkerToMain()],
    ['toWorker', sampleMainToWorker()],
  ];
  for (const [direction, messages] of cases) {
    for (const msg of messages) {
      test(`${msg.type} ${direction}: fields equal, payloads equal byte for byte`, () => {
        for (const cuts of [[], [1, 7, 16, 17, 40, 41, 200, 1000, 5000], Array.from({ length: 50 }, () => Math.floor(Math.random() * 30000))]) {
          const back = roundTrip(msg, direction, cuts);
          assert.deepEqual(shape(back), shape(msg));
          const a = pixelBytes(msg);
          const b = pixelBytes(back);
          assert.equal(b.length, a.length);
          a.forEach((x, i) => assert.ok(x.equals(b[i]!), `payload ${i} differs`));
          if (msg.type === 'finished' || msg.type === 'setup') {
            assert.ok(isDeepStrictEqual((back as typeof msg).otherArgs, msg.otherArgs), 'otherArgs survive structured clone');
          }
        }
      });
    }
  }

  test('every message type is exercised in its direction and refused in the other', () => {
    const seen = new Set([...sampleWorkerToMain(), ...sampleMainToWorker()].map((m) => m.type));
    for (const t of [...WORKER_TO_MAIN_TYPES, ...MAIN_TO_WORKER_TYPES]) assert.ok(seen.has(t as Message['type']), t);
    for (const m of sampleWorkerToMain()) if (m.type !== 'heartbeat') assert.throws(() => check(m, 'toWorker'), ProtocolError);
    for (const m of sampleMainToWorker()) if (m.type !== 'heartbeat') assert.throws(() => check(m, 'toMain'), ProtocolError);
  });

  test('setup: a shipped file whose path leaves the module folder, or a missing payload, is refused', () => {
    const setup = sampleMainToWorker().find((m) => m.type === 'setup')!;
    for (const bad of ['../up.json', '/etc/passwd', 'a/../../b', '']) {
      assert.throws(() => check({ ...setup, files: [{ path: bad, data: new Uint8Array(1) }] }, 'toWorker'), /setup\.files\[0\]/, bad);
    }
    assert.throws(() => check(setup, 'toWorker', (lengths) => lengths.slice(0, -1)), ProtocolError, 'a payload missing');
  });

  test('several frames in one chunk, each payload owning an aligned ArrayBuffer', () => {
    const msgs = [...sampleMainToWorker()];
    const all = Buffer.concat(msgs.map(frameBytes));
    const frames = [...new FrameParser().push(all)];
    assert.equal(frames.length, msgs.length);
    for (const f of frames) {
      for (const p of f.payloads) {
        assert.equal(p.byteOffset, 0);
        assert.equal(p.byteLength, p.buffer.byteLength);
      }
    }
  });

  test('blockToWire / blockFromWire keep values and do not copy on receipt', () => {
    const b = Block.create('Float32', 2, 3, 4);
    b.data.forEach((_, i) => (b.data[i] = i * 0.5 - 3));
    const msg: Message = { type: 'result', taskId: 1, blockIndex: 0, attempt: 0, outputs: [blockToWire('out', null, b)], timings: {} };
    const back = roundTrip(msg, 'toMain');
    assert.equal(back.type, 'result');
    if (back.type !== 'result') return;
    const rb = blockFromWire(back.outputs[0]!);
    assert.equal(rb.dtype, 'Float32');
    assert.deepEqual([rb.bands, rb.rows, rb.cols], [2, 3, 4]);
    assert.deepEqual([...rb.data], [...b.data]);
    assert.equal(rb.data.buffer, back.outputs[0]!.data.buffer, 'the Block views the received payload');
  });
});

describe('protocol round trip (property)', () => {
  const wire: fc.Arbitrary<WireBlock> = fc
    .record({
      name: fc.string({ maxLength: 20 }),
      listIndex: fc.option(fc.nat(1000), { nil: null }),
      dtype: fc.constantFrom(...DATA_TYPES),
      bands: fc.integer({ min: 1, max: 3 }),
      rows: fc.nat(9),
      cols: fc.nat(9),
    })
    .chain((h) => {
      const n = blockByteLength(h.dtype, h.bands, h.rows, h.cols);
      return fc.uint8Array({ minLength: n, maxLength: n }).map((data) => ({ ...h, data }));
    });
  const task: fc.Arbitrary<TaskSpec> = fc.record({
    taskId: fc.nat(),
    attempt: fc.nat(10),
    block: fc.record({ index: fc.nat(), xoff: fc.nat(1e6), yoff: fc.nat(1e6), xsize: fc.nat(5000), ysize: fc.nat(5000) }),
    overlap: fc.nat(64),
    inputs: fc.array(wire, { maxLength: 4 }),
  });

  test('random tasks and results cross unchanged, in random pieces', () => {
    const msg: fc.Arbitrary<[Direction, Message]> = fc.oneof(
      fc.array(task, { minLength: 1, maxLength: 4 }).map((tasks): [Direction, Message] => ['toWorker', { type: 'tasks', tasks }]),
      fc
        .record({ taskId: fc.nat(), blockIndex: fc.nat(), attempt: fc.nat(5), outputs: fc.array(wire, { maxLength: 5 }) })
        .map((r): [Direction, Message] => ['toMain', { type: 'result', ...r, timings: { userfunction: { seconds: 0.5, count: 1 } } }]),
    );
    fc.assert(
      fc.property(msg, fc.array(fc.nat(4000), { maxLength: 6 }), ([direction, m], cuts) => {
        const back = roundTrip(m, direction, cuts);
        assert.deepEqual(shape(back), shape(m));
        const a = pixelBytes(m);
        const b = pixelBytes(back);
        a.forEach((x, i) => assert.ok(x.equals(b[i]!)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('message validation', () => {
  const result = (): Message => ({ type: 'result', taskId: 1, blockIndex: 0, attempt: 0, outputs: [wireBlock('o', null, 'Int16', 2, 3, 5)], timings: {} });

  function rejects(header: unknown, lengths: number[], direction: Direction, pattern: RegExp): void {
    assert.throws(
      () => checkMessage(header, lengths, direction),
      (e: unknown) => e instanceof ProtocolError && pattern.test(e.message),
    );
  }

  test('payload length must equal dtype size × bands × rows × cols', () => {
    const { header } = encodeMessage(result());
    rejects(header, [59], 'toMain', /announces 60 bytes of pixels but its payload holds 59/);
    rejects(header, [61], 'toMain', /announces 60 bytes/);
    checkMessage(header, [60], 'toMain');
  });

  test('payload count must match', () => {
    const { header } = encodeMessage(result());
    rejects(header, [], 'toMain', /payload|outputs/);
    rejects(header, [60, 60], 'toMain', /carries 2 payloads, expected 1/);
    rejects({ type: 'ready' }, [1], 'toMain', /carries 1 payloads, expected 0/);
  });

  test('field types, ranges and literals are checked', () => {
    const h = encodeMessage(result()).header as Record<string, unknown>;
    const outputs = h.outputs as Record<string, unknown>[];
    rejects({ ...h, taskId: -1 }, [60], 'toMain', /taskId/);
    rejects({ ...h, taskId: 1.5 }, [60], 'toMain', /taskId/);
    rejects({ ...h, attempt: '0' }, [60], 'toMain', /attempt/);
    rejects({ ...h, outputs: [{ ...outputs[0], dtype: 'Float16' }] }, [60], 'toMain', /dtype/);
    rejects({ ...h, outputs: [{ ...outputs[0], bands: 0 }] }, [0], 'toMain', /bands/);
    rejects({ ...h, outputs: [{ ...outputs[0], listIndex: -2 }] }, [60], 'toMain', /listIndex/);
    rejects({ ...h, timings: { x: { seconds: -1, count: 1 } } }, [60], 'toMain', /seconds/);
    rejects({ ...h, timings: [] }, [60], 'toMain', /timings/);
    rejects({ type: 'log', level: 'loud', text: 'x' }, [], 'toMain', /level/);
    rejects({ type: 'nope' }, [], 'toMain', /not accepted/);
    rejects([], [], 'toMain', /header must be an object/);
    rejects({ type: 'taskError', taskId: 1, blockIndex: 1, attempt: 0, error: { name: 'E' } }, [], 'toMain', /message/);
    let deep: Record<string, unknown> = { name: 'E', message: 'm' };
    for (let i = 0; i < 20; i++) deep = { name: 'E', message: 'm', cause: deep };
    rejects({ type: 'workerError', error: deep }, [], 'toMain', /deeper/);
  });

  test('otherArgs that are not structured-clone data are refused', () => {
    const { header } = encodeMessage({ type: 'finished', otherArgs: 1, timings: {} });
    for (const bad of [[1, 2, 3], [0xff, 0x0f, 0x3f], []]) {
      assert.throws(() => decodeMessage(header, [new Uint8Array(bad)], 'toMain'), ProtocolError);
    }
    assert.throws(() => encodeMessage({ type: 'finished', otherArgs: { f: () => 1 }, timings: {} }), /cannot be sent to a worker/);
  });

  test('unknown fields are dropped; "__proto__" keys in a frame header are refused', () => {
    const back = decodeMessage({ type: 'cancel', taskId: 4, extra: 'x' }, [], 'toWorker');
    assert.deepEqual(back, { type: 'cancel', taskId: 4 });
    const json = Buffer.from('{"type":"cancel","taskId":1,"__proto__":{"polluted":true}}');
    const frame = encodeFrame({ type: 'cancel', taskId: 1 }, []);
    const fixed = Buffer.from(frame[0]!.subarray(0, 16));
    fixed.writeUInt32LE(json.length, 8);
    assert.throws(() => [...new FrameParser().push(Buffer.concat([fixed, json]))], /__proto__/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('the sender is told when a frame breaks the limits', () => {
    const big = { ...DEFAULT_FRAME_LIMITS, maxFrameBytes: 1000 };
    const { header, payloads } = encodeMessage(result());
    assert.throws(() => encodeFrame(header, [...payloads, new Uint8Array(2000)], big), /exceeds the limit of 1000/);
  });
});
