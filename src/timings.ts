/**
 * Timings: wall-clock totals per phase, mergeable across workers, with a readable report.
 */

/** Phases riots reports. Waits are phases too ("wait:..."), so that idle time is visible. */
export type Phase =
  | 'reading'
  | 'userfunction'
  | 'writing'
  | 'basicstats'
  | 'histogram'
  | 'pyramids'
  | 'closing'
  | 'startup'
  | 'wait:readbuffer'
  | 'wait:computebuffer'
  | 'wait:writebuffer'
  | 'wait:workers'
  | (string & {});

export type TimingsData = Record<string, { seconds: number; count: number }>;

export class Timings {
  private readonly totals = new Map<string, { seconds: number; count: number }>();

  /** Add a measured duration (seconds) to a phase. */
  add(phase: Phase, seconds: number, count = 1): void {
    const t = this.totals.get(phase);
    if (t) {
      t.seconds += seconds;
      t.count += count;
    } else {
      this.totals.set(phase, { seconds, count });
    }
  }

  /** Time a synchronous or asynchronous function under a phase. */
  async time<T>(phase: Phase, fn: () => T | Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(phase, (performance.now() - t0) / 1000);
    }
  }

  timeSync<T>(phase: Phase, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.add(phase, (performance.now() - t0) / 1000);
    }
  }

  /** Start a stopwatch; call the returned function to record. */
  start(phase: Phase): () => number {
    const t0 = performance.now();
    return () => {
      const s = (performance.now() - t0) / 1000;
      this.add(phase, s);
      return s;
    };
  }

  get(phase: Phase): number {
    return this.totals.get(phase)?.seconds ?? 0;
  }

  phases(): string[] {
    return [...this.totals.keys()];
  }

  merge(other: Timings | TimingsData): void {
    const data = other instanceof Timings ? other.toJSON() : other;
    for (const [k, v] of Object.entries(data)) this.add(k, v.seconds, v.count);
  }

  toJSON(): TimingsData {
    return Object.fromEntries([...this.totals].map(([k, v]) => [k, { ...v }]));
  }

  static fromJSON(data: TimingsData): Timings {
    const t = new Timings();
    t.merge(data);
    return t;
  }
}

const ORDER = ['startup', 'reading', 'userfunction', 'writing', 'basicstats', 'histogram', 'pyramids', 'closing'];

/** More workers than this get summary columns in the report instead of one column each. */
export const MAX_WORKER_COLUMNS = 8;

/**
 * A readable table of phase totals and the wall time, with one column per worker when given
 * (or, beyond {@link MAX_WORKER_COLUMNS} workers, the least, median and most across them).
 */
export function formatTimingsReport(total: Timings, wallSeconds: number, perWorker?: Map<number, Timings>): string {
  const phases = [...total.phases()].sort((a, b) => {
    const ia = ORDER.indexOf(a);
    const ib = ORDER.indexOf(b);
    // code-unit order: the phases are ASCII names, and localeCompare's first call costs ~8 ms (ICU's collator)
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || (a < b ? -1 : a > b ? 1 : 0);
  });
  const workers = perWorker ? [...perWorker.keys()].sort((a, b) => a - b) : [];
  // One column per worker up to a point; beyond it (single-block runs have a worker per block)
  // the spread across workers: least, median and most of those that had the phase.
  const summarise = workers.length > MAX_WORKER_COLUMNS;
  const extraHead = summarise ? [`min of ${workers.length} workers`, 'median', 'max'] : workers.map((w) => `worker ${w}`);
  const extraCells = (p: string): string[] => {
    if (!summarise) return workers.map((w) => (perWorker!.get(w)!.get(p) ? perWorker!.get(w)!.get(p).toFixed(3) : ''));
    const xs = workers
      .map((w) => perWorker!.get(w)!.get(p))
      .filter((x) => x > 0)
      .sort((a, b) => a - b);
    if (xs.length === 0) return ['', '', ''];
    const mid = xs.length % 2 ? xs[(xs.length - 1) / 2]! : (xs[xs.length / 2 - 1]! + xs[xs.length / 2]!) / 2;
    return [xs[0]!, mid, xs[xs.length - 1]!].map((x) => x.toFixed(3));
  };
  const head = ['phase', 'seconds', 'calls', ...extraHead];
  const rows = phases.map((p) => [p, total.get(p).toFixed(3), String(total.toJSON()[p]?.count ?? 0), ...extraCells(p)]);
  rows.push(['wall time', wallSeconds.toFixed(3), '', ...extraHead.map(() => '')]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
