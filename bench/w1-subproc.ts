/**
 * W1 with 2 CW_SUBPROC workers against the sequential W1: the mean of two 6000x6000 Float32 tiled
 * deflate GTiff inputs, written as GTiff with statistics, histogram and pyramids. Each run is
 * apply() in its own child process, sequential and subprocess runs alternating; the figure is the
 * wall time of apply() (worker start-up included). Target: CW_SUBPROC <= 1.25 x sequential.
 *
 * usage: node --import tsx bench/w1-subproc.ts [--size 6000] [--repeats 3] [--workers 2] [--workers-read both|yes|no] [--from built|source] [--riots DIR] [--data smooth,noise]
 *        [--kind CW_SUBPROC|CW_SLURM|CW_PBS] [--extra JSON]
 *
 * By default riots is compiled to JavaScript first (bench/lib/built.ts) and main and workers run
 * that, as installed, each run's main being plain node running bench/lib/w1-run.mjs (as for W1). `--from source` runs this checkout's sources under tsx instead (which
 * compiles riots' TypeScript as each worker starts); `--riots DIR` runs the riots built in DIR
 * (package.json, dist/ and node_modules/).
 *
 * `--kind CW_SLURM` runs the workers as SLURM jobs instead, `--kind CW_PBS` as PBS jobs (qsub/qstat/qdel;
 * here SLURM's Torque wrappers). SLURM_CONF must reach the cluster, e.g.
 * the one of test/slurm/start.sh. Both run with haveSharedTemp and `--extra` as computeWorkerExtraParams:
 * what the batch-queue path costs over local processes on the same machine.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { dataKinds, makeFloatInput, OUT } from './lib/fixtures.js';
import { machine, median, runApplyChild, runMeasuredAsync } from './lib/measure.js';
import { buildRiots } from './lib/built.js';
import { writeW1MeanModule } from './lib/w1fn.js';

const ROOT = path.resolve(import.meta.dirname, '..');

if (process.argv[2] === '--run') {
  // child: one apply(), prints {applySeconds, report}
  const [, , , a, b, out, fnPath, conc, riotsRoot] = process.argv;
  const entry = riotsRoot ? pathToFileURL(path.join(riotsRoot, 'dist', 'index.js')).href : '../src/index.js';
  const { apply } = (await import(entry)) as typeof import('../src/index.js');
  const fn = ((await import(fnPath!)) as { mean: Parameters<typeof apply>[0] }).mean;
  const t0 = performance.now();
  const r = await apply(
    fn,
    { a: a!, b: b! },
    { mean: out! },
    { controls: { statsIgnore: null, ...(conc && conc !== '-' ? { concurrency: JSON.parse(conc) } : {}) } },
  );
  process.stdout.write(JSON.stringify({ applySeconds: (performance.now() - t0) / 1000, report: r.formatReport() }) + '\n');
  process.exit(0);
}

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '6000' },
    repeats: { type: 'string', default: '3' },
    workers: { type: 'string', default: '2' },
    'workers-read': { type: 'string', default: 'both' },
    riots: { type: 'string' },
    from: { type: 'string', default: 'built' },
    kind: { type: 'string', default: 'CW_SUBPROC' },
    extra: { type: 'string', default: '{}' },
    data: { type: 'string' },
  },
});
const kind = values.kind;
if (kind !== 'CW_SUBPROC' && kind !== 'CW_SLURM' && kind !== 'CW_PBS') throw new Error(`--kind must be CW_SUBPROC, CW_SLURM or CW_PBS (got ${kind})`);
const extra = JSON.parse(values.extra) as Record<string, unknown>;
const riotsRoot = values.riots ? path.resolve(values.riots) : values.from === 'source' ? undefined : buildRiots();
const size = Number(values.size);
const repeats = Number(values.repeats);
const workers = Number(values.workers);
const readModes = values['workers-read'] === 'both' ? [false, true] : [values['workers-read'] === 'yes'];

mkdirSync(OUT, { recursive: true });
const fnPath = path.join(OUT, riotsRoot ? 'w1-subproc-fn-dist.mjs' : 'w1-subproc-fn.ts');
const ufModule = riotsRoot ? path.join(riotsRoot, 'dist', 'index.js') : path.join(ROOT, 'src', 'index.ts');
writeW1MeanModule(fnPath, ufModule);

// Built riots: each run is plain node running bench/lib/w1-run.mjs, as a user's script with riots
// from npm runs (the W1 benchmark's runner). From source: this file under tsx, whose loader hooks
// every import the run makes (the worker kinds' modules load at apply() time, so the subprocess
// runs paid more of it than the sequential ones).
const runner = path.join(import.meta.dirname, 'lib', 'w1-run.mjs');
const runChild = async (args: string[]): Promise<{ applySeconds: number; report: string }> => {
  if (!riotsRoot) return runApplyChild(path.join(import.meta.dirname, 'w1-subproc.ts'), args);
  const [a, b, out, fn, conc] = args;
  const r = await runMeasuredAsync(process.execPath, [runner, riotsRoot, fn!, a!, b!, out!, ...(conc && conc !== '-' ? [conc] : [])]);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { applySeconds: number; report: string };
};

for (const dataKind of dataKinds(values.data)) {
  const a = makeFloatInput('w1a', size, 1, { kind: dataKind });
  const b = makeFloatInput('w1b', size, 2, { kind: dataKind });
  console.log(
    `W1 with ${workers} ${kind} workers, ${size}x${size}, ${dataKind} data, riots ${riotsRoot ? `built, from ${riotsRoot}` : 'from its sources under tsx'}, on ${machine()}`,
  );
  const seq: number[] = [];
  const sub = new Map<boolean, number[]>(readModes.map((m) => [m, []]));
  const reports = new Map<string, string>();
  for (let i = 0; i < repeats; i++) {
    const out = path.join(OUT, `w1-subproc-seq-${size}.tif`);
    rmSync(out, { force: true });
    const s = await runChild([a, b, out, fnPath, '-', riotsRoot ?? '']);
    seq.push(s.applySeconds);
    reports.set('sequential', s.report);
    for (const read of readModes) {
      const o = path.join(OUT, `w1-subproc-${read ? 'read' : 'noread'}-${size}.tif`);
      rmSync(o, { force: true });
      const conc = {
        computeWorkerKind: kind,
        numComputeWorkers: workers,
        computeWorkersRead: read,
        ...(read ? {} : { numReadWorkers: 1 }),
        ...(kind === 'CW_SLURM' || kind === 'CW_PBS' ? { haveSharedTemp: true } : {}),
        computeWorkerExtraParams: extra,
      };
      const r = await runChild([a, b, o, fnPath, JSON.stringify(conc), riotsRoot ?? '']);
      sub.get(read)!.push(r.applySeconds);
      reports.set(`${kind} computeWorkersRead=${read}`, r.report);
    }
  }
  const ms = median(seq);
  console.log(`sequential apply():                      median ${ms.toFixed(2)} s  (runs: ${seq.map((x) => x.toFixed(2)).join(', ')})`);
  for (const [read, xs] of sub) {
    const m = median(xs);
    console.log(
      `${kind} x${workers}, computeWorkersRead=${String(read).padEnd(5)}: median ${m.toFixed(2)} s  (runs: ${xs.map((x) => x.toFixed(2)).join(', ')})  ratio ${(m / ms).toFixed(2)}${kind === 'CW_SUBPROC' ? ' (target <= 1.25)' : ''}`,
    );
  }
  for (const [k, r] of reports) console.log(`\nlast timing report, ${k}:\n${r}`);
}
