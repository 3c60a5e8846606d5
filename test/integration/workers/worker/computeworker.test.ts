/**
 * `riots computeworker`: arguments, where the key comes from, giving up on an unreachable or
 * silent main process, and the worker side of setup and tasks spoken to by a bare ChannelServer.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Block } from '../../../../src/block.js';
import { ChannelServer, type WorkerConnection } from '../../../../src/workers/channel/channel.js';
import { channelKeyEnv, writeChannelAddrFile } from '../../../../src/workers/channel/address.js';
import type { WorkerSettings } from '../../../../src/workers/worker/computeworker.js';
import { associationsToWire, wireToAssociations } from '../../../../src/workers/channel/protocol.js';
import type { JsonObject, MainToWorker, WorkerToMain } from '../../../../src/workers/channel/protocol.js';
import { riotsNodeArgs } from '../../../../src/workers/pool/workerenv.js';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-cw-test-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Done {
  code: number | null;
  stderr: string;
  pid: number;
}

function worker(args: string[], env: Record<string, string> = {}): { done: Promise<Done>; pid: number } {
  const child = spawn(process.execPath, [...riotsNodeArgs(), 'computeworker', ...args], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<Done>((resolve) => child.on('exit', (code) => resolve({ code, stderr, pid: child.pid! })));
  return { done, pid: child.pid! };
}

function nextMessage(conn: WorkerConnection, type: WorkerToMain['type']): Promise<WorkerToMain> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: WorkerToMain): void => {
      if (m.type !== type) return;
      conn.off('message', onMsg);
      resolve(m);
    };
    conn.on('message', onMsg);
    conn.once('close', (err) => reject(err ?? new Error(`closed before ${type}`)));
  });
}

const settings: WorkerSettings = {
  infoContext: { projection: '', transform: [0, 1, 0, 0, 0, -1], cols: 8, rows: 4, windowXSize: 4, windowYSize: 4, overlap: 0 },
  controls: {},
  readAhead: 0,
  outRefs: [{ name: 'o', listIndex: null, path: 'o.tif' }],
  inputs: [{ name: 'a', listIndex: null, path: 'a.tif', nodata: [null] }],
};

const MARKER = 'riots-import-' + '0'.repeat(24);

/** A setup message for `bundle` (its open imports `specs`), exporting `exportName`. */
function setup(bundle: string, exportName: string, otherArgs: unknown = null, specs: string[] = []): MainToWorker {
  return {
    type: 'setup',
    bundle: new Uint8Array(Buffer.from(bundle)),
    bundleImports: { marker: MARKER, specs },
    exportName,
    otherArgs,
    settings: settings as unknown as JsonObject,
    computeWorkersRead: false,
    inputFiles: [],
    files: [],
  };
}

describe('riots computeworker arguments', () => {
  test('-i and exactly one address are required', async () => {
    assert.equal((await worker([]).done).code, 2);
    assert.equal((await worker(['-i', '0']).done).code, 2);
    const both = await worker(['-i', '0', '--channaddrfile', 'x', '--channaddr', '127.0.0.1,1']).done;
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exactly one/);
  });

  test('there is no option for the key; --channaddr needs it in the environment', async () => {
    const withKey = await worker(['-i', '0', '--channaddr', '127.0.0.1,40000', '--key', 'ab'.repeat(32)]).done;
    assert.equal(withKey.code, 1);
    assert.match(withKey.stderr, /--key/);
    const noKey = await worker(['-i', '0', '--channaddr', '127.0.0.1,40000']).done;
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /AUTH.*RIOTS_CHANNEL_KEY/);
  });

  test('an address file readable by others is refused', async () => {
    const file = path.join(dir, 'open.addr');
    await writeChannelAddrFile(file, { host: '127.0.0.1', port: 40000, key: Buffer.alloc(32, 7) });
    chmodSync(file, 0o644);
    const r = await worker(['-i', '0', '--channaddrfile', file]).done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /AUTH.*0600/);
  });
});

describe('riots computeworker and its main process', () => {
  test('exits by itself when the main process is unreachable', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const t0 = Date.now();
    const r = await worker(['-i', '1', '--channaddr', `127.0.0.1,${port}`, '--timeout', '1'], channelKeyEnv(Buffer.alloc(32, 1))).done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot connect to the main process at 127\.0\.0\.1/);
    assert.ok(Date.now() - t0 < 20_000);
  });

  test('exits by itself when the main falls silent', async () => {
    // a server that never sends anything, not even heartbeats
    const server = await ChannelServer.create({ host: '127.0.0.1', heartbeatSeconds: 3600, peerTimeoutSeconds: 3600 });
    try {
      const file = path.join(dir, 'silent.addr');
      await writeChannelAddrFile(file, server.address());
      const connected = new Promise<WorkerConnection>((r) => server.once('connection', r));
      const w = worker(['-i', '2', '--channaddrfile', file, '--timeout', '1', '--heartbeat', '0.2']);
      const conn = await connected;
      assert.equal(conn.hello!.workerId, 2);
      const r = await w.done;
      assert.equal(r.code, 3, r.stderr);
    } finally {
      await server.close();
    }
  });

  test('loads the bundle from setup, computes tasks in order and reports otherArgs on shutdown', async () => {
    const server = await ChannelServer.create({ host: '127.0.0.1', heartbeatSeconds: 0.2 });
    try {
      const file = path.join(dir, 'work.addr');
      await writeChannelAddrFile(file, server.address());
      const connected = new Promise<WorkerConnection>((r) => server.once('connection', r));
      // a bundle folder left by a worker process that died: the next worker removes it
      const tmp = mkdtempSync(path.join(dir, 'tmp-'));
      const deadPid = (await worker([]).done).pid;
      mkdirSync(path.join(tmp, `riots-cw-p${deadPid}-abcdef`));
      const w = worker(['-i', '5', '--channaddrfile', file, '--timeout', '10'], { TMPDIR: tmp });
      const conn = await connected;
      const bundle = [
        'export function double(info, inputs, outputs, other) {',
        '  const a = inputs.a;',
        '  outputs.o = a.like("Int32");',
        '  for (let i = 0; i < a.data.length; i++) outputs.o.data[i] = a.data[i] * 2 + info.block.index;',
        '  other.seen.push(info.block.index);',
        '}',
      ].join('\n');
      const ready = nextMessage(conn, 'ready');
      await conn.send(setup(bundle, 'double', { seen: [] as number[] }));
      await ready;
      const results: WorkerToMain[] = [];
      const got = new Promise<void>((resolve) => {
        conn.on('message', (m) => {
          if (m.type === 'result') results.push(m);
          if (results.length === 2) resolve();
        });
      });
      const inputs = [0, 1].map((k) => {
        const a = new Block('Int16', 1, 4, 4);
        for (let i = 0; i < 16; i++) a.data[i] = i * (k + 1) - 5;
        return a;
      });
      await conn.send({
        type: 'tasks',
        tasks: [0, 1].map((k) => ({
          taskId: 10 + k,
          attempt: 0,
          block: { index: k, xoff: 4 * k, yoff: 0, xsize: 4, ysize: 4 },
          overlap: 0,
          inputs: associationsToWire({ a: inputs[k]! }),
        })),
      });
      await got;
      assert.deepEqual(
        results.map((r) => (r as { taskId: number }).taskId),
        [10, 11],
      );
      results.forEach((r, k) => {
        const out = wireToAssociations((r as Extract<WorkerToMain, { type: 'result' }>).outputs).o as Block;
        assert.equal(out.dtype, 'Int32');
        assert.deepEqual(
          Array.from(out.data),
          Array.from(inputs[k]!.data, (v) => v * 2 + k),
        );
      });
      const finished = nextMessage(conn, 'finished');
      await conn.send({ type: 'shutdown', reason: null });
      assert.deepEqual(((await finished) as { otherArgs: unknown }).otherArgs, { seen: [0, 1] });
      assert.equal((await w.done).code, 0);
      assert.deepEqual(
        readdirSync(tmp).filter((n) => n.startsWith('riots-')),
        [],
        "the dead worker's folder and its own are gone",
      );
    } finally {
      await server.close();
    }
  });

  test('a bundle that cannot load is reported as workerError and the worker exits', async () => {
    const server = await ChannelServer.create({ host: '127.0.0.1', heartbeatSeconds: 0.2 });
    try {
      const file = path.join(dir, 'bad.addr');
      await writeChannelAddrFile(file, server.address());
      const connected = new Promise<WorkerConnection>((r) => server.once('connection', r));
      const tmp = mkdtempSync(path.join(dir, 'tmp-bad-'));
      const w = worker(['-i', '6', '--channaddrfile', file, '--timeout', '10'], { TMPDIR: tmp });
      const conn = await connected;
      const err = nextMessage(conn, 'workerError');
      await conn.send(setup(`import { q } from "${MARKER}:0";\nexport const f = () => q;\n`, 'f', null, ['riots-not-installed-pkg']));
      const m = (await err) as { error: { message: string } };
      assert.match(m.error.message, /riots-not-installed-pkg/);
      assert.equal((await w.done).code, 1);
      assert.deepEqual(
        readdirSync(tmp).filter((n) => n.startsWith('riots-')),
        [],
        'its bundle folder is gone',
      );
    } finally {
      await server.close();
    }
  });
  test('told to shut down mid-task, then its connection reset: an orderly end (exit 0), not a lost main', async () => {
    // a failed run sends shutdown and tears the connection down; a batch system reports a
    // worker that exits non-zero as a failed job
    const server = await ChannelServer.create({ host: '127.0.0.1', heartbeatSeconds: 0.2 });
    try {
      const file = path.join(dir, 'reset.addr');
      await writeChannelAddrFile(file, server.address());
      const connected = new Promise<WorkerConnection>((r) => server.once('connection', r));
      const w = worker(['-i', '7', '--channaddrfile', file, '--timeout', '10']);
      const conn = await connected;
      const ready = nextMessage(conn, 'ready');
      const slow = 'export const f = async (info, inputs, outputs) => { await new Promise((r) => setTimeout(r, 1500)); outputs.o = inputs.a; };';
      await conn.send(setup(slow, 'f'));
      await ready;
      const a = new Block('Int16', 1, 4, 4);
      await conn.send({
        type: 'tasks',
        tasks: [{ taskId: 1, attempt: 0, block: { index: 0, xoff: 0, yoff: 0, xsize: 4, ysize: 4 }, overlap: 0, inputs: associationsToWire({ a }) }],
      });
      await conn.send({ type: 'shutdown', reason: 'another block failed' });
      await new Promise((r) => setTimeout(r, 300)); // read by the worker, which is awaiting the user function
      (conn as unknown as { socket: net.Socket }).socket.resetAndDestroy();
      const r = await w.done;
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await server.close();
    }
  });
});
