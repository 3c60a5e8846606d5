/**
 * A main process for interruption tests: runs apply() with CW_SUBPROC workers and reports on
 * stdout, one line each: `PID <worker pid>` when a worker process is launched (whether or not it
 * has connected yet), `RESULT <n>` per block received, then `DONE` or `ERROR <code> <message>`.
 * With CRASH, the process dies at the 5th result, outside riots, while apply() runs: `throw`
 * raises an uncaught exception (exit code 1), `exit` calls process.exit(7).
 * usage: node --import tsx test/helpers/subprocrun.ts A B OUT USERMODULE WORKERS [CRASH]
 */
import diagnostics from 'node:diagnostics_channel';
import { pathToFileURL } from 'node:url';
import { apply } from '../../src/applier/apply.js';
import { WORKER_EVENTS, type WorkerEvent } from '../../src/workers/pool/events.js';
import { subprocControls } from './subproc.js';

const [a, b, out, mod, n, crash] = process.argv.slice(2);
let results = 0;
diagnostics.subscribe(WORKER_EVENTS, (m) => {
  const e = m as WorkerEvent;
  if (e.event === 'launched') process.stdout.write(`PID ${e.handle.replace(/^pid /, '')}\n`);
  if (e.event === 'result') process.stdout.write(`RESULT ${++results}\n`);
  if (e.event === 'result' && results === 5 && crash === 'throw') {
    setImmediate(() => {
      throw new Error('an error elsewhere in the program');
    });
  }
  if (e.event === 'result' && results === 5 && crash === 'exit') process.exit(7);
});
const fn = ((await import(pathToFileURL(mod!).href)) as { combine: Parameters<typeof apply>[0] }).combine;
try {
  await apply(fn, { a: a!, b: b! }, { out: out! }, { controls: subprocControls(Number(n)), otherArgs: { busyMs: 20 } });
  process.stdout.write('DONE\n');
} catch (err) {
  const e = err as Error & { code?: string };
  process.stdout.write(`ERROR ${e.code ?? e.name} ${e.message}\n`);
}
