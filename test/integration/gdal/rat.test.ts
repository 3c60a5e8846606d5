/**
 * Raster attribute tables through the FFI (src/gdal/ratffi.ts, src/gdal/rat.ts): every column type
 * and several usages round-tripped through HFA (its own table) and GTiff (.aux.xml), compared with
 * what Python GDAL's RAT API reads back; tables Python wrote read by riots; row ranges on both
 * kinds of table (GDAL 3.6's generic ValuesIO mis-indexes ranges that do not start at row 0);
 * reads while gdal-async reads on libuv's threads; and bad input, each a clear error.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../../helpers/root.js';
import path from 'node:path';
import { apply, rat, GdalError, InputMissingError, OutputError, RatError } from '../../../src/index.js';
import { loadedLibgdal } from '../../../src/gdal/ratffi.js';
import { withTable } from '../../../src/gdal/rattable.js';
import { makeRaster, py } from '../../helpers/py.js';
import { classesMod9 } from '../../helpers/userfns.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);

function makeThematic(file: string, driver: 'HFA' | 'GTiff', type: 'Byte' | 'Int16' = 'Byte'): void {
  py(
    `
ds = gdal.GetDriverByName(args['d']).Create(args['p'], 60, 40, 2, gdal.GetDataTypeByName(args['t']))
for i in (1, 2):
    b = ds.GetRasterBand(i); b.WriteArray((np.arange(2400).reshape(40, 60) % (7 + i)).astype(np.uint8)); b = None
ds = None
out(True)
`,
    { p: file, d: driver, t: type },
  );
}

/** What Python GDAL reads from a band's table: columns (name, type, usage) and every value. */
function oracleTable(file: string, band = 1): { rows: number; columns: { name: string; type: number; usage: number; values: (number | string)[] }[] } {
  return py(
    `
ds = gdal.Open(args['p']); r = ds.GetRasterBand(args['b']).GetDefaultRAT()
cols = []
for i in range(r.GetColumnCount()):
    t = r.GetTypeOfCol(i)
    vals = [r.GetValueAsString(j, i) if t == gdal.GFT_String else (r.GetValueAsInt(j, i) if t == gdal.GFT_Integer else r.GetValueAsDouble(j, i)) for j in range(r.GetRowCount())]
    cols.append({'name': r.GetNameOfCol(i), 'type': t, 'usage': r.GetUsageOfCol(i), 'values': vals})
out({'rows': r.GetRowCount(), 'columns': cols})
ds = None
`,
    { p: file, b: band },
  );
}

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-rat-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const driver of ['HFA', 'GTiff'] as const) {
  const ext = driver === 'HFA' ? 'img' : 'tif';
  describe(`${driver} tables`, () => {
    test('every column type and usage written by riots reads back in Python GDAL as written', async () => {
      const file = f(`rt.${ext}`);
      makeThematic(file, driver, 'Int16');
      const rows = 8;
      await rat.writeColumn(
        file,
        'Histogram',
        Float64Array.from({ length: rows }, (_, i) => i * 300.5),
        { usage: 'PixelCount' },
      );
      await rat.writeColumn(
        file,
        'Code',
        Int32Array.from({ length: rows }, (_, i) => i * -7 + 3),
      );
      await rat.writeColumn(
        file,
        'Label',
        Array.from({ length: rows }, (_, i) => `class ${i} é`),
      );
      await rat.writeColumn(
        file,
        'Low',
        Float64Array.from({ length: rows }, (_, i) => i - 0.25),
        { usage: 'Min' },
      );
      await rat.writeColumn(
        file,
        'Red',
        Int32Array.from({ length: rows }, (_, i) => i * 30),
        { usage: 'Red' },
      );
      await rat.writeColumn(file, 'Other band', Int32Array.from([5, 6]), { band: 2 });
      const o = oracleTable(file);
      assert.equal(o.rows, rows);
      // HFA keeps a usage only where its column name implies it (Histogram, Red, ...): Min on 'Low' is lost there
      const lowUsage = driver === 'HFA' ? 0 : 3;
      assert.deepEqual(
        o.columns.map((c) => [c.name, c.type, c.usage]),
        [
          ['Histogram', 1, 1],
          ['Code', 0, 0],
          ['Label', 2, 0],
          ['Low', 1, lowUsage],
          ['Red', 0, 6],
        ],
      );
      assert.deepEqual(
        o.columns[1]!.values,
        Array.from({ length: rows }, (_, i) => i * -7 + 3),
      );
      assert.deepEqual(
        o.columns[2]!.values,
        Array.from({ length: rows }, (_, i) => `class ${i} é`),
      );
      assert.deepEqual(
        o.columns[3]!.values,
        Array.from({ length: rows }, (_, i) => i - 0.25),
      );
      assert.deepEqual(oracleTable(file, 2).columns[0]!.values, [5, 6]);
      // and riots reads back what Python sees
      assert.deepEqual(await rat.getColumnInfo(file), [
        { name: 'Histogram', type: 'Real', usage: 'PixelCount' },
        { name: 'Code', type: 'Integer', usage: 'Generic' },
        { name: 'Label', type: 'String', usage: 'Generic' },
        { name: 'Low', type: 'Real', usage: lowUsage === 3 ? 'Min' : 'Generic' },
        { name: 'Red', type: 'Integer', usage: 'Red' },
      ]);
      assert.equal(await rat.getRowCount(file), rows);
      assert.deepEqual(Array.from((await rat.readColumn(file, 'Histogram')) as Float64Array), o.columns[0]!.values);
    });

    test('row ranges: written and read from a row other than 0, the rest of the column untouched', async () => {
      const file = f(`ranges.${ext}`);
      makeThematic(file, driver, 'Int16');
      await rat.writeColumn(
        file,
        'v',
        Float64Array.from({ length: 10 }, (_, i) => i),
      );
      await rat.writeColumn(file, 'v', Float64Array.from([100, 101, 102]), { start: 4 });
      await rat.writeColumn(
        file,
        'n',
        Int32Array.from({ length: 10 }, (_, i) => -i),
      );
      await rat.writeColumn(file, 'n', Int32Array.from([7, 8]), { start: 8 });
      await rat.writeColumn(file, 'n', Int32Array.from([9, 9, 9]), { start: 10 }); // grows the table
      const o = oracleTable(file);
      assert.equal(o.rows, 13);
      assert.deepEqual(o.columns[0]!.values, [0, 1, 2, 3, 100, 101, 102, 7, 8, 9, 0, 0, 0]);
      assert.deepEqual(o.columns[1]!.values, [0, -1, -2, -3, -4, -5, -6, -7, 7, 8, 9, 9, 9]);
      assert.deepEqual(Array.from((await rat.readColumn(file, 'v', { start: 3, count: 4 })) as Float64Array), [3, 100, 101, 102]);
      assert.deepEqual(Array.from((await rat.readColumn(file, 'n', { start: 9 })) as Int32Array), [8, 9, 9, 9]);
      assert.deepEqual(Array.from((await rat.readColumn(file, 'n', { start: 13 })) as Int32Array), []);
    });
  });
}

test("RIOS's quirks: a Byte band's table has 256 rows; HFA's colour columns (0-1 reals in the file) read and take 0-255", async () => {
  for (const driver of ['HFA', 'GTiff'] as const) {
    const file = f(`quirk.${driver === 'HFA' ? 'img' : 'tif'}`);
    makeThematic(file, driver);
    await rat.writeColumn(file, 'Code', Int32Array.from([4, 5, 6]));
    const o = oracleTable(file);
    assert.equal(o.rows, 256, driver);
    assert.deepEqual(o.columns[0]!.values.slice(0, 4), [4, 5, 6, 0]);
  }
  // HFA keeps colour columns as 0-1 reals in the file (RIOS scales them itself); GDAL hands them out as 0-255 integers
  const file = f('colours.img');
  makeThematic(file, 'HFA', 'Int16');
  py(
    `
ds = gdal.Open(args['p'], gdal.GA_Update); b = ds.GetRasterBand(1)
ct = gdal.ColorTable()
for i, c in enumerate([(0, 0, 0, 0), (128, 64, 255, 255), (1, 2, 3, 200)]): ct.SetColorEntry(i, c)
b.SetColorTable(ct); b = None; ds = None
out(True)
`,
    { p: file },
  );
  const info = await rat.getColumnInfo(file);
  assert.deepEqual(
    info.filter((c) => ['Red', 'Green', 'Blue', 'Alpha'].includes(c.usage)).map((c) => [c.name, c.type, c.usage]),
    [
      ['Red', 'Integer', 'Red'],
      ['Green', 'Integer', 'Green'],
      ['Blue', 'Integer', 'Blue'],
      ['Opacity', 'Integer', 'Alpha'],
    ],
  );
  assert.deepEqual(Array.from((await rat.readColumn(file, 'Red')) as Int32Array), [0, 128, 1]);
  assert.deepEqual(Array.from((await rat.readColumn(file, 'Opacity')) as Int32Array), [0, 255, 200]);
  await rat.writeColumn(file, 'Green', Int32Array.from([10, 20, 30]));
  assert.deepEqual((await rat.getColorTable(file)).slice(0, 3), [
    [0, 0, 10, 0, 0],
    [1, 128, 20, 255, 255],
    [2, 1, 30, 3, 200],
  ]);
});

test('a table Python GDAL wrote (HFA, 100000 rows) reads the same through riots', async () => {
  const file = f('py.img');
  makeThematic(file, 'HFA');
  py(
    `
ds = gdal.Open(args['p'], gdal.GA_Update); b = ds.GetRasterBand(1)
r = b.GetDefaultRAT()
r.SetRowCount(100000)
r.CreateColumn('x', gdal.GFT_Real, gdal.GFU_Generic); r.WriteArray(np.arange(100000) * 0.5, 0)
r.CreateColumn('k', gdal.GFT_Integer, gdal.GFU_Generic); r.WriteArray((np.arange(100000) % 97) - 40, 1)
r.CreateColumn('s', gdal.GFT_String, gdal.GFU_Generic)
for j in range(5): r.SetValueAsString(j, 2, 'row %d' % j)
r = None; b = None; ds = None
out(True)
`,
    { p: file },
  );
  const x = (await rat.readColumn(file, 'x')) as Float64Array;
  assert.equal(x.length, 100000);
  assert.ok(x.every((v, i) => v === i * 0.5));
  const k = (await rat.readColumn(file, 'k', { start: 99990 })) as Int32Array;
  assert.deepEqual(
    Array.from(k),
    Array.from({ length: 10 }, (_, i) => ((99990 + i) % 97) - 40),
  );
  assert.deepEqual(await rat.readColumn(file, 's', { count: 6 }), ['row 0', 'row 1', 'row 2', 'row 3', 'row 4', '']);
});

test('RAT reads in the main thread while gdal-async reads on libuv threads: both right', async () => {
  const file = f('busy.img');
  makeThematic(file, 'HFA');
  await rat.writeColumn(
    file,
    'w',
    Float64Array.from({ length: 9 }, (_, i) => i * 2),
  );
  makeRaster({ path: f('big.tif'), cols: 2000, rows: 2000, dtype: 'Float32', expr: '(r + c)' });
  let total = 0;
  const reading = apply(
    (_i, inputs, outputs) => {
      outputs.out = inputs.a.clone();
    },
    { a: f('big.tif') },
    { out: f('bigcopy.tif') },
    { controls: { calcStats: false, omitPyramids: true, concurrency: { numReadWorkers: 2 } } },
  );
  for (let i = 0; i < 50; i++) {
    const w = (await rat.readColumn(file, 'w')) as Float64Array;
    total += w.reduce((s, v) => s + v, 0);
  }
  await reading;
  assert.equal(total, 50 * 72);
  const same = py<boolean>(`out(bool((gdal.Open(args['a']).ReadAsArray() == gdal.Open(args['b']).ReadAsArray()).all()))`, {
    a: f('big.tif'),
    b: f('bigcopy.tif'),
  });
  assert.equal(same, true);
});

test('bad input: each a clear error naming the file, band or column', async () => {
  const file = f('bad.tif');
  makeThematic(file, 'GTiff');
  await assert.rejects(rat.readColumn(file, 'x'), (e: unknown) => e instanceof RatError && /bad\.tif band 1: has no raster attribute table/.test(e.message));
  await rat.writeColumn(file, 'num', Float64Array.from([1, 2]));
  await assert.rejects(rat.readColumn(file, 'nmu'), (e: unknown) => e instanceof RatError && /has no column 'nmu' \(columns: num\)/.test(e.message));
  await assert.rejects(
    rat.readColumn(file, 'num', { band: 3 }),
    (e: unknown) => e instanceof RatError && /bad\.tif: there is no band 3 \(the file has 2\)/.test(e.message),
  );
  await assert.rejects(
    rat.writeColumn(file, 'num', ['a', 'b']),
    (e: unknown) => e instanceof RatError && /column 'num' holds Real values; strings cannot go in it/.test(e.message),
  );
  await assert.rejects(
    rat.readColumn(file, 'num', { start: 250, count: 10 }),
    (e: unknown) => e instanceof RatError && /rows 250\.\.259 of column 'num' are outside its 256 rows/.test(e.message),
  );
  await assert.rejects(rat.readColumn(f('nope.img'), 'num'), (e: unknown) => e instanceof InputMissingError && e.file === f('nope.img'));
  await assert.rejects(rat.writeColumn(file, 'u', Int32Array.from([1]), { usage: 'Colour' as never }), /usage must be one of Generic, PixelCount, Name/);
  await assert.rejects(rat.writeColumn(file, 'u', [1, 2] as never), /values must be an Int32Array, a Float64Array or a list of strings/);
});

test('the FFI binds the libgdal gdal-async loaded, and refuses clearly when there is none', () => {
  assert.match(loadedLibgdal(), /\/libgdal\.so[.\d]*$/);
  const maps = '7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/libc.so.6\n7f02-7f03 r-xp 00000000 08:01 2 /opt/node_modules/gdal-async/lib/binding/gdal.node\n';
  assert.throws(
    () => loadedLibgdal(maps),
    (e: unknown) => e instanceof GdalError && /this gdal-async carries a GDAL of its own.*npm_config_shared_gdal=true/.test(e.message),
  );
});

describe('colour tables', () => {
  for (const driver of ['HFA', 'GTiff'] as const) {
    test(`${driver}: rows of value and colour, gaps transparent, a Byte band's table has 256 entries (checked with Python GDAL)`, async () => {
      const file = f(`ct.${driver === 'HFA' ? 'img' : 'tif'}`);
      makeThematic(file, driver);
      await rat.setColorTable(file, [
        [1, 255, 0, 0, 255],
        [4, 0, 128, 255, 200],
        [7, 10, 20, 30, 255],
      ]);
      // the 4-column form: rows are values 0, 1 (GTiff keeps a colour table on band 1 only)
      if (driver === 'HFA') {
        await rat.setColorTable(
          file,
          [
            [9, 9, 9, 255],
            [1, 2, 3, 4],
          ],
          { band: 2 },
        );
      } else {
        await assert.rejects(
          rat.setColorTable(file, [[1, 1, 1, 1]], { band: 2 }),
          (e: unknown) => e instanceof RatError && /ct\.tif band 2: GDAL cannot store a colour table there: .*band 1/.test(e.message),
        );
      }
      const o = py<{ n: number; e: number[][]; n2: number; e2: number[][] }>(
        `
ds = gdal.Open(args['p'])
t = ds.GetRasterBand(1).GetColorTable(); t2 = ds.GetRasterBand(2).GetColorTable() if args['hfa'] else t
out({'n': t.GetCount(), 'e': [list(t.GetColorEntry(i)) for i in range(9)], 'n2': t2.GetCount(), 'e2': [list(t2.GetColorEntry(i)) for i in range(3)]})
ds = None
`,
        { p: file, hfa: driver === 'HFA' },
      );
      assert.equal(o.n, 256);
      // a TIFF palette has no alpha: GDAL reads every GTiff entry as opaque
      const alpha = (e: number[][]): number[][] => (driver === 'GTiff' ? e.map(([r, g, b]) => [r!, g!, b!, 255]) : e);
      assert.deepEqual(
        o.e,
        alpha([
          [0, 0, 0, 0],
          [255, 0, 0, 255],
          [0, 0, 0, 0],
          [0, 0, 0, 0],
          [0, 128, 255, 200],
          [0, 0, 0, 0],
          [0, 0, 0, 0],
          [10, 20, 30, 255],
          [0, 0, 0, 0],
        ]),
      );
      if (driver === 'HFA') {
        assert.equal(o.n2, 256);
        assert.deepEqual(o.e2, [
          [9, 9, 9, 255],
          [1, 2, 3, 4],
          [0, 0, 0, 0],
        ]);
      }
      const back = await rat.getColorTable(file);
      assert.equal(back.length, 256);
      assert.deepEqual(back[4], [4, 0, 128, 255, driver === 'GTiff' ? 255 : 200]);
    });
  }

  test('generated tables: random (the same for a seed), rainbow, gray', () => {
    const r1 = rat.genColorTable(50, 'random', { seed: 7 });
    assert.deepEqual(rat.genColorTable(50, 'random', { seed: 7 }), r1);
    assert.notDeepEqual(rat.genColorTable(50, 'random', { seed: 8 }), r1);
    assert.ok(r1.every(([v, r, g, b, a], i) => v === i && [r, g, b].every((c) => Number.isInteger(c) && c >= 0 && c <= 255) && a === 255));
    const gray = rat.genColorTable(3, 'gray');
    assert.deepEqual(gray, [
      [0, 0, 0, 0, 255],
      [1, 128, 128, 128, 255],
      [2, 255, 255, 255, 255],
    ]);
    const rainbow = rat.genColorTable(4, 'rainbow');
    assert.deepEqual(rainbow[0], [0, 255, 0, 0, 255], 'red first');
    assert.deepEqual(rainbow[3], [3, 128, 0, 255, 255], 'violet last');
    assert.throws(() => rat.genColorTable(3, 'viridis' as never), /type must be one of random, rainbow, gray/);
  });

  test('bad colour tables and bands without one: clear errors', async () => {
    const file = f('ctbad.tif');
    makeThematic(file, 'GTiff');
    await assert.rejects(rat.getColorTable(file), (e: unknown) => e instanceof RatError && /ctbad\.tif band 1: has no colour table/.test(e.message));
    await assert.rejects(rat.setColorTable(file, [[1, 2, 3]] as never), /row 0 must have 4 or 5 values/);
    await assert.rejects(
      rat.setColorTable(file, [
        [3, 1, 1, 1, 1],
        [2, 1, 1, 1, 1],
      ]),
      /values must ascend from 0 \(row 1: 2\)/,
    );
    await assert.rejects(rat.setColorTable(file, [[0, 300, 0, 0, 255]]), /colours and alpha are 0–255/);
    await assert.rejects(rat.getColorTable(file, { band: 5 }), /there is no band 5 \(the file has 2\)/);
  });
});

describe('thematic outputs of apply()', () => {
  for (const ext of ['img', 'tif']) {
    test(`${ext}: the histogram also goes to the RAT's Histogram column (PixelCount), equal to numpy's counts; layer names kept`, async () => {
      makeRaster({ path: f('src.tif'), cols: 130, rows: 90, dtype: 'Int16', expr: '((r * 3 + c) % 23)' });
      const out = f(`classes.${ext}`);
      await apply(
        (_i, inputs, outputs) => {
          outputs.cls = inputs.a.map((v) => v % 11, 'Byte');
        },
        { a: f('src.tif') },
        { cls: out },
        { controls: { thematic: true, statsIgnore: null, layerNames: ['landcover'], windowXSize: 64, windowYSize: 64, autoColorTableType: 'rainbow' } },
      );
      const o = py<{
        usage: number;
        rows: number;
        hist: number[];
        counts: number[];
        desc: string;
        binning: (number | boolean)[] | null;
        colours: number[][];
        n: number;
      }>(
        `
ds = gdal.Open(args['p']); b = ds.GetRasterBand(1); r = b.GetDefaultRAT()
col = [r.GetNameOfCol(i) for i in range(r.GetColumnCount())].index('Histogram')
counts = np.bincount(b.ReadAsArray().ravel()).tolist()
lb = r.GetLinearBinning()
ct = b.GetColorTable()
out({'usage': r.GetUsageOfCol(col), 'rows': r.GetRowCount(), 'hist': [r.GetValueAsDouble(j, col) for j in range(r.GetRowCount())],
     'counts': counts, 'desc': b.GetDescription(), 'binning': list(lb) if lb else None,
     'n': ct.GetCount(), 'colours': [list(ct.GetColorEntry(i)) for i in range(12)]})
ds = None
`,
        { p: out },
      );
      assert.equal(o.usage, 1, 'PixelCount');
      assert.deepEqual(o.hist.slice(0, o.counts.length), o.counts);
      assert.ok(o.hist.slice(o.counts.length).every((v) => v === 0));
      assert.equal(o.desc, 'landcover');
      if (ext === 'tif') assert.deepEqual(o.binning, [true, 0, 1]);
      if (ext === 'tif')
        assert.deepEqual(
          withTable(out, 1, false, (t) => t.linearBinning()),
          [0, 1],
          'GDALRATGetLinearBinning through the FFI',
        );
      assert.deepEqual(Array.from((await rat.readColumn(out, 'Histogram')) as Float64Array).slice(0, o.counts.length), o.counts);
      // autoColorTableType: a rainbow over the 11 classes (0..10), transparent beyond, 256 entries for Byte
      assert.equal(o.n, 256);
      const want = rat.genColorTable(11, 'rainbow').map(([, r, g, b, a]) => [r, g, b, a]);
      assert.deepEqual(o.colours.slice(0, 11), want);
      assert.deepEqual(o.colours[11], ext === 'tif' ? [0, 0, 0, 255] : [0, 0, 0, 0]);
    });
  }
});

test('callBeforeClose (per image): called with the finished output under its temporary name, before the colour table; a throw fails the run and leaves nothing; with CW_THREADS too', async () => {
  makeRaster({ path: f('bc.tif'), cols: 100, rows: 70, dtype: 'Int16', expr: '((r + 2 * c) % 13)' });
  const calls: { file: string; finalPath: string; imageName: string; exists: boolean; hist: number[] }[] = [];
  const out = f('bc.img');
  const other = f('bc-other.tif');
  await apply(
    classesMod9,
    { a: f('bc.tif') },
    { cls: out, other },
    {
      controls: {
        concurrency: { computeWorkerKind: 'CW_THREADS', numComputeWorkers: 2, numReadWorkers: 1 },
        windowYSize: 16,
        autoColorTableType: 'gray',
        images: {
          cls: {
            thematic: true,
            statsIgnore: null,
            callBeforeClose: async (o) => {
              const hist = (await rat.readColumn(o.file, 'Histogram')) as Float64Array;
              calls.push({ ...o, exists: existsSync(o.finalPath), hist: Array.from(hist.subarray(0, 9)) });
              await rat.writeColumn(
                o.file,
                'Area',
                Float64Array.from(hist, (n) => n * 0.09),
              );
            },
          },
        },
      },
    },
  );
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.imageName, 'cls');
  assert.equal(calls[0]!.finalPath, out);
  assert.notEqual(calls[0]!.file, out);
  assert.equal(calls[0]!.exists, false, 'the final path is empty until the function returns');
  const o = py<{ area: number[]; counts: number[]; gray: number[] }>(
    `
ds = gdal.Open(args['p']); b = ds.GetRasterBand(1); r = b.GetDefaultRAT()
names = [r.GetNameOfCol(i) for i in range(r.GetColumnCount())]
out({'area': r.ReadAsArray(names.index('Area'))[:9].tolist(), 'counts': np.bincount(b.ReadAsArray().ravel()).tolist(), 'gray': list(b.GetColorTable().GetColorEntry(8))})
ds = None
`,
    { p: out },
  );
  assert.deepEqual(calls[0]!.hist, o.counts);
  assert.deepEqual(
    o.area,
    o.counts.map((n) => n * 0.09),
  );
  assert.deepEqual(o.gray, [...rat.genColorTable(9, 'gray')[8]!.slice(1)], 'the colour table came after the function, as in RIOS');

  const bad = f('bc-bad.img');
  await assert.rejects(
    apply(
      (_i, inputs, outputs) => {
        outputs.x = inputs.a;
      },
      { a: f('bc.tif') },
      { x: bad },
      {
        controls: {
          callBeforeClose: () => {
            throw new Error('no such column, says the user');
          },
        },
      },
    ),
    (e: unknown) => e instanceof OutputError && /output 'x': callBeforeClose failed: no such column, says the user/.test(e.message),
  );
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('bc-bad')),
    [],
  );
  await assert.rejects(
    apply(() => {}, { a: f('bc.tif') }, { x: bad }, { controls: { callBeforeClose: 'fn' as never } }),
    /callBeforeClose.*a function/,
  );
});

test('autoColorTableType: GeoTIFF bands after the first get none, with a warning; without statistics a wider type is refused, nothing left behind', async () => {
  makeRaster({ path: f('src2.tif'), cols: 70, rows: 50, dtype: 'Int16', expr: '((r + c) % 5)' });
  const warnings: (Error & { code?: string })[] = [];
  const on = (w: Error): void => void warnings.push(w);
  process.on('warning', on);
  try {
    await apply(
      (_i, inputs, outputs) => {
        const a = inputs.a;
        const two = a.like('Byte', 2);
        const n = a.rows * a.cols;
        for (let k = 0; k < n; k++) {
          two.data[k] = a.data[k]!;
          two.data[n + k] = a.data[k]! + 1;
        }
        outputs.two = two;
      },
      { a: f('src2.tif') },
      { two: f('two.tif') },
      { controls: { thematic: true, statsIgnore: null, autoColorTableType: 'gray' } },
    );
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', on);
  }
  assert.ok(
    warnings.some((w) => w.code === 'RIOTS_COLOR_TABLE_BANDS' && /two\.tif|'two'/.test(w.message)),
    warnings.map((w) => w.message).join('; '),
  );
  assert.deepEqual(
    (await rat.getColorTable(f('two.tif'))).slice(0, 5).map((r) => r.slice(1, 4)),
    rat.genColorTable(5, 'gray').map((r) => r.slice(1, 4)),
  );
  await assert.rejects(
    apply(
      (_i, inputs, outputs) => {
        outputs.cls = inputs.a.map((v) => v, 'Int16');
      },
      { a: f('src2.tif') },
      { cls: f('nostats.img') },
      { controls: { thematic: true, calcStats: false, autoColorTableType: 'random' } },
    ),
    (e: unknown) => e instanceof OutputError && /autoColorTableType needs the largest value of band 1, which comes with its statistics/.test(e.message),
  );
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('nostats')),
    [],
  );
});

test('riots rat FILE: columns, a row range as text and JSON equal to what Python GDAL reads; clear failures', async () => {
  const file = f('cli.img');
  makeThematic(file, 'HFA', 'Int16');
  await rat.writeColumn(
    file,
    'v',
    Float64Array.from({ length: 30 }, (_, i) => i / 4),
  );
  await rat.writeColumn(
    file,
    'label',
    Array.from({ length: 30 }, (_, i) => `k${i}`),
  );
  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/cli/main.ts'), 'rat', ...args], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
  const o = oracleTable(file);
  const cols = cli('--columns', file);
  assert.equal(cols.status, 0, cols.stderr);
  assert.equal(cols.stdout, `${file} band 1: 30 rows\nv\tReal\tGeneric\nlabel\tString\tGeneric\n`);
  const j = cli('--rows', '10:13', '--json', file);
  assert.equal(j.status, 0, j.stderr);
  const doc = JSON.parse(j.stdout) as { rowCount: number; start: number; rows: Record<string, unknown[]> };
  assert.equal(doc.rowCount, o.rows);
  assert.equal(doc.start, 10);
  assert.deepEqual(doc.rows, { v: o.columns[0]!.values.slice(10, 13), label: o.columns[1]!.values.slice(10, 13) });
  const text = cli('--rows', '28:', file);
  assert.equal(text.stdout, 'row\tv\tlabel\n28\t7\tk28\n29\t7.25\tk29\n');
  const none = cli('--band', '2', file);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /cli\.img band 2 has no raster attribute table/);
  assert.match(cli('--rows', '5:99', file).stderr, /--rows 5:99 is outside the table's 30 rows/);
  const missing = cli(f('nope.img'));
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /nope\.img: no such file/);
});

test('KEA tables, where this GDAL has the KEA driver', async (t) => {
  const has = py<boolean>(`out(gdal.GetDriverByName('KEA') is not None)`);
  if (!has) {
    t.skip(`GDAL ${py<string>(`out(gdal.__version__)`)} here has no KEA driver (Debian 12 builds GDAL without libkea); KEA tables untested on this machine`);
    return;
  }
  const file = f('t.kea');
  makeThematic(file, 'KEA' as never, 'Int16');
  await rat.writeColumn(file, 'v', Float64Array.from([1.5, 2.5, 3.5]));
  await rat.writeColumn(file, 'v', Float64Array.from([9]), { start: 1 });
  assert.deepEqual(
    oracleTable(file)
      .columns.find((c) => c.name === 'v')!
      .values.slice(0, 3),
    [1.5, 9, 3.5],
  );
});
