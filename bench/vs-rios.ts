/**
 * W1 and W3 side by side with RIOS and with GDAL's own tools, on both kinds of input (smooth,
 * which compresses like imagery, and full-precision noise, which barely compresses): whole
 * processes, run in rotation, wall time, CPU (user + system, from GNU time) and peak RSS; the
 * ratios of the medians, and the median of the round-by-round ratios (each round's runs side by side).
 *
 * - W1: the mean of two N² Float32 inputs, GTiff with statistics, histogram and pyramids.
 *   GDAL tools: a VRT summing the inputs scaled by 0.5 (the `sum` pixel function), then
 *   `gdal_translate` with threaded deflate, `gdaladdo` (the levels riots and RIOS build) and
 *   `gdalinfo -stats -hist`, timed together.
 * - W3: B in EPSG:4326 resampled bilinearly onto A's N² UTM grid, A − B.
 * riots: built (bench/lib/built.ts), default controls (bench/lib/vsrios-run.mjs); RIOS: its own
 * applier from RIOTS_RIOS_SOURCE with GTiff output (bench/lib/rios-job.py). Without
 * RIOTS_RIOS_SOURCE, RIOS is left out and said so.
 * - The bound (W1, unless --no-bound): riots writing the same output without statistics,
 *   histogram or pyramids (`calcStats: false, omitPyramids: true`), in the same rotation. It is
 *   what riots' reads, user function, compression and start-up cost on this machine; its ratio to
 *   RIOS's whole job is the lowest ratio default riots could reach were the rest free.
 *
 * usage: [RIOTS_RIOS_SOURCE=/path/to/rios] node --import tsx bench/vs-rios.ts
 *          [--size 6000] [--repeats 3] [--jobs w1,w3] [--kinds smooth,noise] [--controls JSON] [--no-bound]
 *   (--controls: extra riots controls for every riots run, e.g. to compare a setting)
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildRiots } from './lib/built.js';
import { makeFloatInput, makeGeographicInput, OUT, type DataKind } from './lib/fixtures.js';
import { machine, median, runMeasured, type RunResult } from './lib/measure.js';
import { PYTHON, py } from '../test/helpers/py.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '6000' },
    repeats: { type: 'string', default: '3' },
    jobs: { type: 'string', default: 'w1,w3' },
    kinds: { type: 'string', default: 'smooth,noise' },
    controls: { type: 'string' },
    'no-bound': { type: 'boolean', default: false },
  },
});
/** Extra controls for every riots run (--controls), parsed once so that a typo stops the run at once. */
const extraControls = ((): object => {
  if (!values.controls) return {};
  try {
    return JSON.parse(values.controls) as object;
  } catch (err) {
    throw new Error(`--controls is not JSON: ${(err as Error).message}`, { cause: err });
  }
})();
const size = Number(values.size);
const repeats = Number(values.repeats);
const riosSource = process.env.RIOTS_RIOS_SOURCE;
const riots = buildRiots();
const CO = ['TILED=YES', 'COMPRESS=DEFLATE', 'INTERLEAVE=BAND', 'BIGTIFF=IF_SAFER', 'NUM_THREADS=ALL_CPUS'].flatMap((c) => ['-co', c]);

/** The overview levels riots and RIOS build by default: 4, 8, … while the overview keeps ≥ 128 pixels. */
const levels = [4, 8, 16, 32, 64, 128, 256, 512].filter((l) => size / l >= 128).map(String);

function sumVrt(a: string, b: string, file: string): string {
  const g = py<{ wkt: string; gt: number[] }>(`ds = gdal.Open(args['a']); out({'wkt': ds.GetProjection(), 'gt': list(ds.GetGeoTransform())})`, { a });
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const source = (f: string): string =>
    `<ComplexSource><SourceFilename relativeToVRT="0">${esc(f)}</SourceFilename><SourceBand>1</SourceBand><ScaleRatio>0.5</ScaleRatio></ComplexSource>`;
  writeFileSync(
    file,
    `<VRTDataset rasterXSize="${size}" rasterYSize="${size}"><SRS>${esc(g.wkt)}</SRS><GeoTransform>${g.gt.join(', ')}</GeoTransform>` +
      `<VRTRasterBand dataType="Float32" band="1" subClass="VRTDerivedRasterBand"><PixelFunctionType>sum</PixelFunctionType>` +
      `${source(a)}${source(b)}</VRTRasterBand></VRTDataset>\n`,
  );
  return file;
}

/** Several commands timed as one: wall and CPU summed, peak RSS the largest. */
function pipeline(steps: [string, string[]][]): RunResult {
  const rs = steps.map(([cmd, args]) => runMeasured(cmd, args));
  return { wall: rs.reduce((s, r) => s + r.wall, 0), cpu: rs.reduce((s, r) => s + r.cpu, 0), maxRssMB: Math.max(...rs.map((r) => r.maxRssMB)), stdout: '' };
}

type Who = 'riots' | 'riots bound' | 'RIOS' | 'GDAL tools';
/** The bound's controls: the same output, without statistics, histogram or pyramids. */
const BOUND = { calcStats: false, omitPyramids: true };
interface Case {
  job: string;
  kind: DataKind;
  a: string;
  b: string;
}

function runOnce(who: Who, c: Case): RunResult & { apply?: number; report?: string } {
  const out = path.join(OUT, `vsrios-${c.job}-${who.replace(' ', '')}.tif`);
  const clean = (): void => {
    for (const f of [out, `${out}.aux.xml`, `${out}.ovr`]) rmSync(f, { force: true });
  };
  clean();
  try {
    if (who === 'riots' || who === 'riots bound') {
      const args = [path.join(import.meta.dirname, 'lib', 'vsrios-run.mjs'), riots, c.job, c.a, c.b, out];
      const extra = { ...extraControls, ...(who === 'riots bound' ? BOUND : {}) };
      if (Object.keys(extra).length > 0) args.push(JSON.stringify(extra));
      const r = runMeasured(process.execPath, args);
      const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { applySeconds: number; report: string };
      return { ...r, apply: j.applySeconds, report: j.report };
    }
    if (who === 'RIOS') {
      const r = runMeasured(PYTHON, [path.join(import.meta.dirname, 'lib', 'rios-job.py'), c.job, c.a, c.b, out], {
        ...process.env,
        RIOTS_RIOS_SOURCE: riosSource,
      });
      const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { applySeconds: number };
      return { ...r, apply: j.applySeconds };
    }
    const vrt = sumVrt(c.a, c.b, path.join(OUT, 'vsrios-w1-sum.vrt'));
    return pipeline([
      ['gdal_translate', ['-q', ...CO, vrt, out]],
      ['gdaladdo', ['-q', '-r', 'nearest', out, ...levels]],
      ['gdalinfo', ['-stats', '-hist', out]],
    ]);
  } finally {
    clean();
  }
}

console.log(`# W1 and W3 against RIOS and GDAL's tools, ${size}², ${machine()}; medians of ${repeats}, runs in rotation`);
if (riosSource === undefined) console.log('# RIOS not measured: set RIOTS_RIOS_SOURCE to a folder with its source (see the parity suite)');
if (values.controls) console.log(`# riots with extra controls ${values.controls}`);
const rows: string[] = [];
const bounds: string[] = [];
for (const job of values.jobs.split(',')) {
  for (const kind of values.kinds.split(',') as DataKind[]) {
    const a = makeFloatInput('w1a', size, 1, { kind });
    const b = job === 'w1' ? makeFloatInput('w1b', size, 2, { kind }) : makeGeographicInput(size, kind);
    const c: Case = { job, kind, a, b };
    const who: Who[] = [
      'riots',
      ...(job === 'w1' && !values['no-bound'] ? (['riots bound'] as const) : []),
      ...(riosSource !== undefined ? (['RIOS'] as const) : []),
      ...(job === 'w1' ? (['GDAL tools'] as const) : []),
    ];
    const runs = new Map<Who, ReturnType<typeof runOnce>[]>(who.map((w) => [w, []]));
    runOnce('riots', c); // warm the page cache
    for (let i = 0; i < repeats; i++) for (const w of who) runs.get(w)!.push(runOnce(w, c));
    const m = (w: Who, k: 'wall' | 'cpu' | 'maxRssMB' | 'apply'): number => median(runs.get(w)!.map((r) => r[k] ?? NaN));
    const ratio = (mine: Who, w: Who, k: 'wall' | 'cpu'): string => (mine === w ? '' : (m(mine, k) / m(w, k)).toFixed(2));
    // Rounds run in rotation, so round i of riots and of `w` ran side by side: their ratio is
    // less exposed to the host drifting between rounds than the ratio of the medians.
    const paired = (mine: Who, w: Who, k: 'wall' | 'cpu'): string => {
      if (mine === w) return '';
      const ours = runs.get(mine)!;
      const theirs = runs.get(w)!;
      const lower = ours.filter((r, i) => r[k] < theirs[i]![k]).length;
      return `${median(ours.map((r, i) => r[k] / theirs[i]![k])).toFixed(2)} (riots lower in ${lower} of ${ours.length})`;
    };
    if (runs.has('riots bound')) {
      for (const w of who.filter((x) => x === 'RIOS' || x === 'GDAL tools')) {
        bounds.push(
          `| ${job.toUpperCase()} | ${kind} | ${w} | ${ratio('riots bound', w, 'wall')} | ${paired('riots bound', w, 'wall')} | ${ratio('riots bound', w, 'cpu')} | ${paired('riots bound', w, 'cpu')} |`,
        );
      }
    }
    for (const w of who) {
      const mine: Who = w === 'riots bound' ? w : 'riots';
      rows.push(
        `| ${job.toUpperCase()} | ${kind} | ${w} | ${m(w, 'wall').toFixed(2)} (${runs
          .get(w)!
          .map((r) => r.wall.toFixed(2))
          .join(
            ', ',
          )}) | ${m(w, 'cpu').toFixed(2)} | ${m(w, 'maxRssMB').toFixed(0)} | ${ratio(mine, w, 'wall')} | ${ratio(mine, w, 'cpu')} | ${paired(mine, w, 'wall')} | ${paired(mine, w, 'cpu')} |`,
      );
    }
    console.log(`\n## ${job.toUpperCase()} ${kind}: riots' last timing report\n${runs.get('riots')!.at(-1)!.report ?? ''}`);
  }
}
console.log(
  '\n| job | data | who | wall (s) (runs) | CPU (s) | peak RSS (MB) | riots / this, wall | riots / this, CPU | round by round, wall: median ratio | round by round, CPU: median ratio |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
if (bounds.length > 0) {
  console.log(`\n### The bound: riots with ${JSON.stringify(BOUND)} (the same output, no statistics, histogram or pyramids) against the others' whole jobs`);
  console.log('\n| job | data | against | wall: ratio of medians | wall: round by round | CPU: ratio of medians | CPU: round by round |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of bounds) console.log(r);
}
