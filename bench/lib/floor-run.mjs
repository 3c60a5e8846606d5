// The floor under W1 with worker processes: what W1's block loop costs on this machine with the
// least machinery. gdal-async reads and writes the same files as W1 (256x256 tiles, one read in
// flight ahead, writes in block order), and in `sub` mode two plain node processes compute the
// mean, fed over loopback TCP with an 8- or 4-byte header per block: no authentication, no
// validation, no scheduling beyond 4 blocks in flight per worker, no statistics or pyramids.
// Workers get riots' glibc malloc settings, as CW_SUBPROC workers do, when the environment
// variable FLOOR_WORKER_GLIBC_TUNABLES holds them (bench/w1-floor.ts sets it). The main reuses its
// block buffers as riots' main does (src/bufferpool.ts): a block's input arrays once its result is
// back, received results once written (a sequential run has nothing to reuse: its arrays are the
// user function's, as in riots). Workers allocate fresh arrays per block, as riots' must:
// there the arrays are the user function's inputs and outputs, which it may keep. Both ends read
// each record straight into its buffer, as riots' channel does (see records() below).
// usage: node bench/lib/floor-run.mjs seq|sub A B OUT   (or: node floor-run.mjs --worker PORT)
// Prints JSON {seconds, mainCpu, workerCpu} on stdout (seconds: from opening the inputs to closing
// the output, worker start-up included).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TILE = 256;
/** The main's free block buffers, by byte length (see the header). */
const pool = new Map();
const take = (n) => pool.get(n)?.pop() ?? new Uint8Array(Buffer.allocUnsafeSlow(n).buffer);
const give = (u) => {
  if (!pool.has(u.length)) pool.set(u.length, []);
  pool.get(u.length).push(u);
};
const PIXELS = TILE * TILE;
const cpuSeconds = () => {
  const u = process.resourceUsage();
  return (u.userCPUTime + u.systemCPUTime) / 1e6;
};
const mean = (a, b) => {
  const o = new Float32Array(PIXELS);
  for (let k = 0; k < PIXELS; k++) o[k] = (a[k] + b[k]) * 0.5;
  return o;
};

/**
 * Calls `onMessage(id, bytes)` for each `[u32 id][u32 len?][bytes]` record of a stream. Reads go
 * straight into the header or the body being filled, as riots' channel does (its
 * src/workers/channel/sockread.ts): with `net.connect`'s `onread` option on the worker side
 * (called without a socket, it returns the option to pass), and on the main's accepted sockets through the
 * Node fields behind that option. Without them ('data' events), every byte is copied once more.
 */
function records(socket, headerBytes, fixedLen, onMessage, alloc = (n) => new Uint8Array(n)) {
  const head = Buffer.alloc(headerBytes);
  let headFill = 0;
  let id = -1;
  let body;
  let bodyFill = 0;
  const target = () => (id < 0 ? head.subarray(headFill) : body.subarray(bodyFill));
  const onRead = (n) => {
    if (id < 0) {
      headFill += n;
      if (headFill < headerBytes) return;
      headFill = 0;
      id = head.readUInt32LE(0);
      body = alloc(fixedLen ?? head.readUInt32LE(4));
      bodyFill = 0;
    } else {
      bodyFill += n;
      if (bodyFill < body.length) return;
      const done = id;
      id = -1;
      onMessage(done, body);
    }
  };
  if (socket === undefined) return { buffer: target, callback: (n) => void onRead(n) };
  const syms = Object.getOwnPropertySymbols(socket);
  const k = (d) => syms.find((x) => x.description === d);
  const [kBuffer, kBufferGen, kBufferCb] = ['kBuffer', 'kBufferGen', 'kBufferCb'].map(k);
  if (kBuffer && kBufferGen && kBufferCb && typeof socket._handle?.useUserBuffer === 'function') {
    const first = target();
    socket[kBuffer] = first;
    socket[kBufferGen] = target;
    socket[kBufferCb] = (n) => void onRead(n);
    socket._handle.useUserBuffer(first);
    return;
  }
  // no such fields: copy each chunk into the same targets
  socket.on('data', (chunk) => {
    for (let pos = 0; pos < chunk.length;) {
      const t = target();
      const n = Math.min(t.length, chunk.length - pos);
      chunk.copy(t, 0, pos, pos + n);
      pos += n;
      onRead(n);
    }
  });
}

if (process.argv[2] === '--worker') {
  const onread = records(undefined, 8, undefined, (id, bytes) => {
    const o = mean(new Float32Array(bytes.buffer, 0, PIXELS), new Float32Array(bytes.buffer, PIXELS * 4, PIXELS));
    const h = Buffer.alloc(4);
    h.writeUInt32LE(id, 0);
    c.cork();
    c.write(h);
    c.write(new Uint8Array(o.buffer));
    c.uncork();
  });
  const c = net.connect({ port: Number(process.argv[3]), host: '127.0.0.1', onread });
  c.setNoDelay(true);
  c.on('end', () => {
    process.stdout.write(`${cpuSeconds()}\n`);
    process.exit(0);
  });
} else {
  const [mode, aPath, bPath, outPath] = process.argv.slice(2);
  const gdal = createRequire(fileURLToPath(import.meta.url))('gdal-async');
  const t0 = performance.now();
  const A = gdal.open(aPath);
  const B = gdal.open(bPath);
  const size = A.rasterSize.x;
  const across = Math.ceil(size / TILE);
  const total = across * across;
  const out = gdal.open(outPath, 'w', 'GTiff', size, size, 1, gdal.GDT_Float32, ['TILED=YES', 'COMPRESS=DEFLATE', 'NUM_THREADS=ALL_CPUS']);
  const [ba, bb, bo] = [A.bands.get(1), B.bands.get(1), out.bands.get(1)];
  const read = async (i) => {
    const a = new Float32Array(take(PIXELS * 4).buffer);
    const b = new Float32Array(take(PIXELS * 4).buffer);
    await Promise.all([ba.pixels.readBlockAsync(i % across, Math.floor(i / across), a), bb.pixels.readBlockAsync(i % across, Math.floor(i / across), b)]);
    return [a, b];
  };
  let writes = Promise.resolve();
  const write = (i, o, done) => (writes = writes.then(() => bo.pixels.writeBlockAsync(i % across, Math.floor(i / across), o)).then(done));
  let workerCpu = 0;
  if (mode === 'seq') {
    let next = read(0);
    for (let i = 0; i < total; i++) {
      const [a, b] = await next;
      if (i + 1 < total) next = read(i + 1);
      // nothing is given back: as in riots, a sequential run's arrays are the user function's
      const w = write(i, mean(a, b));
      if (i % 4 === 3) await w;
    }
  } else {
    const server = net.createServer();
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    // riots' worker malloc settings, passed by bench/w1-floor.ts from src/workers/pool/malloc.ts
    const tunables = process.env.FLOOR_WORKER_GLIBC_TUNABLES;
    const workers = [0, 1].map(() =>
      spawn(process.execPath, [fileURLToPath(import.meta.url), '--worker', String(server.address().port)], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, ...(tunables ? { GLIBC_TUNABLES: tunables } : {}) },
        cwd: path.dirname(fileURLToPath(import.meta.url)),
      }),
    );
    const cpus = workers.map(
      (w) =>
        new Promise((r) => {
          let s = '';
          w.stdout.on('data', (d) => (s += d));
          w.on('exit', () => r(Number(s)));
        }),
    );
    const sockets = await new Promise((r) => {
      const s = [];
      server.on('connection', (c) => {
        c.setNoDelay(true);
        s.push(c);
        if (s.length === workers.length) r(s);
      });
    });
    const results = new Map();
    const sent = new Map();
    let nextRead = 0;
    let nextWrite = 0;
    let reads = Promise.resolve();
    let finished;
    const allWritten = new Promise((r) => (finished = r));
    const feed = (c) => {
      if (nextRead >= total) return;
      const i = nextRead++;
      reads = reads
        .then(() => read(i))
        .then(([a, b]) => {
          sent.set(i, [a, b]);
          const h = Buffer.alloc(8);
          h.writeUInt32LE(i, 0);
          h.writeUInt32LE(2 * PIXELS * 4, 4);
          c.cork();
          c.write(h);
          c.write(new Uint8Array(a.buffer));
          c.write(new Uint8Array(b.buffer));
          c.uncork();
        });
    };
    for (const c of sockets) {
      records(
        c,
        4,
        PIXELS * 4,
        (id, bytes) => {
          for (const x of sent.get(id)) give(new Uint8Array(x.buffer));
          sent.delete(id);
          results.set(id, new Float32Array(bytes.buffer));
          feed(c);
          while (results.has(nextWrite)) {
            const o = results.get(nextWrite);
            write(nextWrite, o, () => give(new Uint8Array(o.buffer)));
            results.delete(nextWrite++);
          }
          if (nextWrite === total) finished();
        },
        take,
      );
      for (let k = 0; k < 4; k++) feed(c);
    }
    await allWritten;
    for (const c of sockets) c.end();
    server.close();
    workerCpu = (await Promise.all(cpus)).reduce((x, y) => x + y, 0);
  }
  await writes;
  out.close();
  process.stdout.write(JSON.stringify({ seconds: (performance.now() - t0) / 1000, mainCpu: cpuSeconds(), workerCpu }) + '\n');
}
