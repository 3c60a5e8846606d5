/**
 * calcStatsForFile and the `riots calcstats` / `riots printstats` commands on existing files,
 * checked against GDAL and numpy, and against the writer path on the same pixels.
 */
import { REPO_ROOT } from '../../helpers/root.js';
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, symlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compareWithGdaladdo, makeTestRaster, oracle, oracleStats, storedMetadata } from '../../helpers/oracle.js';
import { copyWithStats } from '../../helpers/statsdriver.js';
import { calcStatsForFile } from '../../../src/gdal/filestats.js';
import { statsOptionsFromEnv } from '../../../src/stats/plan.js';
import { Timings } from '../../../src/timings.js';
import { InputMissingError, InputNotRasterError } from '../../../src/errors.js';

const root = REPO_ROOT;
const dir = mkdtempSync(path.join(tmpdir(), 'riots-calcstats-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function riots(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function close(actual: number, expected: number, rel: number, what: string): void {
  const tol = rel * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

/** Overviews of two files, level by level, pixel-equal? */
function sameOverviews(a: string, b: string): boolean[] {
  return oracle<boolean[]>(
    `
DA = gdal.Open(args['a']); DB = gdal.Open(args['b'])
A = DA.GetRasterBand(1); B = DB.GetRasterBand(1)
assert A.GetOverviewCount() == B.GetOverviewCount(), (A.GetOverviewCount(), B.GetOverviewCount())
out([bool(np.array_equal(A.GetOverview(i).ReadAsArray(), B.GetOverview(i).ReadAsArray())) for i in range(A.GetOverviewCount())])
`,
    { a, b },
  );
}

describe('calcStatsForFile', () => {
  test('Float32 with the file nodata: same as the writer path, and as GDAL and numpy', async () => {
    const src = path.join(dir, 'f32.tif');
    makeTestRaster({
      path: src,
      cols: 1000,
      rows: 777,
      dtype: 'Float32',
      expr: 'rng.normal(10, 3, (rows, cols)).astype(np.float32)',
      nodata: -1,
      nodataFraction: 0.07,
      seed: 21,
    });
    const target = path.join(dir, 'f32_calc.tif');
    copyFileSync(src, target);
    const t = new Timings();
    await calcStatsForFile(target, statsOptionsFromEnv({ overviewMinDim: 20 }, {}), t, { nodataFromFile: true });
    assert.ok(t.get('basicstats') > 0 && t.get('histogram') > 0 && t.get('pyramids') > 0);
    const written = path.join(dir, 'f32_written.tif');
    await copyWithStats(src, written, { nodata: -1, overviewMinDim: 20 });
    const a = storedMetadata(target)[0]!;
    const b = storedMetadata(written)[0]!;
    for (const k of [
      'STATISTICS_MINIMUM',
      'STATISTICS_MAXIMUM',
      'STATISTICS_HISTOMIN',
      'STATISTICS_HISTOMAX',
      'STATISTICS_HISTONUMBINS',
      'STATISTICS_HISTOBINVALUES',
      'STATISTICS_HISTOBINFUNCTION',
      'STATISTICS_MEDIAN',
      'STATISTICS_MODE',
      'STATISTICS_VALID_PERCENT',
    ]) {
      assert.equal(a[k], b[k], k);
    }
    close(Number(a.STATISTICS_MEAN), Number(b.STATISTICS_MEAN), 1e-12, 'mean');
    close(Number(a.STATISTICS_STDDEV), Number(b.STATISTICS_STDDEV), 1e-12, 'stddev');
    const o = oracleStats(target, path.join(dir, 'f32_copy.tif'), -1)[0]!;
    assert.ok(o.copyHadNoStats);
    close(Number(a.STATISTICS_MEAN), o.gdal![2], 1e-9, 'mean vs GDAL');
    close(Number(a.STATISTICS_STDDEV), o.gdal![3], 1e-9, 'stddev vs GDAL');
    assert.deepEqual(a.STATISTICS_HISTOBINVALUES!.split('|').slice(0, -1).map(Number), o.hist!.counts);
    assert.deepEqual(sameOverviews(target, written), [true, true, true, true]);
    for (const lv of compareWithGdaladdo(target, path.join(dir, 'f32_copy2.tif'), [4, 8, 16, 32], 'nearest')[0]!) assert.ok(lv.equal, `level ${lv.level}`);
  });

  test('old overviews are replaced by the chosen levels', async () => {
    const f = path.join(dir, 'old_ovr.tif');
    makeTestRaster({ path: f, cols: 800, rows: 600, dtype: 'Byte', expr: '(r + c) % 200', seed: 2 });
    spawnSync('gdaladdo', ['-q', f, '2', '3']);
    await calcStatsForFile(f, statsOptionsFromEnv({ overviewLevels: [4, 8], overviewMinDim: 10, nodata: null }, {}), new Timings());
    const sizes = oracle<number[][]>(
      `d = gdal.Open(args['f'])\nb = d.GetRasterBand(1)\nout([[b.GetOverview(i).XSize, b.GetOverview(i).YSize] for i in range(b.GetOverviewCount())])`,
      { f },
    );
    assert.deepEqual(sizes, [
      [200, 150],
      [100, 75],
    ]);
  });

  test('missing file and non-raster are typed errors', async () => {
    const opts = statsOptionsFromEnv({}, {});
    await assert.rejects(calcStatsForFile(path.join(dir, 'nope.tif'), opts, new Timings()), InputMissingError);
    const txt = path.join(dir, 'notraster.tif');
    writeFileSync(txt, 'hello, not a raster\n');
    await assert.rejects(calcStatsForFile(txt, opts, new Timings()), (e: unknown) => e instanceof InputNotRasterError && e.file === txt);
  });
});

describe('riots calcstats / printstats', () => {
  test('--help for both commands', () => {
    for (const cmd of ['calcstats', 'printstats']) {
      const r = riots([cmd, '--help']);
      assert.equal(r.status, 0);
      assert.match(r.stdout, new RegExp(`^usage: riots ${cmd}`));
    }
  });

  test('calcstats --ignore with AVERAGE pyramids, then printstats prints what GDAL reads back', () => {
    const f = path.join(dir, 'cli_i16.tif');
    makeTestRaster({ path: f, cols: 900, rows: 650, dtype: 'Int16', expr: 'rng.integers(-40, 90, (rows, cols))', nodata: null, seed: 4 });
    const r = riots(['calcstats', f, '--ignore', '-7', '--overview-agg', 'average', '--overview-min-dim', '20']);
    assert.equal(r.status, 0, r.stderr);
    const md = storedMetadata(f)[0]!;
    const o = oracleStats(f, path.join(dir, 'cli_i16_copy.tif'), -7)[0]!;
    assert.equal(Number(md.STATISTICS_MINIMUM), o.numpy!.min);
    close(Number(md.STATISTICS_MEAN), o.numpy!.mean, 1e-9, 'mean');
    assert.equal(md.STATISTICS_HISTOBINFUNCTION, 'direct');
    assert.deepEqual(md.STATISTICS_HISTOBINVALUES!.split('|').slice(0, -1).map(Number), o.hist!.counts);
    // 650 // 32 = 20 is not > 20: three levels by RIOS's rule
    for (const lv of compareWithGdaladdo(f, path.join(dir, 'cli_i16_copy2.tif'), [4, 8, 16], 'average')[0]!) assert.ok(lv.equal, `level ${lv.level}`);
    const p = riots(['printstats', f]);
    assert.equal(p.status, 0, p.stderr);
    const field = (name: string): string => {
      const m = new RegExp(`^\\s+${name}:\\s+(\\S+)`, 'm').exec(p.stdout);
      assert.ok(m, `printstats shows ${name}:\n${p.stdout}`);
      return m[1]!;
    };
    assert.equal(Number(field('nodata')), -7);
    assert.equal(Number(field('minimum')), o.numpy!.min);
    assert.equal(Number(field('maximum')), o.numpy!.max);
    close(Number(field('mean')), o.numpy!.mean, 1e-9, 'printed mean');
    close(Number(field('stddev')), o.numpy!.std, 1e-9, 'printed stddev');
    assert.equal(Number(field('median')), o.hist!.median);
    assert.equal(Number(field('mode')), o.hist!.mode);
    assert.match(p.stdout, new RegExp(`histogram:\\s+${o.hist!.numBins} direct bins`));
    assert.match(p.stdout, /overviews:\s+225x163, 113x82, 57x41$/m);
  });

  test("calcstats --approx: statistics from the pyramid level GDAL samples, equal to GDAL's own approximate statistics", () => {
    const f = path.join(dir, 'cli_approx.tif');
    makeTestRaster({ path: f, cols: 2400, rows: 1800, dtype: 'Float32', expr: 'rng.normal(50, 12, (rows, cols)).astype(np.float32)', nodata: null, seed: 8 });
    const r = riots(['calcstats', f, '--approx', '--ignore', '-9999']);
    assert.equal(r.status, 0, r.stderr);
    const md = storedMetadata(f)[0]!;
    assert.equal(md.STATISTICS_APPROXIMATE, 'YES');
    assert.equal(md.STATISTICS_SKIPFACTORX, undefined, 'not every pixel was counted');
    // GDAL's approximate statistics read the same level (at least 2500 pixels): recomputed by
    // GDAL on the file riots wrote, without storing anything
    const g = oracle<{ stats: number[]; sampled: number[]; n: number; hist: number }>(
      `
gdal.SetConfigOption('GDAL_PAM_ENABLED', 'NO')
ds = gdal.Open(args['f']); b = ds.GetRasterBand(1)
ov = min((b.GetOverview(i) for i in range(b.GetOverviewCount()) if b.GetOverview(i).XSize * b.GetOverview(i).YSize >= 2500), key=lambda o: o.XSize * o.YSize)
a = ov.ReadAsArray().astype(np.float64)
out({'stats': list(b.ComputeStatistics(True)), 'sampled': [ov.XSize, ov.YSize], 'n': int(a.size),
     'hist': int(sum(int(x) for x in b.GetMetadataItem('STATISTICS_HISTOBINVALUES').split('|') if x != ''))})
`,
      { f },
    );
    assert.deepEqual(g.sampled, [300, 225], `the smallest level with at least 2500 pixels (8) was sampled (${g.sampled.join('x')})`);
    assert.equal(Number(md.STATISTICS_MINIMUM), g.stats[0]);
    assert.equal(Number(md.STATISTICS_MAXIMUM), g.stats[1]);
    close(Number(md.STATISTICS_MEAN), g.stats[2]!, 1e-9, 'mean');
    close(Number(md.STATISTICS_STDDEV), g.stats[3]!, 1e-6, 'stddev');
    assert.equal(g.hist, g.n, 'the histogram counts the sampled level');
  });

  test('--no-ignore counts every pixel; env vars set the pyramid defaults', () => {
    const f = path.join(dir, 'cli_noig.tif');
    makeTestRaster({ path: f, cols: 700, rows: 500, dtype: 'Byte', expr: 'rng.integers(0, 5, (rows, cols))', nodata: 0, seed: 8 });
    const r = riots(['calcstats', '--no-ignore', '-q', f], { RIOS_DFLT_OVERVIEWLEVELS: '2,4', RIOS_DFLT_MINOVERLEVELDIM: '100' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    const md = storedMetadata(f)[0]!;
    const o = oracleStats(f, path.join(dir, 'cli_noig_copy.tif'), null)[0]!;
    assert.equal(Number(md.STATISTICS_MINIMUM), 0);
    assert.equal(Number(md.STATISTICS_VALID_PERCENT), 100);
    assert.deepEqual(md.STATISTICS_HISTOBINVALUES!.split('|').slice(0, -1).map(Number), o.hist!.counts);
    const p = riots(['printstats', '--json', f]);
    const rep = JSON.parse(p.stdout) as { bands: { overviews: { x: number; y: number }[] }[] };
    assert.deepEqual(rep.bands[0]!.overviews, [
      { x: 350, y: 250 },
      { x: 175, y: 125 },
    ]);
  });

  test('printstats --json of several files is one JSON array; a reader that stops early ends it quietly', async () => {
    const f = path.join(dir, 'bare2.tif');
    makeTestRaster({ path: f, cols: 30, rows: 20, dtype: 'Byte', expr: 'r + c', nodata: null });
    const one = JSON.parse(riots(['printstats', '--json', f]).stdout) as { path: string };
    assert.equal(one.path, f);
    const two = JSON.parse(riots(['printstats', '--json', f, f]).stdout) as { path: string }[];
    assert.deepEqual(
      two.map((r) => r.path),
      [f, f],
    );
    // `riots printstats MANY | head -1`: the reader closes after its first chunk
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'printstats', ...Array<string>(400).fill(f)], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE|Error/);
  });

  test('printstats on a file with nothing stored says so', () => {
    const f = path.join(dir, 'bare.tif');
    makeTestRaster({ path: f, cols: 50, rows: 40, bands: 2, dtype: 'Float64', expr: 'r * 1.5 + c', nodata: null });
    const p = riots(['printstats', f]);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /50 x 40, 2 band\(s\) of Float64/);
    assert.equal(p.stdout.match(/no statistics stored/g)?.length, 2);
    assert.equal(p.stdout.match(/overviews:\s+none/g)?.length, 2);
    assert.equal(p.stdout.match(/nodata:\s+none/g)?.length, 2);
  });

  test('a missing file fails with its error code and name', () => {
    const f = path.join(dir, 'missing.tif');
    for (const cmd of ['calcstats', 'printstats']) {
      const r = riots([cmd, f]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /INPUT_MISSING/);
      assert.ok(r.stderr.includes(f));
    }
  });
});

test('calcstats writes each file once, however it is named (a.tif, ./a.tif, a link to it)', () => {
  const d = mkdtempSync(path.join(dir, 'same-'));
  const a = path.join(d, 'a.tif');
  makeTestRaster({ path: a, cols: 64, rows: 64, dtype: 'Byte', expr: '(r + c) % 200' });
  symlinkSync(a, path.join(d, 'link.tif'));
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href,
      path.join(root, 'src/cli/main.ts'),
      'calcstats',
      'a.tif',
      './a.tif',
      'link.tif',
      '--omit-pyramids',
    ],
    {
      cwd: d,
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(':')[0]),
    ['a.tif'],
    'one pass',
  );
  assert.match(r.stderr, /\.\/a\.tif is the same file as a\.tif: done once/);
  assert.match(r.stderr, /link\.tif is the same file as a\.tif: done once/);
  const md = storedMetadata(a)[0]!;
  assert.equal(Number(md.STATISTICS_MINIMUM), 0);
  assert.equal(Number(md.STATISTICS_MAXIMUM), 126);
});

test('thematic files: calcstats counts per class into the RAT Histogram column; printstats shows the table, the colour table, and a histogram kept only in the table', () => {
  const file = path.join(dir, 'classes.img');
  oracle(
    `
ds = gdal.GetDriverByName('HFA').Create(args['p'], 90, 70, 1, gdal.GDT_Int16)
b = ds.GetRasterBand(1); b.WriteArray(((np.arange(6300).reshape(70, 90) * 7) % 19).astype(np.int16))
b.SetMetadataItem('LAYER_TYPE', 'thematic'); b = None; ds = None
out(True)
`,
    { p: file },
  );
  const r = riots(['calcstats', '--no-ignore', '-q', file]);
  assert.equal(r.status, 0, r.stderr);
  const o = oracle<{ hist: number[]; counts: number[]; usage: number; lb: unknown[] }>(
    `
ds = gdal.Open(args['p']); b = ds.GetRasterBand(1); t = b.GetDefaultRAT()
names = [t.GetNameOfCol(i) for i in range(t.GetColumnCount())]
i = names.index('Histogram')
out({'hist': t.ReadAsArray(i).tolist(), 'counts': np.bincount(b.ReadAsArray().ravel()).tolist(), 'usage': t.GetUsageOfCol(i), 'lb': list(t.GetLinearBinning())})
`,
    { p: file },
  );
  assert.deepEqual(o.hist, o.counts, 'a thematic file already marked so is counted per class, into its table');
  assert.equal(o.usage, 1);
  const p = riots(['printstats', '--json', file]);
  assert.equal(p.status, 0, p.stderr);
  const band = (JSON.parse(p.stdout) as { bands: { rat: { rows: number; columns: string[] }; stats: { layerType: string } }[] }).bands[0]!;
  assert.equal(band.stats.layerType, 'thematic');
  assert.equal(band.rat.rows, o.counts.length);
  assert.ok(band.rat.columns.includes('Histogram'));

  // a table written by another tool: a histogram in the table only, and a colour table
  const other = path.join(dir, 'other.tif');
  oracle(
    `
ds = gdal.GetDriverByName('GTiff').Create(args['p'], 10, 10, 1, gdal.GDT_Byte)
b = ds.GetRasterBand(1); b.WriteArray(np.zeros((10, 10), np.uint8))
r = gdal.RasterAttributeTable(); r.CreateColumn('Count', gdal.GFT_Integer, gdal.GFU_PixelCount); r.SetRowCount(4)
for i, v in enumerate([5, 0, 90, 5]): r.SetValueAsInt(i, 0, v)
b.SetDefaultRAT(r)
ct = gdal.ColorTable(); ct.SetColorEntry(3, (1, 2, 3, 255)); b.SetColorTable(ct); b = None; ds = None
out(True)
`,
    { p: other },
  );
  const text = riots(['printstats', other]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /histogram: +4 direct bins from 0 to 3, 100 pixels counted, fullest bin 2 \(90 pixels, value 2\)/);
  assert.match(text.stdout, /RAT: +4 rows; columns Count/);
  assert.match(text.stdout, /colours: +a colour table of 256 entries/); // GTiff pads a Byte palette to 256
});
