/**
 * apply() end to end: pixel values, lists, otherArgs, edge blocks, reader info, errors and
 * atomic outputs. Expected values come from numpy on the same input files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  apply,
  Block,
  InputMissingError,
  InputNotRasterError,
  OutputBlockError,
  OutputDirError,
  UserFunctionError,
  GridMismatchError,
  ControlsError,
  RiotsError,
} from '../../../src/index.js';
import { makeRaster, py } from '../../helpers/py.js';

let dir: string;
const f = (name: string): string => path.join(dir, name);

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-apply-'));
  // a: 1000x777 Float32; b: Int16 shifted 10 cols right, 20 rows down, 1000x777 (intersection 990x757)
  makeRaster({ path: f('a.tif'), cols: 1000, rows: 777, dtype: 'Float32', expr: '(r * 1.5 + c * 0.25 + 1).astype(np.float32)' });
  makeRaster({
    path: f('b.tif'),
    cols: 1000,
    rows: 777,
    dtype: 'Int16',
    expr: '((r * 7 + c * 3) % 2000 - 1000)',
    transform: [500000 + 10 * 30, 30, 0, 6100000 - 20 * 30, 0, -30],
  });
  makeRaster({ path: f('c.tif'), cols: 1000, rows: 777, dtype: 'Byte', bands: 3, expr: '(b * 50 + (r + c) % 50)' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Names left in the folder that are riots temporary files. */
function leftovers(): string[] {
  return readdirSync(dir).filter((n) => n.includes('.riots-tmp-'));
}

describe('apply: pixel values', () => {
  test('two inputs on one lattice, intersection, edge blocks; values equal numpy', async () => {
    const calls: [number, number][] = [];
    const r = await apply(
      (info, inputs, outputs) => {
        const a = inputs.a;
        const b = inputs.b;
        assert.equal(a.dtype, 'Float32');
        assert.equal(b.dtype, 'Int16');
        assert.ok(a.data instanceof Float32Array && b.data instanceof Int16Array);
        calls.push([a.rows, a.cols]);
        const out = a.like('Float32', 1);
        for (let i = 0; i < out.data.length; i++) out.data[i] = a.data[i]! + 2 * b.data[i]!;
        outputs.sum = out;
        assert.deepEqual(info.getTotalBlocks(), [4, 3]);
        assert.equal(info.getBlockTotal(), 4 * 3);
      },
      { a: f('a.tif'), b: f('b.tif') },
      { sum: f('sum.tif') },
      { controls: { calcStats: false } },
    );
    assert.equal(r.blocks, 12);
    // 990 cols = 256*3 + 222, 757 rows = 256*2 + 245
    assert.deepEqual(calls.at(-1), [245, 222]);
    assert.deepEqual(calls[0], [256, 256]);
    const res = py<{ shape: number[]; maxdiff: number; gt: number[] }>(
      `
a = gdal.Open(args['a']).ReadAsArray().astype(np.float64)
b = gdal.Open(args['b']).ReadAsArray().astype(np.float64)
# b starts 10 cols right and 20 rows down of a; the working grid is b's origin, a's far edge
exp = (a[20:, 10:] + 2 * b[:757, :990]).astype(np.float32)
ds = gdal.Open(args['out'])
got = ds.ReadAsArray()
out({'shape': list(got.shape), 'maxdiff': float(np.abs(got.astype(np.float64) - exp).max()), 'gt': list(ds.GetGeoTransform())})
`,
      { a: f('a.tif'), b: f('b.tif'), out: f('sum.tif') },
    );
    assert.deepEqual(res.shape, [757, 990]);
    assert.equal(res.maxdiff, 0);
    assert.deepEqual(res.gt, [500000 + 300, 30, 0, 6100000 - 600, 0, -30]);
    assert.deepEqual(leftovers(), []);
  });

  test('list inputs and list outputs keep their order', async () => {
    await apply(
      (_info, inputs, outputs) => {
        const imgs = inputs.imgs;
        assert.equal(imgs.length, 2);
        outputs.outs = [imgs[1]!.like('Int32', 1), imgs[0]!.like('Int32', 1)] as never;
        const [o0, o1] = outputs.outs;
        for (let i = 0; i < o0!.data.length; i++) {
          o0!.data[i] = imgs[1]!.data[i]! * 10;
          o1!.data[i] = imgs[0]!.data[i]! * 10;
        }
      },
      { imgs: [f('a.tif'), f('c.tif')] },
      { outs: [f('l0.tif'), f('l1.tif')] },
      { controls: { calcStats: false, windowXSize: 128, windowYSize: 64 } },
    );
    const res = py<{ d0: number; d1: number; t0: string; nb: number }>(
      `
a = gdal.Open(args['a']).ReadAsArray().astype(np.int64)
cds = gdal.Open(args['c'])
c = cds.GetRasterBand(1).ReadAsArray().astype(np.int64)
o0 = gdal.Open(args['l0']); o1 = gdal.Open(args['l1'])
out({'d0': int(np.abs(o0.ReadAsArray() - c * 10).max()), 'd1': int(np.abs(o1.ReadAsArray() - np.trunc(gdal.Open(args['a']).ReadAsArray() * 10).astype(np.int64)).max()),
     't0': gdal.GetDataTypeName(o0.GetRasterBand(1).DataType), 'nb': o0.RasterCount})
`,
      { a: f('a.tif'), c: f('c.tif'), l0: f('l0.tif'), l1: f('l1.tif') },
    );
    assert.equal(res.t0, 'Int32');
    assert.equal(res.nb, 1);
    assert.equal(res.d0, 0);
    assert.equal(res.d1, 0);
  });

  test('multi-band output: data type and band count come from the block', async () => {
    await apply(
      (_i, inputs, outputs) => {
        const c = inputs.c;
        const o = c.like('UInt16', 3);
        for (let b = 0; b < 3; b++) {
          const src = c.band(b);
          const dst = o.band(b);
          for (let i = 0; i < src.length; i++) dst[i] = src[i]! * (b + 1) * 100;
        }
        outputs.o = o;
      },
      { c: f('c.tif') },
      { o: f('multi.tif') },
      { controls: { statsIgnore: null, images: { o: { layerNames: ['blue', 'green', 'red'] } } } },
    );
    const res = py<{ diff: number; dt: string; n: number; names: string[]; nodata: (number | null)[] }>(
      `
c = gdal.Open(args['c']).ReadAsArray().astype(np.int64)
ds = gdal.Open(args['o'])
exp = c * (np.arange(3).reshape(3, 1, 1) + 1) * 100
out({'diff': int(np.abs(ds.ReadAsArray().astype(np.int64) - exp).max()), 'dt': gdal.GetDataTypeName(ds.GetRasterBand(1).DataType),
     'n': ds.RasterCount, 'names': [ds.GetRasterBand(i + 1).GetDescription() for i in range(3)],
     'nodata': [ds.GetRasterBand(i + 1).GetNoDataValue() for i in range(3)]})
`,
      { c: f('c.tif'), o: f('multi.tif') },
    );
    assert.equal(res.dt, 'UInt16');
    assert.equal(res.n, 3);
    assert.equal(res.diff, 0);
    assert.deepEqual(res.names, ['blue', 'green', 'red']);
    assert.deepEqual(res.nodata, [null, null, null]);
  });

  test('writing no outputs is valid; otherArgs accumulates in the caller object', async () => {
    const acc = { sum: 0, pixels: 0, blocks: 0 };
    const r = await apply(
      (_info, inputs, _outputs, o: typeof acc) => {
        const c = inputs.c.band(0);
        for (let i = 0; i < c.length; i++) o.sum += c[i]!;
        o.pixels += c.length;
        o.blocks++;
      },
      { c: f('c.tif') },
      {},
      { otherArgs: acc, controls: { windowXSize: 300, windowYSize: 200 } },
    );
    assert.equal(r.otherArgsList.length, 1);
    assert.equal(r.otherArgsList[0], acc);
    assert.equal(acc.blocks, 4 * 4);
    assert.equal(acc.pixels, 1000 * 777);
    const exp = py<number>(`ds = gdal.Open(args['c'])\nout(int(ds.GetRasterBand(1).ReadAsArray().astype(np.int64).sum()))`, { c: f('c.tif') });
    assert.equal(acc.sum, exp);
  });

  test('window size from RIOS_DFLT_BLOCKXSIZE / RIOS_DFLT_BLOCKYSIZE', async () => {
    process.env.RIOS_DFLT_BLOCKXSIZE = '512';
    process.env.RIOS_DFLT_BLOCKYSIZE = '128';
    try {
      const sizes = new Set<string>();
      await apply(
        (info, inputs) => {
          sizes.add(info.getWindowSize().join('x'));
          sizes.add(`${inputs.c.cols}`);
        },
        { c: f('c.tif') },
        {},
      );
      assert.ok(sizes.has('512x128'));
      assert.ok(sizes.has('512') && sizes.has('488'));
    } finally {
      delete process.env.RIOS_DFLT_BLOCKXSIZE;
      delete process.env.RIOS_DFLT_BLOCKYSIZE;
    }
  });
});

describe('apply: reader info', () => {
  test('coordinates, bounds, first/last block, filenames and nodata', async () => {
    makeRaster({ path: f('nd.tif'), cols: 300, rows: 200, dtype: 'Int16', expr: 'c - r', nodata: -999 });
    const seen: { first: boolean; last: boolean; pct: number }[] = [];
    await apply(
      (info, inputs, outputs) => {
        const nd = inputs.nd;
        seen.push({ first: info.isFirstBlock(), last: info.isLastBlock(), pct: info.getPercent() });
        assert.equal(info.getFilenameFor(nd), f('nd.tif'));
        assert.equal(info.getNoDataValueFor(nd, 1), -999);
        const [xs, ys] = info.getBlockCoordArrays();
        const o = nd.like('Float64', 2);
        o.band(0).set(xs);
        o.band(1).set(ys);
        outputs.xy = o;
        const [col, row] = info.getPixColRow(3, 4);
        const [x0, , , y0] = info.getTransform();
        const [rr, cc] = info.getPixRowColBlock(x0 + (col + 0.5) * 30, y0 - (row + 0.5) * 30);
        assert.deepEqual([rr, cc], [4, 3]);
        const [xmin, ymin, xmax, ymax] = info.getBlockBounds();
        assert.equal(xmax - xmin, nd.cols * 30);
        assert.equal(ymax - ymin, nd.rows * 30);
      },
      { nd: f('nd.tif') },
      { xy: f('xy.tif') },
      { controls: { windowXSize: 128, windowYSize: 128, calcStats: false, statsIgnore: null } },
    );
    assert.equal(seen.length, 6);
    assert.deepEqual(
      seen.map((s) => [s.first, s.last]),
      [
        [true, false],
        [false, false],
        [false, false],
        [false, false],
        [false, false],
        [false, true],
      ],
    );
    const res = py<{ dx: number; dy: number }>(
      `
ds = gdal.Open(args['xy']); gt = ds.GetGeoTransform()
r, c = np.mgrid[0:ds.RasterYSize, 0:ds.RasterXSize]
x = gt[0] + (c + 0.5) * gt[1]; y = gt[3] + (r + 0.5) * gt[5]
a = ds.ReadAsArray()
out({'dx': float(np.abs(a[0] - x).max()), 'dy': float(np.abs(a[1] - y).max())})
`,
      { xy: f('xy.tif') },
    );
    assert.equal(res.dx, 0);
    assert.equal(res.dy, 0);
  });
});

describe('apply: errors', () => {
  const copy = (fn: (b: Block) => Block) => (_i: unknown, inputs: Record<string, Block>, outputs: Record<string, Block>) => {
    outputs.o = fn(inputs.a!);
  };

  test('an output is never an input, a sidecar of an input, or another output: refused before anything is written', async () => {
    const { readFileSync, symlinkSync } = await import('node:fs');
    const before = readFileSync(f('a.tif'));
    const rel = path.relative(process.cwd(), f('a.tif'));
    symlinkSync(f('a.tif'), f('a-link.tif'));
    const identity = (_i: unknown, inputs: Record<string, Block>, outputs: Record<string, Block>): void => {
      outputs.o = inputs.a!;
    };
    const cases: [Record<string, string>, Record<string, string>, RegExp][] = [
      [{ a: f('a.tif') }, { o: f('a.tif') }, /output 'o' .* is the same file as input 'a' .*would destroy the input/],
      [{ a: f('a.tif') }, { o: `./${rel}` }, /is the same file as input 'a'/],
      [{ a: f('a-link.tif') }, { o: f('a.tif') }, /is the same file as input 'a'/],
      [{ a: f('a.tif') }, { o: path.join(dir, 'sub', '..', 'a.tif') }, /is the same file as input 'a'/],
      [{ a: f('a.tif') }, { o: f('a.tif.aux.xml') }, /is a file GDAL reads with input 'a'/],
      [{ a: f('a.tif') }, { o: f('a.tfw') }, /is a file GDAL reads with input 'a'/],
      [{ a: f('a.tif') }, { o: f('twice.tif'), p: f('twice.tif') }, /outputs 'o' and 'p' are the same file/],
    ];
    for (const [ins, outs, message] of cases) {
      await assert.rejects(apply(identity as never, ins, outs), (e: unknown) => {
        assert.ok(e instanceof RiotsError && e.code === 'CONTROLS', String(e));
        assert.match(e.message, message);
        return true;
      });
    }
    assert.deepEqual(readFileSync(f('a.tif')), before, 'the input is untouched');
    assert.equal(existsSync(f('twice.tif')), false);
    assert.equal(existsSync(f('a.tfw')), false);
  });

  test('a missing input names the file and image', async () => {
    await assert.rejects(
      apply(() => undefined, { a: f('a.tif'), ghost: f('nope.tif') }, {}),
      (e: unknown) => {
        assert.ok(e instanceof InputMissingError);
        assert.equal(e.imageName, 'ghost');
        assert.equal(e.file, f('nope.tif'));
        assert.match(e.message, /nope\.tif/);
        return true;
      },
    );
  });

  test('an input that is not a raster', async () => {
    writeFileSync(f('notes.txt'), 'this is not a raster\n');
    await assert.rejects(
      apply(() => undefined, { t: f('notes.txt') }, {}),
      (e: unknown) => {
        assert.ok(e instanceof InputNotRasterError);
        assert.equal(e.imageName, 't');
        assert.match(e.message, /notes\.txt/);
        return true;
      },
    );
  });

  test('complex pixels and GDAL 3.6 signed bytes: refused, saying why, rather than misread', async () => {
    makeRaster({ path: f('cplx.tif'), cols: 30, rows: 20, dtype: 'CFloat32', expr: '(r + 2j * c)' });
    makeRaster({ path: f('signed.tif'), cols: 30, rows: 20, dtype: 'Byte', expr: '(r * 10) % 256', options: ['PIXELTYPE=SIGNEDBYTE'] });
    const signedType = py<string>(
      `ds = gdal.Open(args['p']); b = ds.GetRasterBand(1); out(gdal.GetDataTypeName(b.DataType) + '/' + str(b.GetMetadataItem('PIXELTYPE', 'IMAGE_STRUCTURE')))`,
      { p: f('signed.tif') },
    );
    for (const [file, re] of [
      ['cplx.tif', /band 1 has data type CFloat32, which riots does not handle \(complex pixels: gdal-async .* real parts only\)/],
      ...(signedType === 'Byte/SIGNEDBYTE'
        ? ([['signed.tif', /band 1 holds signed bytes \(PIXELTYPE=SIGNEDBYTE\), which GDAL 3\.\d+\.\d+ reads as 0\.\.255/]] as const)
        : []),
    ] as const) {
      await assert.rejects(
        apply(() => undefined, { t: f(file) }, {}),
        (e: unknown) => e instanceof InputNotRasterError && e.imageName === 't' && e.file === f(file) && re.test(e.message),
      );
    }
    if (signedType !== 'Byte/SIGNEDBYTE') process.stdout.write(`GDAL reads PIXELTYPE=SIGNEDBYTE as ${signedType}: the GDAL 3.6 refusal is not exercised\n`);
  });

  test('inputs on different grids without a reference', async () => {
    makeRaster({ path: f('coarse.tif'), cols: 100, rows: 100, dtype: 'Float32', expr: 'r + c', transform: [500000, 60, 0, 6100000, 0, -60] });
    await assert.rejects(
      apply(() => undefined, { a: f('a.tif'), coarse: f('coarse.tif') }, {}),
      (e: unknown) => {
        assert.ok(e instanceof GridMismatchError);
        assert.match(e.message, /a\.tif/);
        assert.match(e.message, /coarse\.tif/);
        assert.match(e.message, /pixel size/);
        return true;
      },
    );
  });

  test('an output folder that is missing, or not writable', async () => {
    await assert.rejects(
      apply(
        copy((b) => b),
        { a: f('a.tif') },
        { o: f('no/such/dir/o.tif') },
      ),
      (e: unknown) => {
        assert.ok(e instanceof OutputDirError);
        assert.equal(e.imageName, 'o');
        assert.match(e.message, /does not exist/);
        return true;
      },
    );
    const ro = f('ro');
    mkdirSync(ro);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
    try {
      await assert.rejects(
        apply(
          copy((b) => b),
          { a: f('a.tif') },
          { o: path.join(ro, 'o.tif') },
        ),
        (e: unknown) => {
          assert.ok(e instanceof OutputDirError);
          assert.match(e.message, /not writable/);
          return true;
        },
      );
    } finally {
      execFileSync('umount', [ro]);
    }
  });

  test('a user function that throws: block kept, cause kept, nothing left at the final path', async () => {
    const boom = new RangeError('bad pixel');
    await assert.rejects(
      apply(
        (info, inputs, outputs) => {
          outputs.o = inputs.a.like('Float32', 1);
          if (info.block.index === 5) throw boom;
        },
        { a: f('a.tif') },
        { o: f('fail.tif') },
        { controls: { windowXSize: 256, windowYSize: 256 } },
      ),
      (e: unknown) => {
        assert.ok(e instanceof UserFunctionError);
        assert.equal(e.cause, boom);
        assert.deepEqual(e.block, { index: 5, xoff: 256, yoff: 256, xsize: 256, ysize: 256 });
        assert.match(e.message, /block 5/);
        return true;
      },
    );
    assert.equal(existsSync(f('fail.tif')), false);
    assert.equal(existsSync(f('fail.tif.aux.xml')), false);
    assert.deepEqual(leftovers(), []);
  });

  test('an output block of the wrong shape or type', async () => {
    await assert.rejects(
      apply(
        copy((b) => Block.create('Float32', 1, b.rows - 1, b.cols)),
        { a: f('a.tif') },
        { o: f('shape.tif') },
      ),
      (e: unknown) => {
        assert.ok(e instanceof OutputBlockError);
        assert.equal(e.imageName, 'o');
        assert.equal(e.block?.index, 0);
        assert.match(e.message, /255x256/);
        return true;
      },
    );
    await assert.rejects(
      apply((_i, inputs, outputs) => void (outputs.o = inputs.a.data as never), { a: f('a.tif') }, { o: f('type.tif') }),
      (e: unknown) => e instanceof OutputBlockError && /must be a Block/.test(e.message),
    );
    await assert.rejects(
      apply(
        (info, inputs, outputs) => {
          outputs.o = inputs.a.like(info.block.index === 2 ? 'Int16' : 'Float32', 1);
        },
        { a: f('a.tif') },
        { o: f('type2.tif') },
      ),
      (e: unknown) => e instanceof OutputBlockError && /Int16/.test(e.message) && e.block?.index === 2,
    );
    for (const n of ['shape.tif', 'type.tif', 'type2.tif']) assert.equal(existsSync(f(n)), false);
    assert.deepEqual(leftovers(), []);
  });

  test('an output the user function did not set, and controls for an unknown image', async () => {
    await assert.rejects(
      apply(() => undefined, { a: f('a.tif') }, { o: f('unset.tif') }),
      (e: unknown) => {
        return e instanceof OutputBlockError && /did not set outputs\.o/.test(e.message);
      },
    );
    await assert.rejects(
      // @ts-expect-error the types refuse an image name that is not the run's; the check at run time is for JavaScript callers
      apply(() => undefined, { a: f('a.tif') }, {}, { controls: { images: { typo: { statsIgnore: 1 } } } }),
      (e: unknown) => e instanceof ControlsError && /typo/.test(e.message),
    );
  });
});

describe('apply: no input files', () => {
  test('with referencePixgrid, outputs are computed from coordinates alone (RIOS allows this); without it, a clear error', async () => {
    const grid = {
      projection: 'EPSG:32755',
      transform: [500000, 30, 0, 6000000, 0, -30] as [number, number, number, number, number, number],
      rows: 100,
      cols: 150,
    };
    const r = await apply(
      (info, _inputs, outputs) => {
        const [xs, ys] = info.getBlockCoordArrays();
        const o = new Block('Float64', 1, info.block.ysize, info.block.xsize);
        for (let i = 0; i < o.data.length; i++) o.data[i] = xs[i]! - 500000 + (6000000 - ys[i]!) / 1000;
        outputs.xy = o;
      },
      {},
      { xy: f('fromcoords.tif') },
      { controls: { windowXSize: 64, windowYSize: 64, referencePixgrid: grid, statsIgnore: null } },
    );
    assert.equal(r.blocks, 3 * 2);
    const res = py<{ size: number[]; gt: number[]; epsg: string; maxdiff: number }>(
      `
from osgeo import osr
ds = gdal.Open(args['f']); gt = ds.GetGeoTransform(); a = ds.ReadAsArray()
r, c = np.mgrid[0:ds.RasterYSize, 0:ds.RasterXSize]
x = gt[0] + (c + 0.5) * gt[1]; y = gt[3] + (r + 0.5) * gt[5]
srs = osr.SpatialReference(wkt=ds.GetProjection())
out({'size': [ds.RasterXSize, ds.RasterYSize], 'gt': list(gt), 'epsg': srs.GetAuthorityCode(None), 'maxdiff': float(np.abs(a - ((x - 500000) + (6000000 - y) / 1000)).max())})
`,
      { f: f('fromcoords.tif') },
    );
    assert.deepEqual(res.size, [150, 100]);
    assert.deepEqual(res.gt, grid.transform);
    assert.equal(res.epsg, '32755');
    assert.equal(res.maxdiff, 0);
    await assert.rejects(
      apply(() => undefined, {}, { xy: f('never.tif') }),
      (e: unknown) => e instanceof ControlsError && /infiles names no input .*give referencePixgrid/.test(e.message),
    );
  });
});
