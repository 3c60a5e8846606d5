/**
 * What the histogram's scratch file (src/stats/spill.ts) pays per write size: 144 MB (one 6000²
 * Float32 band) written to a new file in pieces of each size, a fresh process each time, after a
 * pause (so the page cache starts from memory the machine has been left alone with, as a run's
 * does), in rotation; the system CPU time of the writes, median per size. Chose
 * SPILL_CHUNK_BYTES: on a Firecracker VM with Linux 6.18, pieces of 2 MB and more cost ten times
 * the system time of 1 MB ones.
 *
 * usage: node --import tsx bench/scratch-writes.ts [--rounds 3] [--pause 3] [--sizes 262144,1048576,2097152,4194304]
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OUT } from './lib/fixtures.js';
import { machine, median } from './lib/measure.js';
import { mkdirSync } from 'node:fs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    pause: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '262144,1048576,2097152,4194304' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const total = 144 << 20;
mkdirSync(OUT, { recursive: true });
const file = path.join(OUT, 'scratch-writes.bin');
// the writes alone, in a fresh process: system CPU and wall time in ms
const child = `
const { openSync, writeSync, closeSync, rmSync } = require('node:fs');
const [file, chunk, total] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const buf = Buffer.alloc(chunk, 7);
const c0 = process.cpuUsage(); const t0 = performance.now();
const fd = openSync(file, 'w');
for (let pos = 0; pos < total; pos += chunk) writeSync(fd, buf, 0, Math.min(chunk, total - pos), pos);
closeSync(fd);
const c = process.cpuUsage(c0);
console.log(JSON.stringify({ sys: c.system / 1000, wall: performance.now() - t0 }));
rmSync(file);
`;
const results = new Map<number, { sys: number[]; wall: number[] }>(sizes.map((s) => [s, { sys: [], wall: [] }]));
for (let r = 0; r < Number(values.rounds); r++) {
  for (const size of sizes) {
    spawnSync('sleep', [values.pause]);
    const p = spawnSync(process.execPath, ['-e', child, file, String(size), String(total)], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`writing ${file} in ${size}-byte pieces failed: ${p.stderr}`);
    const j = JSON.parse(p.stdout) as { sys: number; wall: number };
    results.get(size)!.sys.push(j.sys);
    results.get(size)!.wall.push(j.wall);
  }
}
console.log(`# 144 MB to a new file in pieces, ${machine()}; after ${values.pause} s pauses, ${values.rounds} rounds in rotation`);
console.log('| piece | system CPU (ms), median (runs) | wall (ms), median |');
console.log('| --- | --- | --- |');
for (const [size, r] of results) {
  console.log(
    `| ${size >= 1 << 20 ? `${size / 2 ** 20} MB` : `${size / 1024} KB`} | ${median(r.sys).toFixed(0)} (${r.sys.map((v) => v.toFixed(0)).join(', ')}) | ${median(r.wall).toFixed(0)} |`,
  );
}
