/**
 * Direct reads (src/workers/channel/sockread.ts): the socket reads payload bytes straight into the
 * buffers the frame parser allocates for them, on the worker side (net.connect's onread) and on
 * the main side (an accepted socket switched to the same mechanism). The bytes must be the same
 * as through 'data' events, which RIOTS_CHANNEL_DIRECT_READS=0 forces.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ProtocolError } from '../../../../src/errors.js';
import { ChannelClient, ChannelServer, type WorkerConnection } from '../../../../src/workers/channel/channel.js';
import { FrameParser } from '../../../../src/workers/channel/framing.js';
import type { PeerConnection } from '../../../../src/workers/channel/peer.js';
import type { Message, WorkerToMain } from '../../../../src/workers/channel/protocol.js';
import { frameBytes, once, wireBlock } from '../../../helpers/channel.js';

const servers: ChannelServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

describe('frame parser: direct targets', () => {
  test('payload bytes written into directTarget() give the frames push() gives', () => {
    const msg: WorkerToMain = {
      type: 'result',
      taskId: 3,
      blockIndex: 3,
      attempt: 1,
      outputs: [wireBlock('a', null, 'Float32', 1, 64, 64), wireBlock('b', 0, 'Byte', 2, 10, 7)],
      timings: {},
    };
    const bytes = Buffer.concat([frameBytes(msg), frameBytes({ ...msg, taskId: 4 })]);
    const pushed = [...new FrameParser().push(bytes)];
    const p = new FrameParser();
    const frames = [];
    let pos = 0;
    let directBytes = 0;
    while (pos < bytes.length) {
      const t = p.directTarget();
      if (t) {
        // fill at most 1000 bytes at a time, as a socket read might
        const n = Math.min(t.length, 1000);
        bytes.copy(t, 0, pos, pos + n);
        frames.push(...p.pushDirect(n));
        pos += n;
        directBytes += n;
      } else {
        // the frame prefix, 7 bytes at a time
        frames.push(...p.push(bytes.subarray(pos, pos + 7)));
        pos += 7;
      }
    }
    assert.equal(frames.length, 2);
    assert.ok(p.idle);
    for (const [i, f] of frames.entries()) {
      assert.deepEqual(f.header, pushed[i]!.header);
      assert.equal(f.payloads.length, 2);
      f.payloads.forEach((b, j) => {
        assert.ok(b.equals(pushed[i]!.payloads[j]!), `frame ${i} payload ${j}`);
        assert.equal(b.byteOffset, 0);
        assert.equal(b.byteLength, b.buffer.byteLength, 'a payload owns its ArrayBuffer');
      });
    }
    const payloadBytes = 2 * (64 * 64 * 4 + 2 * 10 * 7);
    // the prefix is pushed 7 bytes at a time, so up to 6 bytes of a payload start go through push
    assert.ok(directBytes >= payloadBytes - 2 * 2 * 6, `${directBytes} of ${payloadBytes} payload bytes direct`);
  });

  test('no target outside a payload; pushDirect that does not match fails the parser', () => {
    const bytes = frameBytes({ type: 'result', taskId: 1, blockIndex: 1, attempt: 0, outputs: [wireBlock('a', null, 'Byte', 1, 4, 4)], timings: {} });
    const p = new FrameParser();
    assert.equal(p.directTarget(), undefined);
    assert.deepEqual([...p.push(bytes.subarray(0, 20))], []);
    assert.equal(p.directTarget(), undefined, 'still in the frame prefix');
    const payloadStart = bytes.length - 16;
    assert.deepEqual([...p.push(bytes.subarray(20, payloadStart))], []);
    const t = p.directTarget();
    assert.equal(t?.length, 16);
    assert.throws(() => [...p.pushDirect(17)], ProtocolError);
    assert.throws(() => [...p.push(bytes.subarray(payloadStart))], ProtocolError, 'a failed parser stays failed');
    assert.equal(p.directTarget(), undefined);
  });
});

/** The first `n` messages a connection receives; rejects if it closes first. */
function firstMessages<In extends Message>(peer: PeerConnection<Message, In>, n: number): Promise<In[]> {
  const got: In[] = [];
  return new Promise((resolve, reject) => {
    peer.on('message', (m) => {
      got.push(m);
      if (got.length === n) resolve(got);
    });
    peer.on('close', (err) => reject(err ?? new Error('closed')));
  });
}

async function roundTrip(): Promise<{ toWorkerDirect: number; toMainDirect: number; payloadBytes: number }> {
  const s = await ChannelServer.create({ host: '127.0.0.1' });
  servers.push(s);
  const accepted = once<[WorkerConnection]>(s, 'connection').then(([c]) => c);
  const client = await ChannelClient.connect({ ...s.address(), workerId: 2, timeoutSeconds: 10 });
  const conn = await accepted;
  const n = 12;
  // blocks of odd sizes, several per frame, so that payloads and headers fall anywhere in a read
  const inputs = Array.from({ length: n }, (_, i) => [wireBlock('a', null, 'Float32', 1, 256, 256 + i), wireBlock('b', 0, 'Int16', 3, 100, 77 + i)]);
  const outputs = Array.from({ length: n }, (_, i) => wireBlock('o', null, 'Float64', 2, 128, 131 + i));
  const payloadBytes = inputs.flat().reduce((t, b) => t + b.data.byteLength, 0);

  const tasksIn = firstMessages(client, n);
  for (let i = 0; i < n; i++) {
    const block = { index: i, xoff: 0, yoff: 0, xsize: 1, ysize: 1 };
    await conn.send({ type: 'tasks', tasks: [{ taskId: i, attempt: 0, block, overlap: 0, inputs: inputs[i]! }] });
  }
  (await tasksIn).forEach((m, i) => {
    assert.equal(m.type, 'tasks');
    if (m.type !== 'tasks') return;
    m.tasks[0]!.inputs.forEach((b, j) => assert.ok(Buffer.from(b.data).equals(Buffer.from(inputs[i]![j]!.data)), `task ${i} input ${j}`));
  });

  const resultsIn = firstMessages(conn, n);
  for (let i = 0; i < n; i++) await client.send({ type: 'result', taskId: i, blockIndex: i, attempt: 0, outputs: [outputs[i]!], timings: {} });
  (await resultsIn).forEach((m, i) => {
    assert.equal(m.type, 'result');
    if (m.type === 'result') assert.ok(Buffer.from(m.outputs[0]!.data).equals(Buffer.from(outputs[i]!.data)), `result ${i}`);
  });
  const r = {
    toWorkerDirect: client.bytesReceivedDirect,
    toMainDirect: conn.bytesReceivedDirect,
    payloadBytes,
    resultBytes: outputs.reduce((t, b) => t + b.data.byteLength, 0),
  };
  await client.close();
  return { ...r, toMainDirect: r.toMainDirect / r.resultBytes, toWorkerDirect: r.toWorkerDirect / payloadBytes };
}

describe('channel: direct reads', () => {
  test('both ends read most payload bytes straight into their buffers, byte for byte', { timeout: 60_000 }, async () => {
    const r = await roundTrip();
    assert.ok(r.toWorkerDirect > 0.9, `worker read ${(r.toWorkerDirect * 100).toFixed(1)} % of task payloads directly`);
    assert.ok(r.toMainDirect > 0.9, `main read ${(r.toMainDirect * 100).toFixed(1)} % of result payloads directly`);
  });

  test('RIOTS_CHANNEL_DIRECT_READS=0: the same bytes through data events', { timeout: 60_000 }, async () => {
    process.env.RIOTS_CHANNEL_DIRECT_READS = '0';
    try {
      const r = await roundTrip();
      assert.equal(r.toWorkerDirect, 0);
      assert.equal(r.toMainDirect, 0);
    } finally {
      delete process.env.RIOTS_CHANNEL_DIRECT_READS;
    }
  });
});
