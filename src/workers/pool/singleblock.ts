/**
 * singleBlockComputeWorkers: no fixed pool. A worker is launched for every block, takes exactly
 * that one (credit 1, one task in its life), is told to shut down once its result is accepted,
 * and the next is launched as it goes, with at most `maxWorkers` alive at once. A lost worker's
 * block goes back to the queue and a new worker is launched for it; `maxStartFailures` workers in
 * a row that fail before they are ready stop the launching (no endless relaunching of workers
 * that cannot start).
 */

export class SingleBlockPolicy {
  /** Blocks of the run whose result has not been accepted yet (set once the plan is known). */
  blocksLeft = 0;
  /** Workers that failed or were lost before they were ready, since a worker was last ready. */
  private startFailures = 0;

  constructor(
    /** Workers alive at once, at most. */
    readonly maxWorkers: number,
    private readonly maxStartFailures: number,
  ) {}

  /** Blocks between read and write: room as in pool mode for the in-order writer, never more however many blocks the run has. */
  get capacity(): number {
    return 4 * this.maxWorkers;
  }

  readonly schedulerOptions = { credit: 1, tasksPerLifetime: 1 } as const;

  workerReady(): void {
    this.startFailures = 0;
  }

  workerFailedToStart(): void {
    this.startFailures++;
  }

  blockDone(): void {
    this.blocksLeft--;
  }

  /** The message when launching has stopped, or undefined while it goes on. */
  gaveUp(): string | undefined {
    return this.startFailures >= this.maxStartFailures
      ? `${this.startFailures} single-block workers in a row failed before they were ready, so no more are launched`
      : undefined;
  }

  /** How many workers to launch now: while fewer than maxWorkers are alive and fewer are working (launching, setting up, holding a block) than blocks are left. */
  toLaunch(slots: { live: ReadonlySet<{ state: string }> }): number {
    let working = 0;
    for (const s of slots.live) if (s.state !== 'finishing') working++;
    return Math.max(0, Math.min(this.maxWorkers - slots.live.size, this.blocksLeft - working));
  }

  /** The slots worth naming in an error: not those that did their block, and only the last 12. */
  forMessages<S extends { state: string }>(all: readonly S[]): { slots: S[]; more: string } {
    const others = all.filter((s) => s.state !== 'finished');
    const slots = others.slice(-12);
    return { slots, more: others.length > slots.length ? ` | and ${others.length - slots.length} earlier worker(s)` : '' };
  }
}
