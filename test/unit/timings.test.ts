/**
 * The timing report: totals per phase, one column per worker for a few workers, and the spread
 * across workers (min, median, max) when there are many (single-block runs: one per block).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Timings, formatTimingsReport } from '../../src/index.js';
import { MAX_WORKER_COLUMNS } from '../../src/timings.js';

function workers(n: number): { total: Timings; per: Map<number, Timings> } {
  const total = new Timings();
  const per = new Map<number, Timings>();
  for (let w = 0; w < n; w++) {
    const t = new Timings();
    t.add('userfunction', (w + 1) * 0.5);
    if (w % 2 === 0) t.add('reading', 0.25);
    per.set(w, t);
    total.merge(t);
  }
  return { total, per };
}

test('a few workers: one column each, blank where a worker had no such phase', () => {
  const { total, per } = workers(3);
  const lines = formatTimingsReport(total, 4.5, per).split('\n');
  assert.match(lines[0]!, /^phase\s+seconds\s+calls\s+worker 0\s+worker 1\s+worker 2$/);
  const uf = lines
    .find((l) => l.startsWith('userfunction'))!
    .trim()
    .split(/\s+/);
  assert.deepEqual(uf, ['userfunction', '3.000', '3', '0.500', '1.000', '1.500']);
  const rd = lines.find((l) => l.startsWith('reading'))!;
  assert.deepEqual(rd.trim().split(/\s+/), ['reading', '0.500', '2', '0.250', '0.250']);
  assert.match(lines.at(-1)!, /^wall time\s+4\.500/);
});

test('many workers: min, median and max across those that had the phase', () => {
  const n = MAX_WORKER_COLUMNS + 13;
  const { total, per } = workers(n);
  const lines = formatTimingsReport(total, 60, per).split('\n');
  assert.match(lines[0]!, new RegExp(`^phase\\s+seconds\\s+calls\\s+min of ${n} workers\\s+median\\s+max$`));
  assert.ok(!lines[0]!.includes('worker 0'));
  // userfunction: 0.5, 1.0, ..., n*0.5; median of 21 values is the 11th: 5.5
  const uf = lines
    .find((l) => l.startsWith('userfunction'))!
    .trim()
    .split(/\s+/);
  assert.deepEqual(uf.slice(3), ['0.500', (((n + 1) / 2) * 0.5).toFixed(3), (n * 0.5).toFixed(3)]);
  const rd = lines
    .find((l) => l.startsWith('reading'))!
    .trim()
    .split(/\s+/);
  assert.deepEqual(rd.slice(3), ['0.250', '0.250', '0.250']);
  assert.ok(
    lines.every((l) => l.length < 120),
    'the report stays narrow',
  );
});
