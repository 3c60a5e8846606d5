/**
 * Channel throughput: pixel data through the real authenticated channel over loopback, with the
 * worker in a child process. 256×256 Float32 blocks, several per frame.
 *
 *   node --import tsx bench/channel-throughput.ts [--gb 2] [--per-frame 4]
 *
 * Phase "worker -> main": the worker sends `result` frames; the main process receives, validates
 * and checks them. Phase "main -> worker": the main process sends `tasks` frames; the worker
 * acknowledges each frame with an empty result. Target: >= 500 MB/s (1 MB = 1e6 bytes).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChannelClient, ChannelServer, type WorkerConnection } from '../src/workers/channel/channel.js';
import { readChannelAddrFile, writeChannelAddrFile } from '../src/workers/channel/address.js';
import type { TaskSpec, WireBlock, WorkerToMain } from '../src/workers/channel/protocol.js';

const SIDE = 256;
const BLOCK_BYTES = SIDE * SIDE * 4;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}

function makeBlocks(n: number): WireBlock[] {
  return Array.from({ length: n }, (_, i) => ({
    name: 'out',
    listIndex: i,
    dtype: 'Float32',
    bands: 1,
    rows: SIDE,
    cols: SIDE,
    data: new Uint8Array(randomBytes(BLOCK_BYTES)),
  }));
}

async function child(): Promise<void> {
  const addr = await readChannelAddrFile(arg('--channaddrfile', ''));
  const conn = await ChannelClient.connect({ ...addr, workerId: 1, timeoutSeconds: 60 });
  const frames = Number(arg('--frames', '0'));
  const perFrame = Number(arg('--per-frame', '4'));
  const blocks = makeBlocks(perFrame);
  for await (const m of conn.messages()) {
    if (m.type === 'setup') {
      // Phase 1: send `frames` result frames of `perFrame` blocks (the same buffers each time).
      for (let i = 0; i < frames; i++) {
        await conn.send({ type: 'result', taskId: i, blockIndex: i, attempt: 0, outputs: blocks, timings: {} });
      }
      await conn.send({ type: 'ready' });
    } else if (m.type === 'tasks') {
      const t = m.tasks[0]!;
      await conn.send({ type: 'result', taskId: t.taskId, blockIndex: t.block.index, attempt: 0, outputs: [], timings: {} });
    } else if (m.type === 'shutdown') {
      await conn.send({ type: 'finished', otherArgs: null, timings: {} });
      await conn.close();
      return;
    }
  }
}

async function main(): Promise<void> {
  const gb = Number(arg('--gb', '2'));
  const perFrame = Number(arg('--per-frame', '4'));
  const frames = Math.ceil((gb * 1e9) / (BLOCK_BYTES * perFrame));
  const totalBytes = frames * perFrame * BLOCK_BYTES;
  const server = await ChannelServer.create({ host: '127.0.0.1' });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'riots-bench-'));
  const addrFile = path.join(dir, 'chan.addr');
  await writeChannelAddrFile(addrFile, server.address('127.0.0.1'));
  const accepted = new Promise<WorkerConnection>((r) => server.once('connection', r));
  const self = fileURLToPath(import.meta.url);
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', self, '--child', '--channaddrfile', addrFile, '--frames', String(frames), '--per-frame', String(perFrame)],
    { stdio: 'inherit' },
  );
  try {
    const conn = await accepted;
    const msgs = conn.messages();
    const next = async (): Promise<WorkerToMain> => {
      const r = await msgs.next();
      if (r.done) throw new Error('worker connection closed');
      return r.value;
    };

    // Phase 1: worker -> main.
    let received = 0;
    const t0 = performance.now();
    await conn.send({
      type: 'setup',
      bundle: new Uint8Array(0),
      bundleImports: { marker: 'riots-import-' + '0'.repeat(24), specs: [] },
      exportName: 'f',
      otherArgs: null,
      settings: {},
      computeWorkersRead: false,
      inputFiles: [],
      files: [],
    });
    for (;;) {
      const m = await next();
      if (m.type === 'ready') break;
      if (m.type !== 'result') throw new Error(`unexpected ${m.type}`);
      for (const o of m.outputs) {
        if (o.data.byteLength !== BLOCK_BYTES) throw new Error('short block');
        received += o.data.byteLength;
      }
    }
    const up = (performance.now() - t0) / 1000;
    if (received !== totalBytes) throw new Error(`received ${received} of ${totalBytes} bytes`);

    // Phase 2: main -> worker, one acknowledgement per frame, a window of 8 frames in flight.
    const blocks = makeBlocks(perFrame);
    const task = (i: number): TaskSpec => ({
      taskId: i,
      attempt: 0,
      block: { index: i, xoff: 0, yoff: 0, xsize: SIDE, ysize: SIDE },
      overlap: 0,
      inputs: blocks,
    });
    const t1 = performance.now();
    let sent = 0;
    let acked = 0;
    const window = 8;
    while (acked < frames) {
      while (sent < frames && sent - acked < window) await conn.send({ type: 'tasks', tasks: [task(sent++)] });
      const m = await next();
      if (m.type !== 'result') throw new Error(`unexpected ${m.type}`);
      acked++;
    }
    const down = (performance.now() - t1) / 1000;
    await conn.send({ type: 'shutdown', reason: null });
    if ((await next()).type !== 'finished') throw new Error('no finished');
    await msgs.return();

    const mb = totalBytes / 1e6;
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(
      `channel throughput: ${(totalBytes / 2 ** 30).toFixed(2)} GiB as ${frames * perFrame} blocks of 256x256 Float32, ${perFrame} per frame, loopback, ${os.cpus().length} CPUs (${cpu})`,
    );
    console.log(`  worker -> main (results): ${(mb / up).toFixed(0)} MB/s  (${up.toFixed(2)} s)`);
    console.log(`  main -> worker (tasks):   ${(mb / down).toFixed(0)} MB/s  (${down.toFixed(2)} s)`);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child')) {
  await child();
} else {
  await main();
}
