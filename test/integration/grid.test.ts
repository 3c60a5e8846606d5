/**
 * Property tests of the pure PixelGrid maths, plus projection comparison and reprojection of
 * footprints through the registered OSR layer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  PixelGrid,
  alignedWith,
  boundaryPoints,
  clipWindow,
  equalProjection,
  gridBounds,
  gridForBounds,
  gridIntersection,
  gridReproject,
  gridUnion,
  isComparable,
  pixelOffset,
  subGrid,
  windowOf,
  type PixelGridSpec,
} from '../../src/grid.js';
import { toWkt } from '../../src/gdal/srs.js';

const UTM55S = toWkt('EPSG:32755');

/** A reference grid with a realistic pixel size and origin. */
const refArb = fc
  .record({
    pw: fc.constantFrom(0.5, 1, 10, 20, 25, 30, 0.00025, 1 / 3),
    aspect: fc.constantFrom(1, 2, 0.5),
    // origins within a few million pixels of the CRS origin, as real grids are
    x0: fc.double({ min: -2e6, max: 2e6, noNaN: true }),
    y0: fc.double({ min: -2e6, max: 2e6, noNaN: true }),
    cols: fc.integer({ min: 1, max: 5000 }),
    rows: fc.integer({ min: 1, max: 5000 }),
  })
  .map(({ pw, aspect, x0, y0, cols, rows }): PixelGridSpec => ({ projection: UTM55S, transform: [x0 * pw, pw, 0, y0 * pw, 0, -pw * aspect], cols, rows }));

/** A grid on ref's lattice, offset by whole pixels. */
function alignedArb(ref: PixelGridSpec): fc.Arbitrary<PixelGridSpec> {
  return fc
    .record({
      dc: fc.integer({ min: -3000, max: 3000 }),
      dr: fc.integer({ min: -3000, max: 3000 }),
      cols: fc.integer({ min: 1, max: 4000 }),
      rows: fc.integer({ min: 1, max: 4000 }),
    })
    .map(({ dc, dr, cols, rows }) => subGrid(ref, dc, dr, cols, rows));
}

const refAndTwo = refArb.chain((ref) => fc.tuple(fc.constant(ref), alignedArb(ref), alignedArb(ref)));

function sameGrid(a: PixelGridSpec, b: PixelGridSpec): boolean {
  return (
    a.cols === b.cols &&
    a.rows === b.rows &&
    (a.cols === 0 || a.rows === 0 || (alignedWith(a, b) && pixelOffset(a, b).col === 0 && pixelOffset(a, b).row === 0))
  );
}

function contains(outer: PixelGridSpec, inner: PixelGridSpec): boolean {
  if (inner.cols === 0 || inner.rows === 0) return true;
  const o = pixelOffset(outer, inner);
  return o.col >= 0 && o.row >= 0 && o.col + inner.cols <= outer.cols && o.row + inner.rows <= outer.rows;
}

test('intersection is commutative, aligned with the reference, and inside every input', () => {
  fc.assert(
    fc.property(refAndTwo, ([ref, a, b]) => {
      const ab = gridIntersection(ref, [a, b]);
      const ba = gridIntersection(ref, [b, a]);
      assert.ok(sameGrid(ab, ba));
      if (ab.cols > 0 && ab.rows > 0) {
        assert.ok(alignedWith(ref, ab));
        for (const g of [ref, a, b]) assert.ok(contains(g, ab), 'intersection outside an input');
      }
      // the intersection of a grid with itself is itself
      assert.ok(sameGrid(gridIntersection(a, [a]), a));
    }),
    { numRuns: 300 },
  );
});

test('intersection is exact in pixels: the overlap of the pixel ranges', () => {
  fc.assert(
    fc.property(refAndTwo, ([ref, a, b]) => {
      const oa = pixelOffset(ref, a);
      const ob = pixelOffset(ref, b);
      const c0 = Math.max(0, oa.col, ob.col);
      const c1 = Math.min(ref.cols, oa.col + a.cols, ob.col + b.cols);
      const r0 = Math.max(0, oa.row, ob.row);
      const r1 = Math.min(ref.rows, oa.row + a.rows, ob.row + b.rows);
      const got = gridIntersection(ref, [a, b]);
      assert.equal(got.cols, Math.max(0, c1 - c0));
      assert.equal(got.rows, Math.max(0, r1 - r0));
      if (c1 > c0 && r1 > r0) assert.deepEqual(pixelOffset(ref, got), { col: c0, row: r0 });
    }),
    { numRuns: 300 },
  );
});

test('union is commutative, aligned with the reference, and contains every input', () => {
  fc.assert(
    fc.property(refAndTwo, ([ref, a, b]) => {
      const ab = gridUnion(ref, [a, b]);
      const ba = gridUnion(ref, [b, a]);
      assert.ok(sameGrid(ab, ba));
      assert.ok(alignedWith(ref, ab));
      for (const g of [ref, a, b]) assert.ok(contains(ab, g), 'input outside the union');
      const oa = pixelOffset(ref, a);
      const ob = pixelOffset(ref, b);
      assert.equal(ab.cols, Math.max(ref.cols, oa.col + a.cols, ob.col + b.cols) - Math.min(0, oa.col, ob.col));
    }),
    { numRuns: 300 },
  );
});

test('gridForBounds round-trips an aligned grid with every snap mode', () => {
  fc.assert(
    fc.property(
      refArb.chain((ref) => fc.tuple(fc.constant(ref), alignedArb(ref))),
      ([ref, a]) => {
        for (const snap of ['nearest', 'out', 'in'] as const) assert.ok(sameGrid(gridForBounds(ref, gridBounds(a), snap), a), snap);
      },
    ),
    { numRuns: 300 },
  );
});

test('gridForBounds out covers the bounds and in lies inside them', () => {
  fc.assert(
    fc.property(
      refArb,
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 1.5, max: 500, noNaN: true }),
      fc.double({ min: 1.5, max: 500, noNaN: true }),
      (ref, fx, fy, w, h) => {
        const pw = ref.transform[1];
        const ph = -ref.transform[5];
        const b = { xMin: ref.transform[0] + fx * 100 * pw, yMax: ref.transform[3] - fy * 100 * ph, xMax: 0, yMin: 0 };
        b.xMax = b.xMin + w * pw;
        b.yMin = b.yMax - h * ph;
        const out = gridBounds(gridForBounds(ref, b, 'out'));
        const inn = gridBounds(gridForBounds(ref, b, 'in'));
        // gridForBounds forgives 1e-6 pixel of floating-point noise before snapping
        const ex = 1.01e-6 * pw;
        const ey = 1.01e-6 * ph;
        assert.ok(out.xMin <= b.xMin + ex && out.xMax >= b.xMax - ex && out.yMin <= b.yMin + ey && out.yMax >= b.yMax - ey);
        assert.ok(inn.xMin >= b.xMin - ex && inn.xMax <= b.xMax + ex && inn.yMin >= b.yMin - ey && inn.yMax <= b.yMax + ey);
        // snapping outward adds less than one pixel on each side
        assert.ok(out.xMax - out.xMin < b.xMax - b.xMin + 2 * pw + ex);
        assert.ok(out.yMax - out.yMin < b.yMax - b.yMin + 2 * ph + ey);
      },
    ),
    { numRuns: 300 },
  );
});

test('reproject into the same projection is the identity for an aligned grid, outward snap otherwise', () => {
  fc.assert(
    fc.property(
      refArb.chain((ref) => fc.tuple(fc.constant(ref), alignedArb(ref), fc.double({ min: 0.01, max: 0.99, noNaN: true }))),
      ([ref, a, frac]) => {
        assert.ok(sameGrid(gridReproject(a, ref), a));
        // shift a by a fraction of a pixel: reprojecting it must grow by exactly one pixel each way
        const t = a.transform;
        const shifted: PixelGridSpec = { ...a, transform: [t[0] + frac * t[1], t[1], 0, t[3] + frac * t[5], 0, t[5]] };
        const r = gridReproject(shifted, ref);
        assert.equal(r.cols, a.cols + 1);
        assert.equal(r.rows, a.rows + 1);
        assert.deepEqual(pixelOffset(a, r), { col: 0, row: 0 });
      },
    ),
    { numRuns: 300 },
  );
});

test('clipWindow returns the in-bounds part and where it goes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 1, max: 300 }),
      fc.record({
        col: fc.integer({ min: -400, max: 400 }),
        row: fc.integer({ min: -400, max: 400 }),
        cols: fc.integer({ min: 1, max: 400 }),
        rows: fc.integer({ min: 1, max: 400 }),
      }),
      (cols, rows, w) => {
        const c = clipWindow(cols, rows, w);
        // brute force: count window pixels inside the raster
        let inside = 0;
        for (let y = w.row; y < w.row + w.rows; y++) for (let x = w.col; x < w.col + w.cols; x++) if (x >= 0 && y >= 0 && x < cols && y < rows) inside++;
        if (c === null) return assert.equal(inside, 0);
        assert.equal(c.read.cols * c.read.rows, inside);
        assert.equal(c.read.col, w.col + c.col);
        assert.equal(c.read.row, w.row + c.row);
        assert.ok(c.read.col >= 0 && c.read.row >= 0 && c.read.col + c.read.cols <= cols && c.read.row + c.read.rows <= rows);
      },
    ),
    { numRuns: 300 },
  );
});

test('windowOf inverts subGrid', () => {
  fc.assert(
    fc.property(
      refArb,
      fc.integer({ min: -50, max: 5000 }),
      fc.integer({ min: -50, max: 5000 }),
      fc.integer({ min: 1, max: 600 }),
      fc.integer({ min: 1, max: 600 }),
      (ref, x, y, c, r) => {
        assert.deepEqual(windowOf(ref, subGrid(ref, x, y, c, r)), { col: x, row: y, cols: c, rows: r });
      },
    ),
  );
});

test('boundaryPoints walk the whole boundary with n points per edge', () => {
  const { xs, ys } = boundaryPoints({ xMin: 0, yMin: 0, xMax: 10, yMax: 20 }, 21);
  assert.equal(xs.length, 80);
  for (const [x, y] of [
    [0, 20],
    [10, 20],
    [10, 0],
    [0, 0],
    [5, 20],
    [10, 10],
  ] as const) {
    assert.ok(
      xs.some((v, i) => v === x && ys[i] === y),
      `missing ${x},${y}`,
    );
  }
  for (let i = 0; i < xs.length; i++) assert.ok((xs[i] === 0 || xs[i] === 10 || ys[i] === 0 || ys[i] === 20) && xs[i]! >= 0 && xs[i]! <= 10);
});

test('equalProjection: the same CRS written as WKT1, WKT2, PROJ and EPSG code', async () => {
  const { spawnSync } = await import('node:child_process');
  const py = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      `
from osgeo import osr
s = osr.SpatialReference(); s.ImportFromEPSG(4326)
print(s.ExportToWkt()); print(s.ExportToWkt(['FORMAT=WKT2_2018']).replace('\\n',' ')); print(s.ExportToProj4())
u = osr.SpatialReference(); u.ImportFromEPSG(32755); print(u.ExportToWkt(['FORMAT=WKT2_2018']).replace('\\n',' ')); print(u.ExportToProj4())
`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(py.status, 0, py.stderr);
  const [wkt1, wkt2, proj, utmWkt2, utmProj] = py.stdout.trim().split('\n') as [string, string, string, string, string];
  for (const a of [wkt1, wkt2, proj, 'EPSG:4326']) for (const b of [wkt1, wkt2, proj, 'EPSG:4326']) assert.ok(equalProjection(a, b), `${a} vs ${b}`);
  assert.ok(equalProjection(UTM55S, utmWkt2));
  assert.ok(equalProjection(UTM55S, utmProj));
  assert.ok(!equalProjection(UTM55S, wkt1));
  assert.ok(!equalProjection(UTM55S, toWkt('EPSG:32756')));
  assert.ok(!equalProjection('', wkt1));
  assert.ok(!equalProjection('not a crs', wkt1));
  const g = { projection: UTM55S, transform: [500000, 30, 0, 6000000, 0, -30] as const, rows: 10, cols: 10 };
  assert.ok(isComparable(g, { ...g, projection: utmProj }));
});

test('reproject covers the transformed footprint, densified, on the target lattice', async () => {
  const { spawnSync } = await import('node:child_process');
  // UTM 55S grid reprojected to a 0.001-degree lattice in EPSG:4326; oracle: dense transformation in Python OSR.
  const src = new PixelGrid({ projection: UTM55S, transform: [400000, 100, 0, 6100000, 0, -100], cols: 2000, rows: 1500 });
  const target: PixelGridSpec = { projection: toWkt('EPSG:4326'), transform: [140.0005, 0.001, 0, -30.0003, 0, -0.001], cols: 1, rows: 1 };
  const r = src.reproject(target);
  assert.ok(alignedWith(target, r));
  const py = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      `
from osgeo import osr
a = osr.SpatialReference(); a.ImportFromEPSG(32755); a.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
b = osr.SpatialReference(); b.ImportFromEPSG(4326); b.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(a, b)
pts = []
n = 2001
for i in range(n):
  f = i / (n - 1)
  for x, y in ((400000 + f * 200000, 6100000), (400000 + f * 200000, 5950000), (400000, 5950000 + f * 150000), (600000, 5950000 + f * 150000)):
    pts.append(ct.TransformPoint(x, y)[:2])
xs = [p[0] for p in pts]; ys = [p[1] for p in pts]
print(min(xs), min(ys), max(xs), max(ys))
`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(py.status, 0, py.stderr);
  const [xMin, yMin, xMax, yMax] = py.stdout.trim().split(' ').map(Number) as [number, number, number, number];
  const b = r.bounds;
  // covers the densely sampled true footprint (21 points per edge may miss a sliver below one pixel)
  const tol = 0.0005;
  assert.ok(b.xMin <= xMin + tol && b.yMin <= yMin + tol && b.xMax >= xMax - tol && b.yMax >= yMax - tol, `${r} vs ${xMin} ${yMin} ${xMax} ${yMax}`);
  // and is no more than a pixel (plus the sampling tolerance) larger on each side
  assert.ok(b.xMin > xMin - 0.001 - tol && b.yMin > yMin - 0.001 - tol && b.xMax < xMax + 0.001 + tol && b.yMax < yMax + 0.001 + tol);
  // the curved edges matter: the four corners alone give a box more than a pixel smaller
  const corners = [
    [400000, 6100000],
    [600000, 6100000],
    [400000, 5950000],
    [600000, 5950000],
  ].map(([x, y]) => {
    const g = new PixelGrid({ projection: UTM55S, transform: [x!, 1e-9, 0, y!, 0, -1e-9], cols: 1, rows: 1 });
    return g.reproject(target).bounds;
  });
  const cornerBox = { yMin: Math.min(...corners.map((c) => c.yMin)), yMax: Math.max(...corners.map((c) => c.yMax)) };
  assert.ok(cornerBox.yMin - b.yMin > 0.001 || b.yMax - cornerBox.yMax > 0.001, 'densifying made no difference');
});

test('reprojecting to another CRS and back covers the original grid, on its lattice', () => {
  const geo: PixelGridSpec = { projection: toWkt('EPSG:4326'), transform: [140.00013, 0.0003, 0, -30.00007, 0, -0.0003], cols: 1, rows: 1 };
  fc.assert(
    fc.property(
      fc.integer({ min: 300000, max: 700000 }),
      fc.integer({ min: 5800000, max: 6200000 }),
      fc.constantFrom(10, 25, 30, 100),
      fc.integer({ min: 1, max: 3000 }),
      fc.integer({ min: 1, max: 3000 }),
      (x0, y0, res, cols, rows) => {
        const g: PixelGridSpec = { projection: UTM55S, transform: [x0 + 0.5, res, 0, y0 - 0.25, 0, -res], cols, rows };
        const there = gridReproject(g, geo);
        assert.ok(alignedWith(geo, there));
        const back = gridReproject(there, g);
        assert.ok(alignedWith(g, back));
        assert.ok(contains(back, g), `${JSON.stringify(back.transform)} ${back.cols}x${back.rows} does not cover the original`);
      },
    ),
    { numRuns: 100 },
  );
});

test('PixelGrid rejects rotated grids and bad sizes, and intersection/union methods work on the class', () => {
  assert.throws(() => new PixelGrid({ projection: '', transform: [0, 1, 0.1, 0, 0, -1], rows: 1, cols: 1 }), { code: 'GRID_ERROR' });
  assert.throws(() => new PixelGrid({ projection: '', transform: [0, 1, 0, 0, 0, -1], rows: 1.5, cols: 1 }), { code: 'GRID_ERROR' });
  const a = new PixelGrid({ projection: UTM55S, transform: [0, 10, 0, 100, 0, -10], rows: 10, cols: 10 });
  const b = a.window(3, 4, 10, 10);
  assert.deepEqual([a.intersection(b).cols, a.intersection(b).rows], [7, 6]);
  assert.deepEqual([a.union(b).cols, a.union(b).rows], [13, 14]);
});
