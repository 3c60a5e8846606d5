/**
 * A local HTTP server for one file, with Range requests, that GDAL reads through /vsicurl/.
 * It counts the data requests (ranges at or beyond `dataOffset`) in flight at once: each GDAL
 * read of a tile is one request made on the pool thread that runs it, so this counts reads that
 * really run at the same time in GDAL. Data requests can be held back to make concurrency visible.
 *
 * The server runs in a worker thread of its own: GDAL calls that block the main thread (closing a
 * dataset waits for its lock) must never stop the server from answering.
 */
import { Worker } from 'node:worker_threads';
import { makeRaster, py } from './py.js';

export interface RangeServer {
  url: string;
  /** Most data requests in flight at once (since the last barrier/delay) and data requests in all. */
  stats(): Promise<{ maxInFlight: number; dataRequests: number }>;
  /**
   * Hold data requests until `n` are in flight at once, then answer them all and every later
   * request at once. Resolves when the barrier is in place; `opened` resolves when it opened,
   * or rejects after `timeoutMs`, saying how many were in flight at most (held requests are then
   * answered, and later ones pass).
   */
  barrier(n: number, timeoutMs?: number): Promise<{ opened: Promise<void> }>;
  /** Answer each data request `ms` after it came (so that overlapping requests would be seen). */
  delay(ms: number): Promise<void>;
  close(): Promise<void>;
}

const SERVER = `
const http = require('node:http');
const { readFileSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const { file, dataOffset } = workerData;
const data = readFileSync(file);
const name = '/' + file.split('/').pop();
let inFlight = 0, max = 0, count = 0, held = [], mode = { kind: 'free' };
const server = http.createServer((req, res) => {
  if (req.url !== name) { res.writeHead(404, { 'Content-Length': 0 }); res.end(); return; }
  const m = /^bytes=(\\d+)-(\\d*)$/.exec(req.headers.range || '');
  const start = m ? Number(m[1]) : 0;
  const end = m && m[2] ? Math.min(Number(m[2]), data.length - 1) : data.length - 1;
  const send = () => {
    if (req.method === 'HEAD') { res.writeHead(200, { 'Content-Length': data.length, 'Accept-Ranges': 'bytes' }); res.end(); return; }
    res.writeHead(m ? 206 : 200, { 'Content-Length': end - start + 1, 'Content-Range': 'bytes ' + start + '-' + end + '/' + data.length, 'Accept-Ranges': 'bytes' });
    res.end(data.subarray(start, end + 1));
  };
  if (req.method !== 'GET' || start < dataOffset) { send(); return; }
  count++; inFlight++; max = Math.max(max, inFlight);
  const answer = () => { inFlight--; send(); };
  if (mode.kind === 'barrier') {
    held.push(answer);
    if (inFlight >= mode.n) { clearTimeout(mode.timer); mode = { kind: 'free' }; held.splice(0).forEach((h) => h()); parentPort.postMessage({ ev: 'opened' }); }
  } else if (mode.kind === 'delay') setTimeout(answer, mode.ms);
  else answer();
});
parentPort.on('message', (c) => {
  if (c.cmd === 'barrier') {
    max = 0;
    const timer = setTimeout(() => { mode = { kind: 'free' }; held.splice(0).forEach((h) => h()); parentPort.postMessage({ ev: 'timeout', n: c.n, max, ms: c.timeoutMs }); }, c.timeoutMs);
    mode = { kind: 'barrier', n: c.n, timer };
    parentPort.postMessage({ ev: 'ack' });
  } else if (c.cmd === 'delay') { max = 0; mode = { kind: 'delay', ms: c.ms }; parentPort.postMessage({ ev: 'ack' }); }
  else if (c.cmd === 'stats') parentPort.postMessage({ ev: 'stats', maxInFlight: max, dataRequests: count });
  else if (c.cmd === 'close') { if (mode.timer) clearTimeout(mode.timer); mode = { kind: 'free' }; held.splice(0).forEach((h) => h()); server.closeAllConnections(); server.close(() => process.exit(0)); }
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ ev: 'listening', port: server.address().port }));
`;

type Ev =
  | { ev: 'listening'; port: number }
  | { ev: 'ack' }
  | { ev: 'opened' }
  | { ev: 'timeout'; n: number; max: number; ms: number }
  | { ev: 'stats'; maxInFlight: number; dataRequests: number };

export async function startRangeServer(file: string, dataOffset: number): Promise<RangeServer> {
  const worker = new Worker(SERVER, { eval: true, workerData: { file, dataOffset } });
  const waiting: ((e: Ev) => boolean)[] = [];
  worker.on('message', (e: Ev) => {
    const i = waiting.findIndex((w) => w(e));
    if (i >= 0) waiting.splice(i, 1);
  });
  const next = <K extends Ev['ev']>(...kinds: K[]): Promise<Extract<Ev, { ev: K }>> =>
    new Promise((resolve) => waiting.push((e) => (kinds.includes(e.ev as K) ? (resolve(e as Extract<Ev, { ev: K }>), true) : false)));
  const { port } = await next('listening');
  const name = file.split('/').pop()!;
  return {
    url: `http://127.0.0.1:${port}/${name}`,
    async stats() {
      const s = next('stats');
      worker.postMessage({ cmd: 'stats' });
      const { maxInFlight, dataRequests } = await s;
      return { maxInFlight, dataRequests };
    },
    async barrier(n: number, timeoutMs = 20_000) {
      const outcome = next('opened', 'timeout');
      const ack = next('ack');
      worker.postMessage({ cmd: 'barrier', n, timeoutMs });
      await ack;
      const opened = outcome.then((e) => {
        if (e.ev === 'timeout') throw new Error(`timed out after ${e.ms} ms waiting for ${e.n} data requests in flight at once (at most ${e.max} were)`);
      });
      opened.catch(() => undefined);
      return { opened };
    },
    async delay(ms: number) {
      const ack = next('ack');
      worker.postMessage({ cmd: 'delay', ms });
      await ack;
    },
    async close() {
      const exited = new Promise<void>((r) => worker.once('exit', () => r()));
      worker.postMessage({ cmd: 'close' });
      await exited;
    },
  };
}

/**
 * A 768 x 512 Float32 GeoTIFF of uncompressed 256 x 256 tiles, so that each block read of a
 * 256 x 256 window over /vsicurl/ is one range request. Returns the offset of its first tile:
 * requests from there on are pixel reads (startRangeServer's `dataOffset`).
 */
export function makeTiledFixture(file: string): number {
  makeRaster({ path: file, cols: 768, rows: 512, dtype: 'Float32', expr: '(r * 3 + c * 0.5)', options: ['TILED=YES', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256'] });
  return py<number>(
    `
ds = gdal.Open(args['p']); b = ds.GetRasterBand(1)
out(min(int(b.GetMetadataItem('BLOCK_OFFSET_%d_%d' % (x, y), 'TIFF')) for x in range(3) for y in range(2)))
`,
    { p: file },
  );
}
