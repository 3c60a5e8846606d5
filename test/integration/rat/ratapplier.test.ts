/**
 * The RAT applier (src/rat/): tables made by Python GDAL, worked on chunk by chunk by riots, read
 * back by Python GDAL and compared with numpy doing the same sums; every row count method, a chunk
 * size that does not divide the row count, columns never touched never read, copyRAT, and bad
 * input, each a clear error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ratapplier, rat, ControlsError, RatError } from '../../../src/index.js';
import { RatTable } from '../../../src/gdal/rattable.js';
import { py } from '../../helpers/py.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);

/** An Int32 thematic file whose band 1 table has `rows` rows: Histogram, a, b (Real), n (Integer), name (String). */
function makeTable(file: string, rows: number, driver = 'HFA'): void {
  py(
    `
ds = gdal.GetDriverByName(args['d']).Create(args['p'], 50, 20, 2, gdal.GDT_Int32)
b = ds.GetRasterBand(1); b.WriteArray((np.arange(1000).reshape(20, 50) % 9).astype(np.int32))
n = args['n']; rng = np.random.default_rng(7)
r = gdal.RasterAttributeTable()
for name, t, u in [('Histogram', gdal.GFT_Real, gdal.GFU_PixelCount), ('a', gdal.GFT_Real, gdal.GFU_Generic), ('b', gdal.GFT_Real, gdal.GFU_Generic), ('n', gdal.GFT_Integer, gdal.GFU_Generic), ('name', gdal.GFT_String, gdal.GFU_Generic)]:
    r.CreateColumn(name, t, u)
r.SetRowCount(n)
r.WriteArray(rng.integers(0, 50, n).astype(np.float64), 0)
r.WriteArray(rng.normal(10, 3, n), 1)
r.WriteArray(rng.normal(-2, 1, n), 2)
r.WriteArray(np.arange(n, dtype=np.int32) * 3 - 5, 3)
r.WriteArray(np.array(['c%d' % i for i in range(n)]), 4)
b.SetDefaultRAT(r); b = None; ds = None
out(True)
`,
    { p: file, n: rows, d: driver },
  );
}

/** Python GDAL's view of columns of band 1: name → values. */
function columns(file: string, names: string[], band = 1): { rows: number; cols: Record<string, number[] | string[]>; types: Record<string, number> } {
  return py(
    `
ds = gdal.Open(args['p']); r = ds.GetRasterBand(args['b']).GetDefaultRAT()
idx = {r.GetNameOfCol(i): i for i in range(r.GetColumnCount())}
cols = {}; types = {}
for n in args['names']:
    a = r.ReadAsArray(idx[n]); types[n] = r.GetTypeOfCol(idx[n])
    cols[n] = [x.decode() for x in a] if a.dtype.kind == 'S' else a.tolist()
out({'rows': r.GetRowCount(), 'cols': cols, 'types': types})
`,
    { p: file, names, b: band },
  );
}

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-ratapplier-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a column computed from two others, chunk by chunk (blockLen not dividing the rows), equals numpy; untouched columns are not read', async () => {
  const file = f('calc.img');
  const rows = 25_013;
  makeTable(file, rows);
  const reads: string[] = [];
  const read = RatTable.prototype.read;
  RatTable.prototype.read = function (this: RatTable, column: string, start?: number, count?: number) {
    reads.push(column);
    return read.call(this, column, start, count);
  };
  const seen: [number, number, number][] = [];
  try {
    await ratapplier.apply(
      (info, inputs, outputs, otherArgs: { sum: number }) => {
        seen.push([info.blockNdx, info.startrow, info.blockLen]);
        const a = inputs.t.a as Float64Array;
        const b = inputs.t.b as Float64Array;
        assert.equal(inputs.t.a, a, 'a second touch of a column in one chunk is not a second read');
        outputs.t.c = a.map((v, i) => v * 2 + b[i]!);
        outputs.t.row = info.inputRowNumbers;
        for (const v of a) otherArgs.sum += v;
      },
      { t: file },
      { t: file },
      { controls: { blockLen: 4000 }, otherArgs: { sum: 0 } },
    );
  } finally {
    RatTable.prototype.read = read;
  }
  assert.deepEqual(seen.length, 7);
  assert.deepEqual(seen[6], [6, 24_000, 1013]);
  assert.deepEqual([...new Set(reads)].sort(), ['a', 'b'], 'only the columns the function touched are read');
  assert.equal(reads.length, 14);
  const want = py<{ c: number[]; rows: number }>(
    `
ds = gdal.Open(args['p']); r = ds.GetRasterBand(1).GetDefaultRAT()
idx = {r.GetNameOfCol(i): i for i in range(r.GetColumnCount())}
c = r.ReadAsArray(idx['a']) * 2 + r.ReadAsArray(idx['b'])
got = r.ReadAsArray(idx['c'])
out({'c': float(np.abs(got - c).max()), 'rows': r.GetRowCount(), 'row': bool((r.ReadAsArray(idx['row']) == np.arange(r.GetRowCount())).all()), 'types': [r.GetTypeOfCol(idx['c']), r.GetTypeOfCol(idx['row'])]})
`,
    { p: file },
  ) as unknown as { c: number; rows: number; row: boolean; types: number[] };
  assert.equal(want.c, 0);
  assert.equal(want.rows, rows);
  assert.ok(want.row);
  assert.deepEqual(want.types, [1, 0], 'c Real (from a Float64Array), row Integer (from an Int32Array)');
});

test('row count methods: increment (rows the function produced), fixed, and rowCount with no input table', async () => {
  const src = f('src.img');
  makeTable(src, 10_007);
  const dst = f('selected.img');
  makeTable(dst, 3); // an Int32 band: no 256-row minimum
  // keep the rows whose n is a multiple of 7: a number per chunk the function alone knows
  await ratapplier.apply(
    (_info, inputs, outputs) => {
      const n = inputs.src.n as Int32Array;
      const names = inputs.src.name as string[];
      const keep = [...n.keys()].filter((i) => n[i]! % 7 === 0);
      outputs.sel.n = Int32Array.from(keep, (i) => n[i]!);
      outputs.sel.label = keep.map((i) => names[i]!);
    },
    { src },
    { sel: dst },
    { controls: { blockLen: 1000, outRowCountMethod: ratapplier.RCM_INCREMENT, rowCountIncrementSize: 500 } },
  );
  const want = py<{ n: number[]; label: string[] }>(
    `
ds = gdal.Open(args['p']); r = ds.GetRasterBand(1).GetDefaultRAT()
n = r.ReadAsArray(3); names = r.ReadAsArray(4); k = n % 7 == 0
out({'n': n[k].tolist(), 'label': [x.decode() for x in names[k]]})
`,
    { p: src },
  );
  const got = columns(dst, ['n', 'label']);
  assert.equal(got.rows, want.n.length, 'cut to the rows written, not the increments');
  assert.deepEqual(got.cols.n, want.n);
  assert.deepEqual(got.cols.label, want.label);

  const fixed = f('fixed.img');
  makeTable(fixed, 3);
  await ratapplier.apply(
    (info, _inputs, outputs) => {
      outputs.o.sq = Float64Array.from(info.inputRowNumbers, (r) => r * r);
    },
    {},
    { o: fixed },
    { controls: { rowCount: 2500, blockLen: 1000, outRowCountMethod: ratapplier.RCM_FIXED, fixedOutRowCount: 2500 } },
  );
  const sq = columns(fixed, ['sq']);
  assert.equal(sq.rows, 2500);
  assert.deepEqual(
    sq.cols.sq,
    Array.from({ length: 2500 }, (_, r) => r * r),
  );

  await assert.rejects(
    ratapplier.apply(
      (info, _i, outputs) => {
        outputs.o.x = new Float64Array(info.blockLen);
      },
      {},
      { o: fixed },
      { controls: { rowCount: 30, blockLen: 20, outRowCountMethod: ratapplier.RCM_FIXED, fixedOutRowCount: 25 } },
    ),
    (e: unknown) => e instanceof RatError && /chunk 1: outputs\.o would reach row 30, beyond its fixedOutRowCount of 25/.test(e.message),
  );
});

test('GTiff tables (.aux.xml) in, HFA out, on a second band; progress reported per chunk', async () => {
  const src = f('src.tif');
  makeTable(src, 3000, 'GTiff');
  const dst = f('dst.img');
  makeTable(dst, 3000);
  const progress: [number, number][] = [];
  await ratapplier.apply(
    (_info, inputs, outputs) => {
      outputs.out.n2 = (inputs.in.n as Int32Array).map((v) => v * 2);
      outputs.out.setUsage('n2', 'MinMax');
    },
    { in: src },
    { out: { file: dst, band: 2 } },
    { controls: { blockLen: 1100, progress: (d, t) => progress.push([d, t]) } },
  );
  assert.deepEqual(progress, [
    [1100, 3000],
    [2200, 3000],
    [3000, 3000],
  ]);
  const got = columns(dst, ['n2'], 2);
  assert.deepEqual(
    got.cols.n2,
    Array.from({ length: 3000 }, (_, i) => (i * 3 - 5) * 2),
  );
  // and back into the GTiff's own table, which GDAL keeps in memory until the file closes
  await ratapplier.apply(
    (_info, inputs, outputs) => {
      outputs.t.back = inputs.o.n2!;
    },
    { o: { file: dst, band: 2 } },
    { t: src },
    { controls: { blockLen: 700 } },
  );
  assert.deepEqual(columns(src, ['back']).cols.back, got.cols.n2);
});

test('copyRAT: every column but the omitted ones, with types, usages and values (checked with Python GDAL)', async () => {
  const src = f('copy-src.img');
  makeTable(src, 5003);
  const dst = f('copy-dst.tif');
  py(`gdal.GetDriverByName('GTiff').Create(args['p'], 10, 10, 1, gdal.GDT_Int32); out(True)`, { p: dst });
  await ratapplier.copyRAT(src, dst, { omitColumns: ['b'], blockLen: 2000 });
  const info = await rat.getColumnInfo(dst);
  assert.deepEqual(
    info.map((c) => [c.name, c.type, c.usage]),
    (await rat.getColumnInfo(src)).filter((c) => c.name !== 'b').map((c) => [c.name, c.type, c.usage]),
  );
  const names = ['Histogram', 'a', 'n', 'name'];
  const got = columns(dst, names);
  const want = columns(src, names);
  assert.equal(got.rows, want.rows);
  for (const n of ['Histogram', 'n', 'name']) assert.deepEqual(got.cols[n], want.cols[n], n);
  // a GTiff's table lives in .aux.xml, where GDAL writes reals to 15-16 significant digits
  const a = got.cols.a as number[];
  (want.cols.a as number[]).forEach((v, i) => assert.ok(Math.abs(a[i]! - v) <= 1e-14 * Math.abs(v), `a[${i}]: ${a[i]} vs ${v}`));
  await assert.rejects(ratapplier.copyRAT(src, dst, { omitColumns: ['zz'] }), /copyRAT: .*copy-src\.img band 1 has no column 'zz' to omit/);
});

test('bad input: each a clear error, and a failed run leaves a GTiff table as it was', async () => {
  const a = f('bad-a.img');
  makeTable(a, 100);
  const b = f('bad-b.tif');
  makeTable(b, 120, 'GTiff');
  const noop = (): void => {};
  await assert.rejects(
    ratapplier.apply(noop, { a, b }, {}),
    (e: unknown) =>
      e instanceof RatError && /input tables differ in row count: inRats\.a \(.*bad-a\.img band 1\) 100, inRats\.b \(.*bad-b\.tif band 1\) 120/.test(e.message),
  );
  await assert.rejects(
    ratapplier.apply(
      (_i, inputs) => {
        void inputs.a.nope;
      },
      { a },
      {},
    ),
    (e: unknown) => e instanceof RatError && /inputs\.a \(.*bad-a\.img band 1\) has no column 'nope' \(columns: Histogram, a, b, n, name\)/.test(e.message),
  );
  await assert.rejects(
    ratapplier.apply(
      (_i, _in, outputs) => {
        outputs.o.x = new Float64Array(3);
        outputs.o.y = new Float64Array(4);
      },
      { a },
      { o: b },
    ),
    (e: unknown) => e instanceof RatError && /chunk 0: outputs\.o\.y has 4 rows, but outputs\.o\.x has 3/.test(e.message),
  );
  await assert.rejects(
    ratapplier.apply(
      (_i, inputs, outputs) => {
        outputs.o.name = inputs.a.a!;
      },
      { a },
      { o: b },
      { controls: { rowCount: 100 } },
    ),
    (e: unknown) => e instanceof RatError && /outputs\.o\.name: .*column 'name' holds String values; numbers cannot go in it/.test(e.message),
  );
  assert.deepEqual(await rat.getColumnNames(b), ['Histogram', 'a', 'b', 'n', 'name'], 'the failed run left the GTiff table as it was');
  await assert.rejects(ratapplier.apply(noop, { a: { file: a, band: 3 } }, {}), /bad-a\.img: there is no band 3 \(the file has 2\)/);
  await assert.rejects(ratapplier.apply(noop, { a: { file: a, band: 2 } }, {}), /inRats\.a: .*bad-a\.img band 2 has no raster attribute table/);
  await assert.rejects(
    ratapplier.apply(noop, {}, {}),
    (e: unknown) => e instanceof ControlsError && /with no input table, give controls\.rowCount/.test(e.message),
  );
  await assert.rejects(
    ratapplier.apply(noop, { a }, {}, { controls: { blockLength: 5 } as never }),
    /blockLength is not a setting of ratapplier\.apply\(\) \(did you mean blockLen\?\)/,
  );
  await assert.rejects(ratapplier.apply(noop, { a }, {}, { controls: { outRowCountMethod: ratapplier.RCM_FIXED } }), /'fixed' needs fixedOutRowCount/);
  await assert.rejects(
    ratapplier.apply(
      (_i, _in, outputs) => {
        outputs.o.x = new BigInt64Array(3) as never;
      },
      { a },
      { o: b },
    ),
    /outputs\.o\.x must be a typed array of numbers \(not 64-bit\), a list of numbers or a list of strings \(got BigInt64Array\)/,
  );
  await assert.rejects(
    ratapplier.apply(
      (_i, inputs) => {
        (inputs.a as Record<string, unknown>).a = 1;
      },
      { a },
      {},
    ),
    /inputs\.a\.a cannot be set: write to an output table/,
  );
});
