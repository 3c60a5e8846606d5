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
 *
 * usage: [RIOTS_RIOS_SOURCE=/path/to/rios] node --import tsx bench/vs-rios.ts
 *          [--size 6000] [--repeats 3] [--jobs w1,w3] [--kinds smooth,noise] [--controls JSON]
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
  },
});
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

type Who = 'riots' | 'RIOS' | 'GDAL tools';
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
    if (who === 'riots') {
      const args = [path.join(import.meta.dirname, 'lib', 'vsrios-run.mjs'), riots, c.job, c.a, c.b, out];
      if (values.controls) args.push(values.controls);
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
for (const job of values.jobs.split(',')) {
  for (const kind of values.kinds.split(',') as DataKind[]) {
    const a = makeFloatInput('w1a', size, 1, { kind });
    const b = job === 'w1' ? makeFloatInput('w1b', size, 2, { kind }) : makeGeographicInput(size, kind);
    const c: Case = { job, kind, a, b };
    const who: Who[] = ['riots', ...(riosSource !== undefined ? (['RIOS'] as const) : []), ...(job === 'w1' ? (['GDAL tools'] as const) : [])];
    const runs = new Map<Who, ReturnType<typeof runOnce>[]>(who.map((w) => [w, []]));
    runOnce('riots', c); // warm the page cache
    for (let i = 0; i < repeats; i++) for (const w of who) runs.get(w)!.push(runOnce(w, c));
    const m = (w: Who, k: 'wall' | 'cpu' | 'maxRssMB' | 'apply'): number => median(runs.get(w)!.map((r) => r[k] ?? NaN));
    for (const w of who) {
      const ratio = (k: 'wall' | 'cpu'): string => (w === 'riots' ? '' : (m('riots', k) / m(w, k)).toFixed(2));
      // Rounds run in rotation, so round i of riots and of `w` ran side by side: their ratio is
      // less exposed to the host drifting between rounds than the ratio of the medians.
      const paired = (k: 'wall' | 'cpu'): string => {
        if (w === 'riots') return '';
        const mine = runs.get('riots')!;
        const theirs = runs.get(w)!;
        const lower = mine.filter((r, i) => r[k] < theirs[i]![k]).length;
        return `${median(mine.map((r, i) => r[k] / theirs[i]![k])).toFixed(2)} (riots lower in ${lower} of ${mine.length})`;
      };
      rows.push(
        `| ${job.toUpperCase()} | ${kind} | ${w} | ${m(w, 'wall').toFixed(2)} (${runs
          .get(w)!
          .map((r) => r.wall.toFixed(2))
          .join(
            ', ',
          )}) | ${m(w, 'cpu').toFixed(2)} | ${m(w, 'maxRssMB').toFixed(0)} | ${ratio('wall')} | ${ratio('cpu')} | ${paired('wall')} | ${paired('cpu')} |`,
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
