/**
 * Data types beyond the classic seven. Int8 (GDAL 3.7+): written where GDAL has the type, else
 * refused naming the output. Int64 and UInt64 (GDAL 3.5+): inputs arrive as BigInt64Array / BigUint64Array blocks, outputs
 * are written exactly beyond 2^53, statistics and histograms agree with numpy over the values as
 * doubles (as GDAL computes them), NEAREST overviews take the pixels gdaladdo takes (exactly,
 * where GDAL 3.6's gdaladdo itself rounds 64-bit values), and runs with compute
 * workers write the same bytes as a sequential run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apply, OutputError } from '../../../src/index.js';
import { makeRaster, py } from '../../helpers/py.js';
import { bigInts } from '../../helpers/userfns.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-int64-'));
  makeRaster({ path: f('a.tif'), cols: 300, rows: 260, dtype: 'Int32', expr: '(r * 1000 - c * 37 - 5000)' });
  // 64-bit inputs whose values need all 64 bits: numpy writes them exactly
  py(
    `
from osgeo import osr
r, c = np.mgrid[0:260, 0:300]
for name, dt, arr, nd in [('i64.tif', gdal.GDT_Int64, (np.int64(2) ** 62 + r.astype(np.int64) * 1000003 - c.astype(np.int64) * 7919) * np.where(c % 2 == 0, 1, -1), None),
                          ('u64.tif', gdal.GDT_UInt64, np.uint64(2) ** 63 + r.astype(np.uint64) * np.uint64(10000019) + c.astype(np.uint64), None)]:
    ds = gdal.GetDriverByName('GTiff').Create(args['dir'] + '/' + name, 300, 260, 1, dt, ['TILED=YES', 'COMPRESS=DEFLATE'])
    s = osr.SpatialReference(); s.ImportFromEPSG(32755)
    ds.SetProjection(s.ExportToWkt()); ds.SetGeoTransform([500000, 30, 0, 6100000, 0, -30])
    ds.GetRasterBand(1).WriteArray(arr)
    ds = None
ds = gdal.GetDriverByName('GTiff').Create(args['dir'] + '/small64.tif', 300, 260, 1, gdal.GDT_Int64)
ds.SetProjection(s.ExportToWkt()); ds.SetGeoTransform([500000, 30, 0, 6100000, 0, -30])
ds.GetRasterBand(1).WriteArray(np.int64(2) ** 50 + r.astype(np.int64) * 100003 + c)
ds = None
out(True)
`,
    { dir },
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The oracle: pixels exact as int64/uint64, and statistics over the values as float64. */
function check(out: string, expectExpr: string, overviewLevels: number[]): void {
  const r = py<{ type: string; exact: boolean; stats: Record<string, number>; numpy: Record<string, number>; hist: boolean; overviews: boolean[] }>(
    `
ds = gdal.Open(args['out']); b = ds.GetRasterBand(1)
got = b.ReadAsArray()
ia = gdal.Open(args['a']).ReadAsArray() if args['a'] else None
i64 = gdal.Open(args['i64']).ReadAsArray(); u64 = gdal.Open(args['u64']).ReadAsArray()
want = eval(args['expr'])
md = b.GetMetadata()
x = got.astype(np.float64).ravel()
lo, hi, n = float(md['STATISTICS_HISTOMIN']), float(md['STATISTICS_HISTOMAX']), int(md['STATISTICS_HISTONUMBINS'])
w = (hi - lo) / n
counts = np.bincount(np.minimum(np.floor((x - lo) / w).astype(np.int64), n - 1), minlength=n)
stored = [int(v) for v in md['STATISTICS_HISTOBINVALUES'].strip('|').split('|')]
# NEAREST overviews: GDAL 3.6's gdaladdo passes 64-bit values through a narrower type, so it is
# asked which source pixel each overview pixel takes (on a raster of pixel ids), and the exact
# 64-bit values are picked from there
ids = gdal.GetDriverByName('GTiff').Create(args['copy'], ds.RasterXSize, ds.RasterYSize, 1, gdal.GDT_Int32)
ids.GetRasterBand(1).WriteArray(np.arange(ds.RasterXSize * ds.RasterYSize, dtype=np.int32).reshape(ds.RasterYSize, ds.RasterXSize))
ids = None
subprocess.run(['gdaladdo', '-q', '-r', 'nearest', args['copy']] + [str(v) for v in args['levels']], check=True)
cp = gdal.Open(args['copy']); cb = cp.GetRasterBand(1)
flat = got.ravel()
ovs = [bool((b.GetOverview(k).ReadAsArray() == flat[cb.GetOverview(k).ReadAsArray()]).all()) for k in range(b.GetOverviewCount())]
out({'type': gdal.GetDataTypeName(b.DataType), 'exact': bool(got.dtype == want.dtype and (got == want).all()),
     'stats': {k: float(md['STATISTICS_' + k]) for k in ('MINIMUM', 'MAXIMUM', 'MEAN', 'STDDEV')},
     'numpy': {'MINIMUM': float(x.min()), 'MAXIMUM': float(x.max()), 'MEAN': float(x.mean()), 'STDDEV': float(x.std())},
     'hist': stored == counts.tolist(), 'overviews': ovs})
ds = None; cp = None
`,
    { out, a: f('a.tif'), i64: f('i64.tif'), u64: f('u64.tif'), expr: expectExpr, copy: out.replace(/\.tif$/, '_copy.tif'), levels: overviewLevels },
  );
  assert.equal(r.exact, true, `${out}: every pixel exact (${r.type})`);
  // as doubles, to the rounding of values of this size (a mean near 0 of values near ±2^62 is all rounding)
  const scale = Math.max(1, Math.abs(r.numpy.MINIMUM!), Math.abs(r.numpy.MAXIMUM!));
  for (const k of ['MINIMUM', 'MAXIMUM', 'MEAN', 'STDDEV']) {
    const [got, want] = [r.stats[k]!, r.numpy[k]!];
    assert.ok(Math.abs(got - want) <= 1e-12 * scale, `${out} ${k}: ${got} vs numpy ${want}`);
  }
  assert.equal(r.hist, true, `${out}: histogram equals numpy's binning of the values as doubles`);
  assert.deepEqual(
    r.overviews,
    overviewLevels.map(() => true),
    `${out}: NEAREST overviews equal gdaladdo's`,
  );
}

describe('Int64 and UInt64', () => {
  test('an Int64 output beyond 2^53, and Int64 / UInt64 inputs read as bigints and written back exactly', async () => {
    const controls = { overviewMinDim: 32, statsIgnore: null };
    await apply(
      bigInts,
      { a: f('a.tif'), i64: f('i64.tif'), u64: f('u64.tif') },
      { big: f('big.tif'), i64plus1: f('i64p.tif'), u64plus1: f('u64p.tif') },
      { controls },
    );
    check(f('big.tif'), 'ia.astype(np.int64) * 2**40 + 7', [4]);
    check(f('i64p.tif'), 'i64 + np.int64(1)', [4]);
    check(f('u64p.tif'), 'u64 + np.uint64(1)', [4]);
  });

  test('with CW_SUBPROC and CW_THREADS workers: the same bytes as the sequential run', async () => {
    const outs = (tag: string): Record<string, string> => ({ big: f(`${tag}_big.tif`), i64plus1: f(`${tag}_i64p.tif`), u64plus1: f(`${tag}_u64p.tif`) });
    const inputs = { a: f('a.tif'), i64: f('i64.tif'), u64: f('u64.tif') };
    const base = { windowXSize: 64, windowYSize: 64, overviewMinDim: 32, statsIgnore: null };
    await apply(bigInts, inputs, outs('seq'), { controls: base });
    for (const [tag, concurrency] of [
      ['sub', { computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, numReadWorkers: 1 }],
      ['subread', { computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, computeWorkersRead: true, numReadWorkers: 2 }],
      ['thr', { computeWorkerKind: 'CW_THREADS', numComputeWorkers: 2, numReadWorkers: 1 }],
    ] as const) {
      await apply(bigInts, inputs, outs(tag), { controls: { ...base, concurrency } });
      for (const name of ['big', 'i64plus1', 'u64plus1']) {
        assert.deepEqual(readFileSync(outs(tag)[name]!), readFileSync(outs('seq')[name]!), `${tag} ${name}`);
      }
    }
  });

  test('a 64-bit input resampled onto another grid: a warning that GDAL rounds beyond 2^53; smaller values come through exactly', async () => {
    makeRaster({ path: f('ref45.tif'), cols: 200, rows: 173, dtype: 'Byte', expr: '(r + c) % 200', transform: [500000, 45, 0, 6100000, 0, -45] });
    const warnings: (Error & { code?: string })[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      // a 64-bit input with values below 2^53, on a 30 m grid, read onto the 45 m grid of ref
      await apply(
        bigInts,
        { i64: f('small64.tif'), ref: f('ref45.tif') },
        { i64plus1: f('small64p.tif') },
        { controls: { calcStats: false, referenceImage: 'ref', resampleMethod: 'near' } },
      );
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    assert.ok(
      warnings.some((w) => w.code === 'RIOTS_WARP_INT64' && w.message.includes('small64.tif') && w.message.includes('2^53')),
      warnings.map((w) => w.message).join('; '),
    );
    const ok = py<boolean>(
      `
src = gdal.Open(args['s']).ReadAsArray(); got = gdal.Open(args['g']).ReadAsArray()
out(bool(got.dtype == np.int64 and np.isin(got - 1, src).all()))
`,
      { s: f('small64.tif'), g: f('small64p.tif') },
    );
    assert.equal(ok, true, 'every resampled value (below 2^53) is a source value');
  });

  test('Int8 outputs: written where GDAL has the type (3.7+); with an older GDAL refused, naming the output, nothing left behind', async () => {
    const version = py<string>(`out(gdal.__version__)`);
    const hasInt8 = py<boolean>(`out(hasattr(gdal, 'GDT_Int8'))`);
    const run = apply(
      (_i, inputs, outputs) => {
        outputs.s8 = inputs.a.map((v) => (((v % 200) + 200) % 200) - 100, 'Int8');
      },
      { a: f('a.tif') },
      { s8: f('s8.tif') },
    );
    if (!hasInt8) {
      process.stdout.write(`GDAL ${version} has no Int8: checking the refusal\n`);
      await assert.rejects(
        run,
        (e: unknown) => e instanceof OutputError && e.imageName === 's8' && /Int8 block needs GDAL 3\.7 or later.*this is GDAL 3\.6/.test(e.message),
      );
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.startsWith('s8')),
        [],
        'no output and no temporary file',
      );
      return;
    }
    await run;
    const ok = py<boolean>(
      `
ds = gdal.Open(args['o']); b = ds.GetRasterBand(1); a = gdal.Open(args['a']).ReadAsArray()
out(bool(gdal.GetDataTypeName(b.DataType) == 'Int8' and (b.ReadAsArray() == ((a % 200) - 100).astype(np.int8)).all()))
`,
      { o: f('s8.tif'), a: f('a.tif') },
    );
    assert.equal(ok, true);
  });

  test('gdalinfo reads the statistics riots wrote for an Int64 band', () => {
    const info = JSON.parse(execFileSync('gdalinfo', ['-json', f('big.tif')], { encoding: 'utf8' })) as {
      bands: { type: string; minimum?: number; maximum?: number }[];
    };
    assert.equal(info.bands[0]!.type, 'Int64');
    assert.ok(info.bands[0]!.maximum! > 2 ** 53);
  });
});
