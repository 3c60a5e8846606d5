import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { AuthError, ChannelError, ProtocolError, TimeoutError } from '../../../../src/errors.js';
import { ChannelClient, ChannelServer, type RefusedConnection, type WorkerConnection } from '../../../../src/workers/channel/channel.js';
import { channelAddressFromArg, channelKeyEnv, readChannelAddrFile, writeChannelAddrFile, CHANNEL_KEY_ENV } from '../../../../src/workers/channel/address.js';
import { FrameParser } from '../../../../src/workers/channel/framing.js';
import { HELLO_BYTES } from '../../../../src/workers/channel/handshake.js';
import { decodeMessage } from '../../../../src/workers/channel/messagecheck.js';
import { PROTOCOL_VERSION, type Message, type WorkerToMain } from '../../../../src/workers/channel/protocol.js';
import { connectRaw, frameBytes, once, rawHandshake, readExactly, sampleMainToWorker, sampleWorkerToMain, wireBlock } from '../../../helpers/channel.js';

const here = path.join(REPO_ROOT, 'test');
const servers: ChannelServer[] = [];
const children: ChildProcess[] = [];
const tmpDirs: string[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of servers) await s.close();
  for (const d of tmpDirs) await fs.rm(d, { recursive: true, force: true });
});

async function server(opts: Parameters<typeof ChannelServer.create>[0] = {}): Promise<ChannelServer> {
  const s = await ChannelServer.create({ host: '127.0.0.1', ...opts });
  servers.push(s);
  return s;
}

function nextConnection(s: ChannelServer): Promise<WorkerConnection> {
  return once<[WorkerConnection]>(s, 'connection').then(([c]) => c);
}
function nextRefusal(s: ChannelServer): Promise<RefusedConnection> {
  return once<[RefusedConnection]>(s, 'refused').then(([r]) => r);
}
/** Resolves when the peer has closed the socket (reading and discarding whatever it sent). */
function socketClosed(s: net.Socket): Promise<void> {
  if (s.destroyed) return Promise.resolve();
  return new Promise((r) => {
    s.once('close', () => r());
    s.on('error', () => undefined);
    s.resume();
  });
}

function pixels(m: Message): Buffer[] {
  if (m.type === 'result') return m.outputs.map((o) => Buffer.from(o.data));
  if (m.type === 'tasks') return m.tasks.flatMap((t) => t.inputs.map((i) => Buffer.from(i.data)));
  if (m.type === 'setup') return [Buffer.from(m.bundle)];
  return [];
}

describe('channel: authenticated round trip', () => {
  test('every message crosses in its direction, pixel payloads byte for byte, several blocks per frame', async () => {
    const s = await server();
    const accepted = nextConnection(s);
    const client = await ChannelClient.connect({ ...s.address(), workerId: 7, timeoutSeconds: 5 });
    const conn = await accepted;
    assert.equal(conn.remoteWorkerId, 7);
    assert.equal(conn.hello?.pid, process.pid);
    assert.equal(conn.hello?.hostname, os.hostname());

    // main -> worker. The client attaches its iterator only after everything was sent: nothing is lost.
    const toWorker = sampleMainToWorker().filter((m) => m.type !== 'heartbeat');
    for (const m of toWorker) await conn.send(m);
    const got: Message[] = [];
    for await (const m of client.messages()) {
      got.push(m);
      if (got.length === toWorker.length) break;
    }
    // worker -> main
    const toMain = sampleWorkerToMain().filter((m) => m.type !== 'heartbeat' && m.type !== 'hello');
    const back: WorkerToMain[] = [];
    const allBack = new Promise<void>((resolve) =>
      conn.on('message', (m) => {
        back.push(m);
        if (back.length === toMain.length) resolve();
      }),
    );
    for (const m of toMain) await client.send(m);
    await allBack;

    for (const [sent, recv] of [
      [toWorker, got],
      [toMain, back],
    ] as [Message[], Message[]][]) {
      assert.deepEqual(
        recv.map((m) => m.type),
        sent.map((m) => m.type),
      );
      sent.forEach((m, i) => {
        const a = pixels(m);
        const b = pixels(recv[i]!);
        assert.equal(b.length, a.length);
        a.forEach((x, j) => assert.ok(x.equals(b[j]!), `${m.type}: payload ${j} differs`));
        if (m.type === 'setup' || m.type === 'finished') assert.ok(isDeepStrictEqual((recv[i] as typeof m).otherArgs, m.otherArgs));
      });
    }
    const tasks = got.find((m) => m.type === 'tasks');
    assert.ok(tasks && tasks.type === 'tasks' && tasks.tasks.length === 2 && tasks.tasks[1]!.inputs.length === 3);

    const closed = once<[Error | null]>(conn, 'close');
    await client.close();
    assert.equal((await closed)[0], null);
  });

  test('send honours backpressure and large frames arrive whole', async () => {
    const s = await server();
    const accepted = nextConnection(s);
    const client = await ChannelClient.connect({ ...s.address(), workerId: 1, timeoutSeconds: 5 });
    const conn = await accepted;
    const n = 40;
    const blocks = Array.from({ length: n }, (_, i) => wireBlock('out', null, 'Float32', 4, 256, 256 + i));
    let received = 0;
    const done = new Promise<void>((resolve, reject) =>
      conn.on('message', (m) => {
        if (m.type !== 'result') return reject(new Error(m.type));
        if (!Buffer.from(m.outputs[0]!.data).equals(Buffer.from(blocks[m.taskId]!.data))) reject(new Error(`block ${m.taskId} differs`));
        if (++received === n) resolve();
      }),
    );
    let waited = 0;
    for (let i = 0; i < n; i++) {
      const p = client.send({ type: 'result', taskId: i, blockIndex: i, attempt: 0, outputs: [blocks[i]!], timings: {} });
      let settled = false;
      void p.then(() => (settled = true));
      await null;
      await null;
      if (!settled) waited++;
      await p;
    }
    await done;
    assert.ok(waited > 0, 'some sends waited for the socket to drain');
    await client.close();
  });
});

describe('channel: authentication', () => {
  test('a client with the wrong key is refused by the server, and refuses the server itself', async () => {
    const s = await server();
    const refused = nextRefusal(s);
    await assert.rejects(ChannelClient.connect({ ...s.address(), key: randomBytes(32), workerId: 1, timeoutSeconds: 5 }), AuthError);
    const r = await refused;
    assert.ok(r.error instanceof AuthError, String(r.error));
    assert.equal(s.stats.authenticated, 0);
  });

  test('a wrong-key peer that sends frames right after its proof is dropped before any of them is read', async () => {
    const s = await server();
    let connections = 0;
    s.on('connection', () => connections++);
    const refused = nextRefusal(s);
    const sock = await connectRaw(s.port);
    // Proof and a valid hello frame plus 1 MB of pixels in the same write.
    const frames = Buffer.concat([
      frameBytes({ type: 'hello', protocolVersion: PROTOCOL_VERSION, riotsVersion: 'x', workerId: 1, pid: 1, hostname: 'h' }),
      frameBytes({ type: 'result', taskId: 0, blockIndex: 0, attempt: 0, outputs: [wireBlock('o', null, 'Float32', 1, 512, 512)], timings: {} }),
    ]);
    const { peerProof, expectedPeerProof } = await rawHandshake(sock, 'client', randomBytes(32), frames);
    const r = await refused;
    assert.ok(r.error instanceof AuthError);
    await socketClosed(sock);
    assert.equal(s.stats.parserBytes, 0, 'no byte after the proof reached a frame parser');
    assert.equal(connections, 0);
    assert.ok(!peerProof.equals(expectedPeerProof), 'the server did not prove the wrong key either');
  });

  test('the right key passes the same raw handshake (control for the test above)', async () => {
    const s = await server();
    const accepted = nextConnection(s);
    const sock = await connectRaw(s.port);
    const hello = frameBytes({ type: 'hello', protocolVersion: PROTOCOL_VERSION, riotsVersion: 'x', workerId: 5, pid: 1, hostname: 'h' });
    const { peerProof, expectedPeerProof } = await rawHandshake(sock, 'client', s.key, hello);
    assert.ok(peerProof.equals(expectedPeerProof));
    assert.equal((await accepted).remoteWorkerId, 5);
    assert.ok(s.stats.parserBytes >= hello.length);
    sock.destroy();
  });

  test('a server with the wrong key is refused by the client, which sends no frame to it', async () => {
    const wrongKey = randomBytes(32);
    const received: Buffer[] = [];
    const raw = net.createServer((sock) => {
      void rawHandshake(sock, 'server', wrongKey).then(
        () => {
          sock.on('data', (d: Buffer) => received.push(d));
          sock.resume();
        },
        () => undefined,
      );
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
    const port = (raw.address() as net.AddressInfo).port;
    try {
      await assert.rejects(ChannelClient.connect({ host: '127.0.0.1', port, key: randomBytes(32), workerId: 1, timeoutSeconds: 5 }), AuthError);
      // The client's proof was the last thing it sent (rawHandshake consumed it); nothing followed.
      await new Promise((r) => setImmediate(r));
      assert.equal(Buffer.concat(received).length, 0);
    } finally {
      await new Promise((r) => raw.close(r));
    }
  });

  test('garbage instead of a handshake is refused with a ProtocolError', async () => {
    const s = await server();
    const refused = nextRefusal(s);
    const sock = await connectRaw(s.port);
    sock.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n' + 'x'.repeat(HELLO_BYTES)));
    assert.ok((await refused).error instanceof ProtocolError);
    await socketClosed(sock);
  });

  test('a stalled handshake is dropped after the timeout', async () => {
    const s = await server({ handshakeTimeoutSeconds: 0.3 });
    const refused = nextRefusal(s);
    const sock = await connectRaw(s.port);
    sock.write(Buffer.alloc(10)); // part of a hello, then nothing
    const t0 = Date.now();
    const r = await refused;
    assert.ok(r.error instanceof TimeoutError, String(r.error));
    assert.match(r.error.message, /did not complete within 0.3 s/);
    assert.ok(Date.now() - t0 >= 250);
    await socketClosed(sock);
  });

  test('an authenticated peer that never says hello is dropped after the timeout', async () => {
    const s = await server({ handshakeTimeoutSeconds: 0.3 });
    const refused = nextRefusal(s);
    const sock = await connectRaw(s.port);
    await rawHandshake(sock, 'client', s.key);
    const r = await refused;
    assert.ok(r.error instanceof TimeoutError);
    assert.match(r.error.message, /sent no hello/);
    sock.destroy();
  });

  test('connections in the handshake are capped; extra ones are closed at once', async () => {
    const s = await server({ maxPendingHandshakes: 2, handshakeTimeoutSeconds: 30 });
    const stalled = [await connectRaw(s.port), await connectRaw(s.port)];
    // Each stalled socket gets the server's hello: proof that the server took it in.
    for (const st of stalled) await readExactly(st, HELLO_BYTES);
    const refused = nextRefusal(s);
    const third = await connectRaw(s.port);
    const r = await refused;
    assert.match(r.error.message, /more than 2 connections waiting/);
    const got: Buffer[] = [];
    third.on('data', (d: Buffer) => got.push(d));
    await socketClosed(third);
    assert.equal(Buffer.concat(got).length, 0, 'the extra connection got no handshake');
    // Once the stalled ones go, a real worker gets in.
    for (const st of stalled) st.destroy();
    await new Promise<void>((resolve) => {
      const check = (): void => void (s.stats.refused >= 3 ? resolve() : s.once('refused', check));
      check();
    });
    const accepted = nextConnection(s);
    const c = await ChannelClient.connect({ ...s.address(), workerId: 2, timeoutSeconds: 5 });
    assert.equal((await accepted).remoteWorkerId, 2);
    await c.close();
  });

  test('a worker speaking another protocol version is told why and refused', async () => {
    const s = await server();
    const refused = nextRefusal(s);
    const sock = await connectRaw(s.port);
    const reply: Buffer[] = [];
    await rawHandshake(sock, 'client', s.key, frameBytes({ type: 'hello', protocolVersion: 999, riotsVersion: 'x', workerId: 2, pid: 1, hostname: 'h' }));
    sock.on('data', (d: Buffer) => reply.push(d));
    const r = await refused;
    assert.ok(r.error instanceof ProtocolError);
    assert.match(r.error.message, new RegExp(`protocol 999, this main process ${PROTOCOL_VERSION}`));
    await socketClosed(sock);
    const frames = [...new FrameParser().push(Buffer.concat(reply))].map((f) => decodeMessage(f.header, f.payloads, 'toWorker'));
    assert.deepEqual(
      frames.map((m) => m.type),
      ['shutdown'],
    );
    assert.match((frames[0] as { reason: string }).reason, /install the same riots version/);
    assert.equal(s.stats.authenticated, 0);
  });

  test('an authenticated peer sending an invalid message is disconnected with a ProtocolError', async () => {
    const s = await server();
    const accepted = nextConnection(s);
    const client = await ChannelClient.connect({ ...s.address(), workerId: 1, timeoutSeconds: 5 });
    const conn = await accepted;
    const closed = once<[Error | null]>(conn, 'close');
    // A result whose payload is one byte short of its announced shape; sent raw, bypassing send().
    const bytes = frameBytes({ type: 'result', taskId: 0, blockIndex: 0, attempt: 0, outputs: [wireBlock('o', null, 'Int16', 1, 2, 2)], timings: {} });
    const bad = Buffer.from(bytes);
    bad.writeUInt32LE(7, 16);
    (client as unknown as { socket: net.Socket }).socket.write(bad.subarray(0, bad.length - 1));
    const [err] = await closed;
    assert.ok(err instanceof ProtocolError);
    assert.match(err.message, /announces 8 bytes of pixels but its payload holds 7/);
    await client.whenClosed();
  });
});

describe('channel: truncation', () => {
  test('a peer that closes in the middle of a frame ends the connection with a ProtocolError', async () => {
    const s = await server();
    const accepted = nextConnection(s);
    const sock = await connectRaw(s.port);
    await rawHandshake(
      sock,
      'client',
      s.key,
      frameBytes({ type: 'hello', protocolVersion: PROTOCOL_VERSION, riotsVersion: 'x', workerId: 3, pid: 1, hostname: 'h' }),
    );
    const conn = await accepted;
    const closed = once<[Error | null]>(conn, 'close');
    const frame = frameBytes({ type: 'result', taskId: 0, blockIndex: 0, attempt: 0, outputs: [wireBlock('o', null, 'Byte', 1, 8, 8)], timings: {} });
    sock.end(frame.subarray(0, frame.length - 10));
    const [err] = await closed;
    assert.ok(err instanceof ProtocolError);
    assert.match(err.message, /worker 3 .* closed the connection in the middle of a frame/);
  });
});

describe('channel: heartbeats', () => {
  test('the server declares a silent worker lost', async () => {
    const s = await server({ heartbeatSeconds: 0.05, peerTimeoutSeconds: 0.4 });
    const accepted = nextConnection(s);
    const sock = await connectRaw(s.port);
    await rawHandshake(
      sock,
      'client',
      s.key,
      frameBytes({ type: 'hello', protocolVersion: PROTOCOL_VERSION, riotsVersion: 'x', workerId: 9, pid: 1, hostname: 'h' }),
    );
    const conn = await accepted;
    const t0 = Date.now();
    const [lost] = await once<[TimeoutError]>(conn, 'lost');
    assert.ok(lost instanceof TimeoutError);
    assert.match(lost.message, /worker 9 .* sent nothing for more than 0.4 s/);
    assert.equal(lost.workerId, 9);
    assert.ok(Date.now() - t0 >= 350);
    await conn.whenClosed();
    assert.ok(conn.closeReason instanceof TimeoutError);
    sock.destroy();
  });

  test('a live but idle worker is kept alive by heartbeats', async () => {
    const s = await server({ heartbeatSeconds: 0.05, peerTimeoutSeconds: 0.3 });
    const accepted = nextConnection(s);
    const client = await ChannelClient.connect({ ...s.address(), workerId: 1, timeoutSeconds: 0.3, heartbeatSeconds: 0.05 });
    const conn = await accepted;
    let lost = false;
    conn.on('lost', () => (lost = true));
    client.on('lost', () => (lost = true));
    // Idle for several timeouts, measured by heartbeat frames seen rather than by a sleep.
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (conn.framesReceived > 25 && client.framesReceived > 25) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });
    assert.equal(lost, false);
    assert.equal(conn.closed, false);
    await client.close();
  });

  test('the worker declares a silent main process lost', async () => {
    const key = randomBytes(32);
    const raw = net.createServer((sock) => void rawHandshake(sock, 'server', key).catch(() => undefined));
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
    const port = (raw.address() as net.AddressInfo).port;
    try {
      const c = await ChannelClient.connect({ host: '127.0.0.1', port, key, workerId: 1, timeoutSeconds: 0.4, heartbeatSeconds: 0.05 });
      const [err] = await once<[TimeoutError]>(c, 'lost');
      assert.match(err.message, /sent nothing for more than 0.4 s/);
      await c.whenClosed();
    } finally {
      raw.close();
    }
  });

  test('a worker process that is stopped (SIGSTOP) is declared lost; the key is not in its argv', async () => {
    const s = await server({ heartbeatSeconds: 0.05, peerTimeoutSeconds: 0.5 });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'riots-chan-'));
    tmpDirs.push(dir);
    const addrFile = path.join(dir, 'chan.addr');
    await writeChannelAddrFile(addrFile, s.address('127.0.0.1'));
    const accepted = nextConnection(s);
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'helpers', 'channelworker.ts'), '-i', '4', '--channaddrfile', addrFile], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    const conn = await accepted;
    assert.equal(conn.remoteWorkerId, 4);
    const cmdline = await fs.readFile(`/proc/${child.pid}/cmdline`, 'utf8');
    assert.ok(!cmdline.includes(s.key.toString('hex')), 'key not in argv');
    // The worker works: one task with two blocks comes back inverted.
    await conn.send({
      type: 'setup',
      bundle: new Uint8Array(0),
      bundleImports: { marker: 'riots-import-' + '0'.repeat(24), specs: [] },
      exportName: 'f',
      otherArgs: { a: 1 },
      settings: {},
      computeWorkersRead: false,
      inputFiles: [],
      files: [],
    });
    const inputs = [wireBlock('a', null, 'Float32', 1, 64, 64), wireBlock('b', 0, 'Byte', 2, 64, 64)];
    const msgs = conn.messages();
    assert.equal((await msgs.next()).value?.type, 'ready');
    await conn.send({ type: 'tasks', tasks: [{ taskId: 1, attempt: 0, block: { index: 0, xoff: 0, yoff: 0, xsize: 64, ysize: 64 }, overlap: 0, inputs }] });
    const res = (await msgs.next()).value;
    assert.ok(res && res.type === 'result');
    res.outputs.forEach((o, i) => assert.ok(Buffer.from(o.data).equals(Buffer.from(inputs[i]!.data.map((x) => 255 - x)))));
    const lost = once<[TimeoutError]>(conn, 'lost');
    child.kill('SIGSTOP');
    const [err] = await lost;
    assert.match(err.message, /worker 4/);
    child.kill('SIGKILL');
    await msgs.return();
  });
});

describe('channel address file and key in the environment', () => {
  test('written 0600, read back; refuses to overwrite, refuses a readable file', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'riots-chan-'));
    tmpDirs.push(dir);
    const file = path.join(dir, 'addr');
    const addr = { host: 'node-1.example', port: 41234, key: randomBytes(32) };
    await writeChannelAddrFile(file, addr);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    const back = await readChannelAddrFile(file);
    assert.deepEqual({ ...back, key: back.key.toString('hex') }, { ...addr, key: addr.key.toString('hex') });
    await assert.rejects(writeChannelAddrFile(file, addr), ChannelError);
    await fs.chmod(file, 0o644);
    await assert.rejects(readChannelAddrFile(file), (e: unknown) => e instanceof AuthError && /0600/.test(e.message));
    await fs.writeFile(path.join(dir, 'bad'), '{"host":"h","port":1,"key":"abc"}', { mode: 0o600 });
    await assert.rejects(readChannelAddrFile(path.join(dir, 'bad')), AuthError);
  });

  test('--channaddr host,port with the key from RIOTS_CHANNEL_KEY', () => {
    const key = randomBytes(32);
    const env = channelKeyEnv(key);
    assert.deepEqual(Object.keys(env), [CHANNEL_KEY_ENV]);
    const a = channelAddressFromArg('10.0.0.5,40000', env);
    assert.deepEqual([a.host, a.port, a.key.equals(key)], ['10.0.0.5', 40000, true]);
    assert.throws(() => channelAddressFromArg('10.0.0.5,40000', {}), AuthError);
    assert.throws(() => channelAddressFromArg('10.0.0.5', env), ChannelError);
    assert.throws(() => channelAddressFromArg('h,70000', env), ChannelError);
  });

  test('a worker started with --channaddr and the key in its environment connects', async () => {
    const s = await server();
    const accepted = nextConnection(s);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(here, 'helpers', 'channelworker.ts'), '-i', '6', '--channaddr', `127.0.0.1,${s.port}`],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, ...channelKeyEnv(s.key) },
      },
    );
    children.push(child);
    const conn = await accepted;
    assert.equal(conn.remoteWorkerId, 6);
    await conn.send({
      type: 'setup',
      bundle: new Uint8Array(0),
      bundleImports: { marker: 'riots-import-' + '0'.repeat(24), specs: [] },
      exportName: 'f',
      otherArgs: [1, 2],
      settings: {},
      computeWorkersRead: false,
      inputFiles: [],
      files: [],
    });
    const msgs = conn.messages();
    assert.equal((await msgs.next()).value?.type, 'ready');
    await conn.send({ type: 'shutdown', reason: null });
    const fin = (await msgs.next()).value;
    assert.ok(fin && fin.type === 'finished');
    assert.deepEqual(fin.otherArgs, { received: [1, 2], done: 0 });
    const [code] = await once<[number | null]>(child, 'exit');
    assert.equal(code, 0);
  });
});

describe('channel server options', () => {
  test('draws its port from the range and skips ports in use', async () => {
    const a = await server({ portRange: [45001, 45002] });
    const b = await server({ portRange: [45001, 45002] });
    assert.deepEqual([a.port, b.port].sort(), [45001, 45002]);
    await assert.rejects(ChannelServer.create({ host: '127.0.0.1', portRange: [45001, 45002] }), /no free port in 45001..45002/);
    await assert.rejects(ChannelServer.create({ portRange: [5, 2] }), ChannelError);
    await assert.rejects(ChannelServer.create({ key: Buffer.alloc(16) }), AuthError);
    assert.equal(a.address().host, '127.0.0.1');
    assert.equal(a.key.length, 32);
    assert.notEqual(a.key.toString('hex'), b.key.toString('hex'));
  });

  test('close() ends connections, including ones stalled in the handshake, at once', async () => {
    const s = await ChannelServer.create({ host: '127.0.0.1', handshakeTimeoutSeconds: 60 });
    const accepted = nextConnection(s);
    const client = await ChannelClient.connect({ ...s.address(), workerId: 1, timeoutSeconds: 5 });
    const conn = await accepted;
    const stalled = await connectRaw(s.port);
    await readExactly(stalled, HELLO_BYTES);
    const t0 = Date.now();
    await s.close();
    assert.ok(Date.now() - t0 < 5000, 'close did not wait for the handshake timeout');
    assert.ok(conn.closed);
    await Promise.all([client.whenClosed(), socketClosed(stalled)]);
  });

  test('the client gives up when nothing listens, within its timeout', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const t0 = Date.now();
    await assert.rejects(
      ChannelClient.connect({ host: '127.0.0.1', port, key: randomBytes(32), workerId: 1, timeoutSeconds: 0.5 }),
      /cannot connect to the main process .* within 0.5 s/,
    );
    assert.ok(Date.now() - t0 >= 300);
  });
});
