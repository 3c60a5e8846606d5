/**
 * A main process for the CW_SLURM and CW_PBS interruption tests: runs apply() with 2 workers whose
 * jobs are held pending (sbatch --begin=now+1hour; qsub -h) and prints `JOB <id>` as each is
 * submitted, then `ALL` once both are. With `exit` it then calls process.exit(7) in the middle of
 * the run; else it waits (for a signal), and prints `DONE` or `ERROR <code> <message>` when
 * apply() settles.
 * usage: node --import tsx test/helpers/slurmrun.ts A B OUT USERMODULE exit|wait [CW_SLURM|CW_PBS]
 */
import diagnostics from 'node:diagnostics_channel';
import { pathToFileURL } from 'node:url';
import { apply } from '../../src/applier/apply.js';
import { WORKER_EVENTS, type WorkerEvent } from '../../src/workers/pool/events.js';
import { hpcControls } from './slurm.js';

const [a, b, out, mod, mode, kind = 'CW_SLURM'] = process.argv.slice(2);
let launched = 0;
diagnostics.subscribe(WORKER_EVENTS, (m) => {
  const e = m as WorkerEvent;
  if (e.event !== 'launched') return;
  process.stdout.write(`JOB ${e.handle.replace(/^job /, '')}\n`);
  if (++launched === 2) {
    process.stdout.write('ALL\n');
    if (mode === 'exit') process.exit(7);
  }
});
const fn = ((await import(pathToFileURL(mod!).href)) as { combine: Parameters<typeof apply>[0] }).combine;
try {
  await apply(
    fn,
    { a: a!, b: b! },
    { out: out! },
    {
      controls: hpcControls(kind === 'CW_PBS' ? 'CW_PBS' : 'CW_SLURM', 2, {
        extra: kind === 'CW_PBS' ? { qsubOptions: '-h' } : { sbatchOptions: '--begin=now+1hour' },
        barrier: 120,
      }),
    },
  );
  process.stdout.write('DONE\n');
} catch (err) {
  const e = err as Error & { code?: string };
  process.stdout.write(`ERROR ${e.code ?? e.name} ${e.message}\n`);
}
