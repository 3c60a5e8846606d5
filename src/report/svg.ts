/**
 * The run report's drawings as inline SVG: the block timeline, the phase chart and histograms.
 * Plain markup, no script: tooltips are SVG <title>s, so the page works with scripts off.
 */
import type { TimingsData } from '../timings.js';
import type { BlockEvents } from './recorder.js';

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f = (x: number, d = 3): string => x.toFixed(d);
/** The largest value (no spread: arrays of a million blocks would overflow the call stack). */
const maxOf = (xs: ArrayLike<number>): number => {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i]! > m) m = xs[i]!;
  return m;
};
const short = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

/** A block's window, for tooltips. */
export type WindowOf = (block: number) => { xoff: number; yoff: number; cols: number; rows: number } | null;

const LANE_H = 22;
/** Above this many block attempts, lanes show how busy they were instead of a mark per block. */
export const MAX_MARKS = 20_000;
const LEFT = 150;
const WIDTH = 1100;

/**
 * One lane per lane of `ev` (main reading, main user function, main writing, each worker); each
 * block attempt a mark (class `block`, with data-block and data-worker; lost attempts also
 * `lost`), reads and writes marks of class `io`. Lanes with nothing in them are left out.
 */
export function timelineSvg(ev: BlockEvents, windowOf: WindowOf): string {
  const used = new Set<number>([...ev.attempts.lane, ...ev.lost.map((l) => l.lane)]);
  if (ev.readStart.some((t) => t >= 0)) used.add(0);
  if (ev.writeStart.some((t) => t >= 0)) used.add(2);
  const lanes = ev.lanes.map((l, i) => ({ ...l, i })).filter((l) => used.has(l.i));
  const row = new Map(lanes.map((l, k) => [l.i, k]));
  // from the events alone, so that the page drawn again from the JSON is the same
  const span = Math.max(maxOf(ev.attempts.end), maxOf(ev.writeEnd), maxOf(ev.readEnd), maxOf(ev.lost.map((l) => l.at)), 1e-3);
  const x = (t: number): number => LEFT + (Math.max(0, t) / span) * (WIDTH - LEFT - 10);
  const w = (a: number, b: number): number => Math.max(1, x(b) - x(a));
  const y = (lane: number): number => 24 + row.get(lane)! * LANE_H;
  const height = 24 + lanes.length * LANE_H + 20;
  const win = (b: number): string => {
    const wnd = windowOf(b);
    return wnd ? `window x ${wnd.xoff}–${wnd.xoff + wnd.cols}, y ${wnd.yoff}–${wnd.yoff + wnd.rows} (${wnd.cols}×${wnd.rows})` : '';
  };
  const parts: string[] = [];
  parts.push(
    `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="block timeline">`,
  );
  for (let s = 0; s <= 10; s++) {
    const t = (span * s) / 10;
    const anchor = s === 0 ? 'start' : s === 10 ? 'end' : 'middle';
    parts.push(
      `<line class="grid" x1="${f(x(t), 1)}" x2="${f(x(t), 1)}" y1="18" y2="${height - 18}"/><text class="axis" text-anchor="${anchor}" x="${f(x(t), 1)}" y="${height - 4}">${f(t, span < 0.2 ? 3 : span < 20 ? 2 : 1)} s</text>`,
    );
  }
  for (const l of lanes) {
    parts.push(
      `<text class="lane" x="4" y="${y(l.i) + 14}">${esc(l.label)}</text><line class="lanebase" x1="${LEFT}" x2="${WIDTH - 10}" y1="${y(l.i) + LANE_H - 2}" y2="${y(l.i) + LANE_H - 2}"/>`,
    );
  }
  // reads and writes carry a short title: the block's own mark has its window and every time
  if (ev.attempts.block.length > MAX_MARKS) {
    occupancy(ev, parts, span, x, y);
    parts.push('</svg>');
    return parts.join('\n');
  }
  const io = (cls: string, lane: number, b: number, a: number, e: number, what: string): void => {
    if (a < 0 || e < 0) return;
    parts.push(
      `<rect class="io ${cls}" data-io-block="${b}" x="${f(x(a), 1)}" y="${y(lane) + 3}" width="${f(w(a, e), 1)}" height="${LANE_H - 8}"><title>block ${b} ${what}</title></rect>`,
    );
  };
  ev.readStart.forEach((a, b) => io('read', 0, b, a, ev.readEnd[b]!, 'read'));
  ev.writeStart.forEach((a, b) => io('write', 2, b, a, ev.writeEnd[b]!, 'written'));
  const at = ev.attempts;
  for (let k = 0; k < at.block.length; k++) {
    const b = at.block[k]!;
    const lane = at.lane[k]!;
    const a = at.start[k]!;
    const e = at.end[k]! >= 0 ? at.end[k]! : span;
    const lost = at.lost[k] === 1;
    const who = ev.lanes[lane]!;
    const worker = who.id.startsWith('worker:') ? who.id.slice('worker:'.length) : 'main';
    const detail = [
      `block ${b}${lost ? ' (lost with its worker, run again)' : ''}`,
      win(b),
      ev.readStart[b]! >= 0 ? `read ${f(ev.readStart[b]!)}–${f(ev.readEnd[b]!)} s` : '',
      `${who.label}: ${f(a)}–${at.end[k]! >= 0 ? f(e) : 'never returned'} s (${f((e - a) * 1000, 1)} ms)`,
      ev.writeStart[b]! >= 0 && !lost ? `written ${f(ev.writeStart[b]!)}–${f(ev.writeEnd[b]!)} s` : '',
    ].filter((s) => s !== '');
    parts.push(
      `<rect class="block${lost ? ' lost' : ''}" data-block="${b}" data-worker="${esc(worker)}" x="${f(x(a), 1)}" y="${y(lane) + 2}" width="${f(w(a, e), 1)}" height="${LANE_H - 6}"><title>${esc(detail.join('; '))}</title></rect>`,
    );
  }
  for (const l of ev.lost) {
    parts.push(
      `<path class="lostmark" d="M${f(x(l.at), 1)} ${y(l.lane)} l6 ${LANE_H - 4} h-12 z"><title>${esc(`${ev.lanes[l.lane]!.label} lost at ${f(l.at)} s: ${l.reason}`)}</title></path>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * Each lane's occupancy for runs too large for a mark per block: per pixel column of the chart,
 * the fraction of that time the lane was reading, computing or writing (class `busy`, opacity by
 * fraction). Lost attempts, being few, keep their own marks. Linear in the events, bounded in size.
 */
function occupancy(ev: BlockEvents, parts: string[], span: number, x: (t: number) => number, y: (lane: number) => number): void {
  const cols = Math.round(x(span) - x(0));
  const per = span / cols;
  const busy = new Map<number, Float64Array>();
  const add = (lane: number, a: number, e: number): void => {
    if (a < 0 || e < a) return;
    let c = busy.get(lane);
    if (!c) busy.set(lane, (c = new Float64Array(cols)));
    const c0 = Math.min(cols - 1, Math.floor(a / per));
    const c1 = Math.min(cols - 1, Math.floor(e / per));
    for (let k = c0; k <= c1; k++) c[k]! += Math.min(e, (k + 1) * per) - Math.max(a, k * per);
  };
  for (let b = 0; b < ev.readStart.length; b++) {
    add(0, ev.readStart[b]!, ev.readEnd[b]!);
    add(2, ev.writeStart[b]!, ev.writeEnd[b]!);
  }
  const at = ev.attempts;
  for (let k = 0; k < at.block.length; k++) {
    if (at.lost[k] === 1) {
      const who = ev.lanes[at.lane[k]!]!;
      const worker = who.id.startsWith('worker:') ? who.id.slice('worker:'.length) : 'main';
      const e = at.end[k]! >= 0 ? at.end[k]! : span;
      parts.push(
        `<rect class="block lost" data-block="${at.block[k]}" data-worker="${esc(worker)}" x="${f(x(at.start[k]!), 1)}" y="${y(at.lane[k]!) + 2}" width="${f(Math.max(1, x(e) - x(at.start[k]!)), 1)}" height="${LANE_H - 6}"><title>block ${at.block[k]} (lost with its worker, run again)</title></rect>`,
      );
    } else add(at.lane[k]!, at.start[k]!, at.end[k]! >= 0 ? at.end[k]! : span);
  }
  for (const [lane, c] of busy) {
    for (let k = 0; k < cols; k++) {
      // a worker lane can hold several blocks at once (its tasks): cap the shade at full
      const frac = Math.min(1, c[k]! / per);
      if (frac > 0.01)
        parts.push(`<rect class="busy" x="${f(x(0) + k, 1)}" y="${y(lane) + 2}" width="1" height="${LANE_H - 6}" fill-opacity="${f(frac, 2)}"/>`);
    }
  }
  parts.push(
    `<text class="axis" x="${LEFT}" y="14">${at.block.length} block attempts: each lane shaded by how busy it was; every block's times are in the JSON</text>`,
  );
}

/** Horizontal bars of seconds per phase (what formatReport() prints), waits in their own colour. */
export function phasesSvg(phases: TimingsData): string {
  const rows = Object.entries(phases).sort((a, b) => b[1].seconds - a[1].seconds);
  if (rows.length === 0) return '<p>No phases were timed.</p>';
  const max = Math.max(maxOf(rows.map(([, v]) => v.seconds)), 1e-9);
  const h = 20;
  const out = [`<svg class="phases" xmlns="http://www.w3.org/2000/svg" width="760" height="${rows.length * h + 8}" role="img" aria-label="seconds per phase">`];
  rows.forEach(([name, v], i) => {
    const bw = (v.seconds / max) * 420;
    out.push(
      `<text class="lane" x="4" y="${i * h + 15}">${esc(name)}</text><rect class="phase${name.startsWith('wait:') ? ' wait' : ''}" x="170" y="${i * h + 4}" width="${f(Math.max(1, bw), 1)}" height="${h - 6}"><title>${esc(name)}: ${f(v.seconds)} s in ${v.count} call(s)</title></rect><text class="axis" x="${f(176 + bw, 1)}" y="${i * h + 15}">${f(v.seconds)} s (${v.count})</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

/** A histogram's bars (counts over [min, max]). */
export function histogramSvg(h: { min: number; max: number; counts: number[] }): string {
  const W = 360;
  const H = 110;
  const n = h.counts.length;
  const top = Math.max(maxOf(h.counts), 1);
  const bw = W / Math.max(1, n);
  const bars = h.counts
    .map((c, i) =>
      c > 0 ? `<rect class="bar" x="${f(i * bw, 2)}" y="${f(H - (c / top) * H, 2)}" width="${f(Math.max(bw, 0.5), 2)}" height="${f((c / top) * H, 2)}"/>` : '',
    )
    .join('');
  return `<svg class="histogram" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + 16}" viewBox="0 0 ${W} ${H + 16}" role="img" aria-label="histogram">${bars}<text class="axis" x="0" y="${H + 13}">${esc(short(h.min))}</text><text class="axis" x="${W}" y="${H + 13}" text-anchor="end">${esc(short(h.max))}</text></svg>`;
}
