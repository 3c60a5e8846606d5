/**
 * The timeline drawing (src/report/svg.ts) on synthetic events: a mark per block attempt for
 * ordinary runs; for runs above MAX_MARKS attempts, per-lane occupancy of bounded size, lost
 * attempts still marked; and the recorder's bookkeeping of a block handed out twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BlockEvents } from '../../../src/report/recorder.js';
import { RunRecorder } from '../../../src/report/recorder.js';
import { MAX_MARKS, timelineSvg } from '../../../src/report/svg.js';

/** n blocks, each read for 1 ms, computed for 2 ms by worker (b % 2), written for 1 ms, back to back; block `lostBlock` first lost on worker 0. */
function events(n: number, lostBlock: number): BlockEvents {
  const ev: BlockEvents = {
    lanes: [
      { id: 'main:read', label: 'main: reading' },
      { id: 'main:compute', label: 'main: user function' },
      { id: 'main:write', label: 'main: writing' },
      { id: 'worker:0', label: 'worker 0' },
      { id: 'worker:1', label: 'worker 1' },
    ],
    readStart: [],
    readEnd: [],
    writeStart: [],
    writeEnd: [],
    attempts: { block: [], lane: [], start: [], end: [], lost: [] },
    lost: [{ lane: 3, at: lostBlock * 0.001 + 0.002, reason: 'killed' }],
  };
  for (let b = 0; b < n; b++) {
    const t = b * 0.001;
    ev.readStart.push(t);
    ev.readEnd.push(t + 0.001);
    if (b === lostBlock) {
      ev.attempts.block.push(b);
      ev.attempts.lane.push(3);
      ev.attempts.start.push(t + 0.001);
      ev.attempts.end.push(t + 0.002);
      ev.attempts.lost.push(1);
    }
    ev.attempts.block.push(b);
    ev.attempts.lane.push(b === lostBlock ? 4 : 3 + (b % 2));
    ev.attempts.start.push(t + 0.001);
    ev.attempts.end.push(t + 0.003);
    ev.attempts.lost.push(0);
    ev.writeStart.push(t + 0.003);
    ev.writeEnd.push(t + 0.004);
  }
  return ev;
}

const count = (svg: string, re: RegExp): number => svg.match(re)?.length ?? 0;

test('one mark per block attempt, the lost one marked, on its worker lane', () => {
  const svg = timelineSvg(events(100, 40), () => null);
  assert.equal(count(svg, /<rect class="block"/g), 100);
  assert.equal(count(svg, /<rect class="block lost" data-block="40" data-worker="0"/g), 1);
  assert.equal(count(svg, /<rect class="io read"/g), 100);
  assert.equal(count(svg, /<rect class="io write"/g), 100);
  assert.match(svg, /worker 0 lost at 0\.042 s: killed/);
});

test('above MAX_MARKS attempts: occupancy per lane, bounded in size, lost attempts still marked', () => {
  const n = MAX_MARKS * 3;
  const svg = timelineSvg(events(n, 12345), () => null);
  assert.equal(count(svg, /<rect class="block"/g), 0);
  assert.equal(count(svg, /<rect class="block lost" data-block="12345"/g), 1);
  const busy = count(svg, /<rect class="busy"/g);
  assert.ok(busy > 0 && busy <= 5 * 1000, `${busy} occupancy columns`);
  assert.ok(svg.length < 1_000_000, `${svg.length} characters`);
  // the read lane was busy a third of the time, each worker lane about one: shades say so
  assert.match(svg, new RegExp(`${n + 1} block attempts`));
});

test('the recorder: a block handed out again ends its first attempt as lost', () => {
  const r = new RunRecorder(3, performance.now());
  r.readStarted(0);
  r.readEnded(0);
  r.dispatched(0, 1);
  r.dispatched(0, 2); // worker 1 lost it
  r.computed(0);
  r.dispatched(1, undefined);
  r.computed(1);
  const ev = r.toJSON();
  assert.deepEqual(ev.attempts.block, [0, 0, 1]);
  assert.deepEqual(ev.attempts.lost, [1, 0, 0]);
  assert.deepEqual(
    ev.attempts.lane.map((l) => ev.lanes[l]!.id),
    ['worker:1', 'worker:2', 'main:compute'],
  );
  assert.ok(ev.attempts.end.every((t) => t >= 0));
  assert.deepEqual(ev.readStart.slice(1), [-1, -1], 'blocks never read are -1');
});
