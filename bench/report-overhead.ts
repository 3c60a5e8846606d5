/**
 * What `controls.report` costs: W1 (the mean of two N² Float32 inputs, default outputs with
 * statistics, histogram and pyramids; built riots, bench/lib/vsrios-run.mjs) with and without a
 * report, runs alternating, each a whole process. The report's time includes recording every
 * block, reading the output's statistics back, the quicklook and writing the page and its JSON.
 *
 * usage: node --import tsx bench/report-overhead.ts [--size 6000] [--pairs 7] [--data smooth|noise]
 */
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildRiots } from './lib/built.js';
import { dataKinds, makeFloatInput, OUT } from './lib/fixtures.js';
import { machine, median, runMeasured } from './lib/measure.js';

const { values } = parseArgs({
  options: { size: { type: 'string', default: '6000' }, pairs: { type: 'string', default: '7' }, data: { type: 'string', default: 'smooth' } },
});
const size = Number(values.size);
const pairs = Number(values.pairs);
const riots = buildRiots();
const runner = path.join(import.meta.dirname, 'lib', 'vsrios-run.mjs');
const html = path.join(OUT, 'report-overhead.html');

for (const kind of dataKinds(values.data)) {
  const a = makeFloatInput('w1a', size, 1, { kind });
  const b = makeFloatInput('w1b', size, 2, { kind });
  const out = path.join(OUT, 'report-overhead.tif');
  const times: Record<'without' | 'with', { apply: number[]; wall: number[] }> = { without: { apply: [], wall: [] }, with: { apply: [], wall: [] } };
  const one = (withReport: boolean): void => {
    rmSync(out, { force: true });
    const r = runMeasured(process.execPath, [runner, riots, 'w1', a, b, out, ...(withReport ? [JSON.stringify({ report: html })] : [])]);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { applySeconds: number };
    const t = times[withReport ? 'with' : 'without'];
    t.apply.push(j.applySeconds);
    t.wall.push(r.wall);
  };
  one(false); // warm the page cache
  for (let i = 0; i < pairs; i++) {
    // alternate which goes first, so that a drifting host favours neither
    for (const w of i % 2 === 0 ? [false, true] : [true, false]) one(w);
  }
  const m = (k: 'without' | 'with', f: 'apply' | 'wall'): number => median(times[k][f]);
  console.log(`# report overhead, W1 ${size}², ${kind} data, ${machine()}; medians of ${pairs} alternating pairs`);
  console.log('| | apply() (s) | whole process (s) |');
  console.log('| --- | --- | --- |');
  console.log(
    `| without a report | ${m('without', 'apply').toFixed(3)} (${times.without.apply.map((x) => x.toFixed(2)).join(', ')}) | ${m('without', 'wall').toFixed(3)} |`,
  );
  console.log(
    `| with controls.report | ${m('with', 'apply').toFixed(3)} (${times.with.apply.map((x) => x.toFixed(2)).join(', ')}) | ${m('with', 'wall').toFixed(3)} |`,
  );
  console.log(
    `| overhead | ${((m('with', 'apply') / m('without', 'apply') - 1) * 100).toFixed(1)} % | ${((m('with', 'wall') / m('without', 'wall') - 1) * 100).toFixed(1)} % |`,
  );
  console.log(`report page ${(statSync(html).size / 1024).toFixed(0)} KB, its JSON ${(statSync(html.replace(/\.html$/, '.json')).size / 1024).toFixed(0)} KB`);
}
