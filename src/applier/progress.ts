/**
 * Progress on stderr: a live bar on a TTY, plain percentage lines otherwise.
 */

export interface ProgressReporter {
  update(done: number, total: number): void;
  finish(): void;
}

export function makeProgress(stream: NodeJS.WriteStream = process.stderr, label = 'riots', unit = 'blocks'): ProgressReporter {
  const tty = Boolean(stream.isTTY);
  let lastPercent = -1;
  let lastDraw = 0;
  const t0 = performance.now();
  return {
    update(done: number, total: number): void {
      const pct = total === 0 ? 100 : Math.floor((100 * done) / total);
      if (tty) {
        const now = performance.now();
        if (pct === lastPercent && now - lastDraw < 200 && done !== total) return;
        lastDraw = now;
        lastPercent = pct;
        const width = Math.max(10, Math.min(50, (stream.columns ?? 80) - 40));
        const filled = Math.round((width * pct) / 100);
        const secs = (now - t0) / 1000;
        const eta = done > 0 ? (secs * (total - done)) / done : 0;
        stream.write(
          `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${done}/${total} ${unit}, ${secs.toFixed(1)} s` +
            (done < total && done > 0 ? `, ~${eta.toFixed(0)} s left ` : '  '),
        );
      } else {
        // a line every 10 %, and at the end
        const step = Math.floor(pct / 10) * 10;
        if (step > lastPercent || (done === total && lastPercent < 100)) {
          lastPercent = done === total ? 100 : step;
          stream.write(`${label}: ${done === total ? 100 : step}% (${done}/${total} ${unit})\n`);
        }
      }
    },
    finish(): void {
      if (tty) stream.write('\n');
    },
  };
}
