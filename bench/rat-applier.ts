/**
 * The RAT applier on a large table: over a 5,000,000-row HFA raster attribute table, add one
 * Float64 column computed from two others (c = 2a + b). riots' `ratapplier.apply` (compiled
 * riots, blockLen 100000) against the same job in Python GDAL and numpy (`ReadAsArray` of the two
 * columns, `CreateColumn`, `WriteArray`: the floor RIOS's ratapplier sits on), alternating, each
 * a whole process on a fresh copy of the file; riots as it runs (it tunes its heap when a run
 * starts, src/gdal/heap.ts, so that freed chunk arrays serve the next chunk instead of fresh pages
 * being faulted in) and with that tuning off (RIOTS_MALLOC_TUNING=0: glibc's defaults). Reported: whole-process wall time, the job's own
 * time inside each process (after imports), and peak RSS; then riots' peak RSS at 1M, 5M and 20M
 * rows and at blockLen 100000 and 1000000, which should follow the chunk, not the table.
 *
 * With RIOTS_RIOS_SOURCE set (a folder holding RIOS's source, as for test/integration/riosparity.test.ts),
 * RIOS's own ratapplier runs the same job beside them.
 *
 * usage: [RIOTS_RIOS_SOURCE=/path/to/rios] node --import tsx bench/rat-applier.ts [--rows 5000000] [--repeats 5]
 */
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildRiots } from './lib/built.js';
import { OUT } from './lib/fixtures.js';
import { machine, median, runMeasured } from './lib/measure.js';
import { PYTHON, py } from '../test/helpers/py.js';
import { MALLOC_TUNING_ENV } from '../src/gdal/heap.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '5000000' }, repeats: { type: 'string', default: '5' } } });
const rows = Number(values.rows);
const repeats = Number(values.repeats);

function makeTable(n: number): string {
  const file = path.join(OUT, `rat-${n}.img`);
  if (existsSync(file)) return file;
  py(
    `
ds = gdal.GetDriverByName('HFA').Create(args['p'], 100, 100, 1, gdal.GDT_Int32)
b = ds.GetRasterBand(1); rng = np.random.default_rng(1); n = args['n']
r = b.GetDefaultRAT(); r.SetRowCount(n)
for i, (name, u) in enumerate([('Histogram', gdal.GFU_PixelCount), ('a', gdal.GFU_Generic), ('b', gdal.GFU_Generic)]):
    r.CreateColumn(name, gdal.GFT_Real, u)
    r.WriteArray(rng.random(n) * 1000, i)
b = None; ds = None
out(True)
`,
    { p: file, n },
  );
  return file;
}

const riots = buildRiots();
const RIOTS_JOB = `
const t0 = performance.now();
const { ratapplier } = await import(${JSON.stringify(path.join(riots, 'dist', 'index.js'))});
(await import(${JSON.stringify(path.join(riots, 'dist', 'gdal', 'ratffi.js'))})).ratApi(); // gdal-async and koffi loaded, as Python's job starts with osgeo imported
const t1 = performance.now();
await ratapplier.apply((_info, inputs, outputs) => {
  const a = inputs.t.a, b = inputs.t.b, c = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) c[i] = 2 * a[i] + b[i];
  outputs.t.c = c;
}, { t: process.argv[1] }, { t: process.argv[1] }, { controls: { blockLen: Number(process.argv[2]) } });
console.log(JSON.stringify({ job: (performance.now() - t1) / 1000, imports: (t1 - t0) / 1000 }));
`;
const PY_JOB = `
import sys, time, json
t0 = time.perf_counter()
from osgeo import gdal
import numpy as np
t1 = time.perf_counter()
ds = gdal.Open(sys.argv[1], gdal.GA_Update); r = ds.GetRasterBand(1).GetDefaultRAT()
idx = {r.GetNameOfCol(i): i for i in range(r.GetColumnCount())}
c = 2 * r.ReadAsArray(idx['a']) + r.ReadAsArray(idx['b'])
r.CreateColumn('c', gdal.GFT_Real, gdal.GFU_Generic); r.WriteArray(c, r.GetColumnCount() - 1)
r = None; ds = None
print(json.dumps({'job': time.perf_counter() - t1, 'imports': t1 - t0}))
`;

interface One {
  wall: number;
  job: number;
  rss: number;
}
// RIOS's own ratapplier, when RIOTS_RIOS_SOURCE names its source (as for the parity suite)
const RIOS_JOB = `
import sys, time, json, types
t0 = time.perf_counter()
import numpy
if not hasattr(numpy, 'dtypes'):
    numpy.dtypes = types.SimpleNamespace()   # numpy 1.24 (Debian 12) has no numpy.dtypes; RIOS only asks hasattr
from rios import ratapplier
t1 = time.perf_counter()
def fn(info, inputs, outputs):
    outputs.t.c = 2 * inputs.t.a + inputs.t.b
i = ratapplier.RatAssociations(); o = ratapplier.RatAssociations()
i.t = ratapplier.RatHandle(sys.argv[1]); o.t = ratapplier.RatHandle(sys.argv[1])
c = ratapplier.RatApplierControls(); c.setBlockLength(100000)
ratapplier.apply(fn, i, o, controls=c)
print(json.dumps({'job': time.perf_counter() - t1, 'imports': t1 - t0}))
`;
const riosSource = process.env.RIOTS_RIOS_SOURCE;

type Kind = 'riots' | 'riots-untuned' | 'python' | 'rios';
function run(kind: Kind, table: string, blockLen = 100_000): One {
  const work = path.join(OUT, `rat-work-${kind}.img`);
  rmSync(work, { force: true });
  copyFileSync(table, work);
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  delete env[MALLOC_TUNING_ENV];
  if (kind === 'riots-untuned') env[MALLOC_TUNING_ENV] = '0';
  if (kind === 'rios') env.PYTHONPATH = riosSource;
  const r =
    kind === 'python' || kind === 'rios'
      ? runMeasured(PYTHON, ['-c', kind === 'rios' ? RIOS_JOB : PY_JOB, work], env)
      : runMeasured(process.execPath, ['--input-type=module', '-e', RIOTS_JOB, work, String(blockLen)], env);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { job: number };
  rmSync(work, { force: true });
  return { wall: r.wall, job: j.job, rss: r.maxRssMB };
}

const table = makeTable(rows);
run('riots', table); // warm the page cache and the compiled module cache
run('python', table);
const rs: One[] = [];
const ts: One[] = [];
const ps: One[] = [];
const rios: One[] = [];
if (riosSource === undefined) console.log('# RIOS not measured: set RIOTS_RIOS_SOURCE to a folder with its source (see the parity suite)');
for (let i = 0; i < repeats; i++) {
  rs.push(run('riots', table));
  ts.push(run('riots-untuned', table));
  ps.push(run('python', table));
  if (riosSource !== undefined) rios.push(run('rios', table));
}
const m = (xs: One[], k: keyof One): number => median(xs.map((x) => x[k]));
console.log(`# RAT applier, ${rows} rows (HFA): c = 2a + b; ${machine()}; medians of ${repeats}`);
console.log('| | whole process (s) | the job in the process (s) | peak RSS (MB) |');
console.log('| --- | --- | --- | --- |');
console.log(`| riots ratapplier (blockLen 100000) | ${m(rs, 'wall').toFixed(3)} | ${m(rs, 'job').toFixed(3)} | ${m(rs, 'rss').toFixed(0)} |`);
console.log(`| Python GDAL + numpy, whole columns | ${m(ps, 'wall').toFixed(3)} | ${m(ps, 'job').toFixed(3)} | ${m(ps, 'rss').toFixed(0)} |`);
console.log(`| riots, RIOTS_MALLOC_TUNING=0 (glibc's defaults) | ${m(ts, 'wall').toFixed(3)} | ${m(ts, 'job').toFixed(3)} | ${m(ts, 'rss').toFixed(0)} |`);
console.log(
  `| ratio riots / Python | ${(m(rs, 'wall') / m(ps, 'wall')).toFixed(2)} | ${(m(rs, 'job') / m(ps, 'job')).toFixed(2)} | ${(m(rs, 'rss') / m(ps, 'rss')).toFixed(2)} |`,
);
if (rios.length > 0) {
  console.log(`| RIOS ratapplier (blockLen 100000) | ${m(rios, 'wall').toFixed(3)} | ${m(rios, 'job').toFixed(3)} | ${m(rios, 'rss').toFixed(0)} |`);
  console.log(
    `| ratio riots / RIOS | ${(m(rs, 'wall') / m(rios, 'wall')).toFixed(2)} | ${(m(rs, 'job') / m(rios, 'job')).toFixed(2)} | ${(m(rs, 'rss') / m(rios, 'rss')).toFixed(2)} |`,
  );
  console.log(
    `| ratio riots untuned / RIOS | ${(m(ts, 'wall') / m(rios, 'wall')).toFixed(2)} | ${(m(ts, 'job') / m(rios, 'job')).toFixed(2)} | ${(m(ts, 'rss') / m(rios, 'rss')).toFixed(2)} |`,
  );
}
console.log(
  `| ratio riots untuned / Python | ${(m(ts, 'wall') / m(ps, 'wall')).toFixed(2)} | ${(m(ts, 'job') / m(ps, 'job')).toFixed(2)} | ${(m(ts, 'rss') / m(ps, 'rss')).toFixed(2)} |`,
);

console.log('\n# riots peak RSS by table size and chunk size');
console.log('| rows | blockLen | job (s) | peak RSS (MB) |');
console.log('| --- | --- | --- | --- |');
const small = makeTable(rows / 5);
const large = makeTable(rows * 4);
for (const [t, n, bl] of [
  [small, rows / 5, 100_000],
  [table, rows, 100_000],
  [table, rows, 1_000_000],
  [large, rows * 4, 100_000],
] as const) {
  const r = run('riots', t, bl);
  console.log(`| ${n} | ${bl} | ${r.job.toFixed(3)} | ${r.rss.toFixed(0)} |`);
}
