/**
 * W1 with 3 CW_AWSBATCH workers on the local AWS endpoint (jobs are local processes, 5 s start
 * delay, counted) against the sequential W1, both as the wall time of apply() in a child process.
 * Target: Batch <= 1.5 x sequential + the start delay.
 *
 * The endpoint runs in this process (so each run is an async child: the endpoint must stay
 * responsive); the stack comes from aws/batch.yaml. The user function is written to
 * bench/out/w1-awsbatch-fn.ts (generated, like the inputs) so that the workers can import it.
 *
 * Workers run riots built to JavaScript by default, as in the worker image (aws/install.sh builds
 * riots): it is compiled once into bench/out/riots-built/ (dist/ + links to this checkout's
 * package.json and node_modules) and the endpoint's `riots` command points there.
 * `--workers-from source` runs them from src/ through tsx instead, as the tests do.
 *
 * The main process (sequential and Batch runs alike) also runs that built riots by default, as a
 * user's script does with riots installed from npm or in the main image; `--main-from source`
 * runs it from src/ under tsx.
 *
 * `--jobs containers` runs the worker jobs as containers of the worker image instead
 * (`riots batch local --containers`): the image tagged `riots` locally (build it first with
 * `riots batch build-image`) is pushed to the endpoint's registry, and bench/out is mounted into
 * the containers; `--jobs both` runs the two side by side, alternating. Each run also reports the
 * start-up of each worker: from its job's submission to its connection to the main, less the
 * start delay.
 *
 * usage: node --import tsx bench/w1-awsbatch.ts [--trace] [--size 6000] [--repeats 2] [--workers-read both|yes|no] [--workers-from built|source] [--main-from built|source] [--jobs processes|containers|both] [--data smooth,noise]
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startLocalAws, type LocalAws } from '../src/aws/local/server.js';
import { WORKER_TAG, ecrLogin, pushImage } from '../src/aws/images.js';
import { chooseEngine } from '../src/containerengine.js';
import { dataKinds, makeFloatInput, OUT } from './lib/fixtures.js';
import { machine, median, runApplyChild } from './lib/measure.js';
import { buildRiots } from './lib/built.js';
import { writeW1MeanModule } from './lib/w1fn.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const START_DELAY = 5;
const WORKERS = 3;

if (process.argv[2] === '--run') {
  // child: one apply(), prints {applySeconds, report}; riotsRoot: a built riots, else the sources
  const [, , , a, b, out, fnPath, conc, riotsRoot] = process.argv;
  const fromRoot = (rel: string): string => pathToFileURL(path.join(riotsRoot!, 'dist', rel)).href;
  const { apply } = (await import(riotsRoot ? fromRoot('index.js') : '../src/index.js')) as typeof import('../src/index.js');
  const fn = ((await import(fnPath!)) as { mean: Parameters<typeof apply>[0] }).mean;
  // --trace: when each worker was launched (job submitted), connected, ready, gave its first and
  // last result, and ended, in seconds from the call to apply()
  const trace: string[] = [];
  let t0 = performance.now();
  // each worker's launch and connection, for its start-up
  const launched = new Map<number, number>();
  const startup: number[] = [];
  const { default: diagnostics } = await import('node:diagnostics_channel');
  const { WORKER_EVENTS } = (await import(riotsRoot ? fromRoot('index.js') : '../src/index.js')) as typeof import('../src/index.js');
  diagnostics.subscribe(WORKER_EVENTS, (m) => {
    const e = m as { event: string; workerId?: number };
    if (e.event === 'launched') launched.set(e.workerId!, performance.now());
    if (e.event === 'connected' && launched.has(e.workerId!)) startup.push((performance.now() - launched.get(e.workerId!)!) / 1000);
  });
  if (process.env.RIOTS_BENCH_TRACE) {
    const firstResult = new Set<number>();
    let last = '';
    diagnostics.subscribe(WORKER_EVENTS, (m) => {
      const e = m as { event: string; workerId?: number };
      const at = `${((performance.now() - t0) / 1000).toFixed(2).padStart(6)} s  worker ${e.workerId ?? '-'}  `;
      if (e.event === 'result') {
        if (!firstResult.has(e.workerId!)) trace.push(`${at}first result`);
        firstResult.add(e.workerId!);
        last = `${at}last result (of all)`;
      } else if (e.event !== 'dispatched') trace.push(`${at}${e.event}`);
      if (e.event === 'finished' && last) {
        trace.push(last);
        last = '';
      }
    });
  }
  t0 = performance.now();
  const r = await apply(
    fn,
    { a: a!, b: b! },
    { mean: out! },
    { controls: { statsIgnore: null, ...(conc && conc !== '-' ? { concurrency: JSON.parse(conc) } : {}) } },
  );
  const applySeconds = (performance.now() - t0) / 1000;
  trace.push(`${applySeconds.toFixed(2).padStart(6)} s  apply() returns (main's peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB)`);
  process.stdout.write(JSON.stringify({ applySeconds, report: r.formatReport(), trace: trace.join('\n'), startup }) + '\n');
  process.exit(0);
}

const { values } = parseArgs({
  options: {
    trace: { type: 'boolean', default: false },
    size: { type: 'string', default: '6000' },
    repeats: { type: 'string', default: '2' },
    'workers-read': { type: 'string', default: 'both' },
    'workers-from': { type: 'string', default: 'built' },
    'main-from': { type: 'string', default: 'built' },
    jobs: { type: 'string', default: 'processes' },
    data: { type: 'string' },
  },
});
const size = Number(values.size);
const repeats = Number(values.repeats);
const readModes = values['workers-read'] === 'both' ? [false, true] : [values['workers-read'] === 'yes'];

mkdirSync(OUT, { recursive: true });
const workersFrom = values['workers-from'] === 'source' ? 'source' : 'built';
const mainFrom = values['main-from'] === 'source' ? 'source' : 'built';
const builtRoot = workersFrom === 'built' || mainFrom === 'built' ? buildRiots() : undefined;
const mainRoot = mainFrom === 'built' ? builtRoot! : '';
// the user function imports defineUserFunction from the riots the main runs
const fnPath = mainRoot
  ? writeW1MeanModule(path.join(OUT, 'w1-awsbatch-fn-dist.mjs'), path.join(mainRoot, 'dist', 'index.js'))
  : writeW1MeanModule(path.join(OUT, 'w1-awsbatch-fn.ts'), path.join(ROOT, 'src', 'index.ts'));

const runChild = (args: string[], env: NodeJS.ProcessEnv) => runApplyChild(path.join(import.meta.dirname, 'w1-awsbatch.ts'), args, env);

const riotsCommand = workersFrom === 'built' ? [process.execPath, path.join(builtRoot!, 'dist', 'cli', 'main.js')] : undefined;
const jobModes: JobMode[] = values.jobs === 'both' ? ['processes', 'containers'] : [values.jobs === 'containers' ? 'containers' : 'processes'];
const { createBatchStack } = await import('../test/helpers/localaws.js');

type JobMode = 'processes' | 'containers';
/** An endpoint whose jobs run as processes, or as containers of the pushed worker image. */
async function endpoint(mode: JobMode): Promise<LocalAws> {
  if (mode === 'processes') {
    const aws = await startLocalAws({ startDelaySeconds: START_DELAY, stackDelaySeconds: 0.2, ...(riotsCommand ? { riotsCommand } : {}) });
    await createBatchStack(aws);
    return aws;
  }
  const engine = await chooseEngine();
  const aws = await startLocalAws({ startDelaySeconds: START_DELAY, stackDelaySeconds: 0.2, containers: { engine, mounts: [{ path: OUT, writable: false }] } });
  const outputs = await createBatchStack(aws);
  const saved = { ...process.env };
  Object.assign(process.env, aws.env);
  try {
    await ecrLogin(engine, aws.region, outputs.BatchECR!);
    await pushImage(engine, WORKER_TAG, outputs.BatchECR!, 30 * 60_000);
  } finally {
    for (const k of Object.keys(aws.env)) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
  }
  return aws;
}

const endpoints = new Map<JobMode, LocalAws>();
try {
  for (const m of jobModes) endpoints.set(m, await endpoint(m));
  const envOf = (m: JobMode): NodeJS.ProcessEnv => ({
    ...process.env,
    ...endpoints.get(m)!.env,
    RIOTS_CHANNEL_ADDRESS: '127.0.0.1',
    ...(values.trace ? { RIOTS_BENCH_TRACE: '1' } : {}),
  });
  for (const dataKind of dataKinds(values.data)) {
    const a = makeFloatInput('w1a', size, 1, { kind: dataKind });
    const b = makeFloatInput('w1b', size, 2, { kind: dataKind });
    console.log(
      `W1 with ${WORKERS} CW_AWSBATCH workers as ${jobModes.join(' and as ')} (riots ${workersFrom === 'built' ? 'built to JS' : 'from source via tsx'}; main ${mainFrom === 'built' ? 'built to JS' : 'from source via tsx'}) on the local endpoint (start delay ${START_DELAY} s), ${size}x${size}, ${dataKind} data, on ${machine()}`,
    );
    const seq: number[] = [];
    const key = (m: JobMode, read: boolean): string => `${m}, computeWorkersRead ${read}`;
    const batch = new Map<string, { times: number[]; startup: number[] }>();
    for (const m of jobModes) for (const read of readModes) batch.set(key(m, read), { times: [], startup: [] });
    let lastReport = '';
    for (let i = 0; i < repeats; i++) {
      const out = path.join(OUT, `w1aws-seq-${size}.tif`);
      rmSync(out, { force: true });
      seq.push((await runChild([a, b, out, fnPath, '-', mainRoot], envOf(jobModes[0]!))).applySeconds);
      for (const m of jobModes) {
        for (const read of readModes) {
          const outB = path.join(OUT, `w1aws-batch-${read}-${size}.tif`);
          rmSync(outB, { force: true });
          const conc = { computeWorkerKind: 'CW_AWSBATCH', numComputeWorkers: WORKERS, computeWorkersRead: read, ...(read ? {} : { numReadWorkers: 1 }) };
          const r = await runChild([a, b, outB, fnPath, JSON.stringify(conc), mainRoot], envOf(m));
          const rec = batch.get(key(m, read))!;
          rec.times.push(r.applySeconds);
          rec.startup.push(...(r.startup ?? []).map((x) => x - START_DELAY));
          lastReport = r.report;
          if (values.trace) console.log(`trace, ${key(m, read)}, run ${i + 1}:\n${r.trace}`);
        }
      }
    }
    const s = median(seq);
    console.log(`sequential apply():                 median ${s.toFixed(2)} s (runs: ${seq.map((x) => x.toFixed(2)).join(', ')})`);
    for (const [k, { times, startup }] of batch) {
      const m = median(times);
      const target = 1.5 * s + START_DELAY;
      console.log(
        `CW_AWSBATCH x${WORKERS} as ${k.padEnd(35)}: median ${m.toFixed(2)} s (runs: ${times.map((x) => x.toFixed(2)).join(', ')}); ` +
          `target <= 1.5 x ${s.toFixed(2)} + ${START_DELAY} = ${target.toFixed(2)} s: ${m <= target ? 'met' : 'NOT met'}; ` +
          `worker start-up beyond the start delay: median ${median(startup).toFixed(2)} s (${startup.length} workers)`,
      );
    }
    console.log(`last CW_AWSBATCH timing report:\n${lastReport}`);
  }
} finally {
  for (const aws of endpoints.values()) await aws.close();
}
