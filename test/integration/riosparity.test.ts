/**
 * The differential suite: the same jobs run in RIOS itself and in riots, outputs compared through
 * GDAL (pixels, grid, nodata, statistics, histograms, overviews), ReaderInfo values and otherArgs
 * compared as values, ConcurrencyStyle acceptance and the calcstats command lines compared case
 * by case. Where the two differ, a third opinion decides (numpy, gdalwarp, gdal_rasterize,
 * gdaladdo) and the verdict goes in the results table, which is written to
 * $RIOTS_RIOS_REPORT (default: riots-rios-differential.md in the temp folder) and kept in
 * docs/coming-from-rios.md. A difference nobody can explain, or one where the third opinion
 * sides with RIOS, fails the test.
 *
 * RIOS comes from the folder RIOTS_RIOS_SOURCE names (a RIOS source tree, e.g. one brought with
 * the search tool's fetch); without it the suite is skipped, saying so.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { apply, ConcurrencyStyle, type ConcurrencyStyleInit } from '../../src/index.js';
import { makeRaster, py } from '../helpers/py.js';
import { RIOTS_FUNCTIONS, type RiotsFunctionName } from '../helpers/riosjobs.js';
import {
  RIOS_SOURCE_ENV,
  describeRasters,
  metadataDifferences,
  pixelDifference,
  resultsTable,
  runRios,
  type CaseResult,
  type RasterDescription,
} from '../helpers/riosdiff.js';
import { REPO_ROOT } from '../helpers/root.js';

const RIOS = process.env[RIOS_SOURCE_ENV];
const SKIP = RIOS ? false : `${RIOS_SOURCE_ENV} is not set (it names a RIOS source folder to compare with)`;
if (SKIP) process.stdout.write(`differential suite against RIOS skipped: ${SKIP}\n`);

let dir: string;
const f = (name: string): string => path.join(dir, name);
const results: CaseResult[] = [];
const verdict = (r: CaseResult): void => void results.push(r);

type Controls = Record<string, unknown>;
type RiosControls = [string, unknown[], Record<string, unknown>][];

interface Pair {
  name: string;
  fn: RiotsFunctionName;
  inputs: Record<string, string>;
  riots: Controls;
  rios: RiosControls;
  otherArgs?: Record<string, unknown>;
  env?: Record<string, string>;
}

/** Run the job in both; outputs go to riots_<name>.tif and rios_<name>.tif. */
async function runPair(p: Pair): Promise<{ riots: string; rios: string; riotsOther: Record<string, unknown>; riosOther: Record<string, unknown> }> {
  const out = { riots: f(`riots_${p.name}.tif`), rios: f(`rios_${p.name}.tif`) };
  const r = runRios<{ otherArgs: Record<string, unknown> }>(
    {
      kind: 'apply',
      fn: p.fn,
      inputs: p.inputs,
      outputs: { out: out.rios },
      controls: [['setOutputDriverName', ['GTiff'], {}], ...p.rios],
      otherArgs: p.otherArgs ?? {},
    },
    p.env,
  );
  const saved = Object.fromEntries(Object.keys(p.env ?? {}).map((k) => [k, process.env[k]]));
  Object.assign(process.env, p.env ?? {});
  const otherArgs = structuredClone(p.otherArgs ?? {});
  try {
    const fn = RIOTS_FUNCTIONS[p.fn];
    await apply(fn as never, p.inputs, { out: out.riots }, { controls: { progress: false, ...p.riots } as never, otherArgs });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return { ...out, riotsOther: otherArgs, riosOther: r.otherArgs };
}

/**
 * Compare two outputs' grids, nodata, pixels, statistics metadata and overviews. Differences go
 * to `explain(aspect, detail)`, which must return the third opinion's verdict; undefined fails.
 */
function compareOutputs(
  name: string,
  riots: string,
  rios: string,
  explain: (aspect: string, detail: string) => Omit<CaseResult, 'case' | 'aspect'> | undefined = () => undefined,
): [RasterDescription, RasterDescription] {
  const [a, b] = describeRasters([riots, rios]);
  const check = (aspect: string, same: boolean, detail: () => string): void => {
    if (same) return verdict({ case: name, aspect, verdict: 'same', note: '' });
    const d = detail();
    const v = explain(aspect, d);
    assert.ok(v, `${name}: ${aspect} differs and no third opinion explains it: ${d}`);
    assert.notEqual(v.verdict, 'RIOS right', `${name}: ${aspect}: ${v.note}`);
    verdict({ case: name, aspect, ...v });
  };
  check('grid', JSON.stringify([a!.size, a!.transform, a!.srs]) === JSON.stringify([b!.size, b!.transform, b!.srs]), () =>
    JSON.stringify({ riots: [a!.size, a!.transform, a!.srs], rios: [b!.size, b!.transform, b!.srs] }),
  );
  if (JSON.stringify(a!.size) !== JSON.stringify(b!.size)) return [a!, b!];
  a!.bands.forEach((x, i) => {
    const y = b!.bands[i]!;
    check(`band ${i + 1} type and nodata`, x.dtype === y.dtype && x.nodata === y.nodata, () =>
      JSON.stringify({ riots: [x.dtype, x.nodata], rios: [y.dtype, y.nodata] }),
    );
    check(`band ${i + 1} pixels`, x.pixels === y.pixels, () => JSON.stringify(pixelDifference(riots, rios, i + 1)));
    const md = metadataDifferences(x.metadata, y.metadata);
    if (md.length === 0) verdict({ case: name, aspect: `band ${i + 1} statistics metadata`, verdict: 'same', note: Object.keys(y.metadata).join(', ') });
    for (const d of md) {
      const v = explainMetadata(d, riots, rios, i + 1, x.nodata);
      assert.ok(v, `${name}: band ${i + 1} ${d.key} differs and no third opinion explains it: riots ${d.riots}, RIOS ${d.rios}`);
      assert.notEqual(v.verdict, 'RIOS right', `${name}: band ${i + 1} ${d.key}: ${v.note}`);
      verdict({ case: name, aspect: `band ${i + 1} ${d.key}`, ...v });
    }
    check(`band ${i + 1} overview sizes`, JSON.stringify(x.overviews) === JSON.stringify(y.overviews), () =>
      JSON.stringify({ riots: x.overviews, rios: y.overviews }),
    );
    if (JSON.stringify(x.overviews) === JSON.stringify(y.overviews)) {
      x.overviewPixels.forEach((h, k) =>
        check(`band ${i + 1} overview ${k + 1} pixels`, h === y.overviewPixels[k], () => JSON.stringify(pixelDifference(riots, rios, i + 1, k))),
      );
    }
  });
  return [a!, b!];
}

/**
 * The explainer for outputs whose level-4 NEAREST overview differs: gdaladdo -r nearest on a copy
 * of riots' output is the third opinion (RIOS's single-pass pyramids sample the centre of each cell).
 */
function nearestOverviewsJudged(
  riots: string,
  why = "; RIOS's single-pass pyramids sample the centre of each 4×4 cell",
): (aspect: string, detail: string) => Omit<CaseResult, 'case' | 'aspect'> | undefined {
  return (aspect, detail) => {
    if (!/overview \d+ pixels/.test(aspect)) return undefined;
    const ok = gdaladdoAgrees(riots, [4], 0);
    return {
      verdict: ok ? 'riots right' : 'RIOS right',
      note: `NEAREST overview: riots ${ok ? 'equals' : 'differs from'} gdaladdo -r nearest (GDAL 3.6)${why} (${detail})`,
    };
  };
}

/** Mean absolute difference of two single-band rasters of one grid. */
function meanAbs(a: string, b: string): number {
  return py<number>(
    `
x = gdal.Open(args['a']).ReadAsArray().astype(np.float64); y = gdal.Open(args['b']).ReadAsArray().astype(np.float64)
out(float(np.abs(x - y).mean()))
`,
    { a, b },
  );
}

/** gdaladdo -r nearest on a copy of `file` without its overviews: does it match `file`'s overview k? */
function gdaladdoAgrees(file: string, levels: number[], k: number, resampling = 'nearest'): boolean {
  const copy = f(`addo_${path.basename(file)}`);
  execFileSync('gdal_translate', ['-q', '-co', 'TILED=YES', file, copy]);
  execFileSync('gdaladdo', ['-q', '-r', resampling, copy, ...levels.map(String)]);
  return pixelDifference(file, copy, 1, k).differ === 0;
}

/**
 * A statistics key that differs, judged: keys riots writes and RIOS does not (as GDAL's own
 * statistics do), the median and mode against numpy's exact values, the histogram against GDAL's
 * GetHistogram over the same range and bins.
 */
function explainMetadata(
  d: { key: string; riots?: string; rios?: string },
  riots: string,
  rios: string,
  band: number,
  ignore: number | null,
): Omit<CaseResult, 'case' | 'aspect'> | undefined {
  if (d.key === 'LAYER_TYPE' && d.rios === undefined && d.riots === 'athematic') {
    return { verdict: 'riots adds', note: 'LAYER_TYPE=athematic written for every athematic output; RIOS writes LAYER_TYPE only when thematic' };
  }
  if (d.key === 'STATISTICS_VALID_PERCENT') {
    if (d.rios === undefined) return { verdict: 'riots adds', note: `${d.riots}, as GDAL's ComputeStatistics writes it` };
    if (Number(d.riots).toPrecision(4) === Number(d.rios).toPrecision(4)) {
      return { verdict: 'both within tolerance', note: `riots ${d.riots} (exact), RIOS ${d.rios} (GDAL's ComputeStatistics, 4 significant digits)` };
    }
    return undefined;
  }
  const o = py<{
    median: number;
    mode: number | null;
    width: number;
    modeBin: [number, number];
    gdalHist: string;
    integer: boolean;
    valid: number;
    riosTotal: number;
    freq: { max: number; riots: number; rios: number } | null;
  }>(
    `
ds = gdal.Open(args['f']); b = ds.GetRasterBand(args['band'])
m = b.GetMetadata()
x = b.ReadAsArray().astype(np.float64).ravel()
if args['ignore'] is not None: x = x[x != args['ignore']]
lo, hi, n = float(m['STATISTICS_HISTOMIN']), float(m['STATISTICS_HISTOMAX']), int(m['STATISTICS_HISTONUMBINS'])
integer = b.DataType not in (gdal.GDT_Float32, gdal.GDT_Float64)
counts = [int(v) for v in m['STATISTICS_HISTOBINVALUES'].strip('|').split('|')]
k = int(np.argmax(counts)); w = (hi - lo) / n
mode = None; freq = None
if integer and args['key'] == 'STATISTICS_MODE':
    vals, cnt = np.unique(x, return_counts=True); mode = float(vals[np.argmax(cnt)])
    freq = {'max': int(cnt.max()), 'riots': int((x == float(args['rv'])).sum()), 'rios': int((x == float(args['sv'])).sum())}
# every valid value is within [lo, hi]: 'out of range' only puts the maximum (at the upper edge) in the last bin
if m.get('STATISTICS_HISTOBINFUNCTION') == 'direct':
    g = b.GetHistogram(lo - 0.5, hi + 0.5, n, include_out_of_range=True, approx_ok=False)
else:
    g = b.GetHistogram(lo, hi, n, include_out_of_range=True, approx_ok=False)
rds = gdal.Open(args['r'])
rios_counts = [int(v) for v in rds.GetRasterBand(args['band']).GetMetadata().get('STATISTICS_HISTOBINVALUES', '0').strip('|').split('|')]
out({'median': float(np.median(x)), 'mode': mode, 'width': w, 'modeBin': [lo + k * w, lo + (k + 1) * w],
     'gdalHist': '|'.join(str(v) for v in g) + '|', 'integer': integer, 'valid': int(x.size), 'riosTotal': sum(rios_counts), 'freq': freq})
ds = None
`,
    { f: riots, r: rios, band, ignore, key: d.key, rv: d.riots ?? 'nan', sv: d.rios ?? 'nan' },
  );
  const [r, s] = [Number(d.riots), Number(d.rios)];
  if (d.key === 'STATISTICS_MEDIAN') {
    const [dr, ds] = [Math.abs(r - o.median), Math.abs(s - o.median)];
    return {
      verdict: dr < ds ? 'riots right' : dr === ds ? 'both within tolerance' : 'RIOS right',
      note: `numpy's exact median ${o.median}; riots ${r} (off by ${dr.toPrecision(3)}), RIOS ${s} (off by ${ds.toPrecision(3)}); bins ${o.width.toPrecision(4)} wide`,
    };
  }
  if (d.key === 'STATISTICS_MODE') {
    if (o.freq) {
      // integer data: the better mode is the value that occurs more often (several values may tie for most)
      const f = o.freq;
      return {
        verdict: f.riots === f.rios ? 'both within tolerance' : f.riots > f.rios ? 'riots right' : 'RIOS right',
        note: `pixels of each value: riots' ${r} ${f.riots}, RIOS's ${s} ${f.rios}, the most frequent value(s) ${f.max} (numpy's first: ${o.mode}); bins ${o.width.toPrecision(4)} wide`,
      };
    }
    const inBin = (v: number): boolean => v >= o.modeBin[0] - 1e-9 && v <= o.modeBin[1] + 1e-9;
    return inBin(r) && inBin(s)
      ? {
          verdict: 'both within tolerance',
          note: `float data: both in the fullest bin [${o.modeBin.map((v) => v.toPrecision(6)).join(', ')}]; riots ${r} (placed within it), RIOS ${s} (its lower edge)`,
        }
      : undefined;
  }
  if (d.key === 'STATISTICS_HISTOBINVALUES') {
    const [rg, sg] = [d.riots === o.gdalHist, d.rios === o.gdalHist];
    const why = o.riosTotal !== o.valid ? ` (RIOS's bins count ${o.riosTotal} pixels, the valid ones are ${o.valid}: it counted the ignored value)` : '';
    return {
      verdict: rg && !sg ? 'riots right' : !rg && sg ? 'RIOS right' : rg ? 'same' : 'RIOS right',
      note: `GDAL's GetHistogram over the same range and bins: riots ${rg ? 'equal' : 'differs'}, RIOS ${sg ? 'equal' : 'differs'}${why}`,
    };
  }
  return undefined;
}

describe('riots against RIOS, job by job', { skip: SKIP }, () => {
  let riosVersion = '?';
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'riots-riosdiff-'));
    riosVersion = py<string>(`import sys; sys.path.insert(0, args['s']); import rios; out(rios.RIOS_VERSION)`, { s: RIOS });
    const gt = [500000, 30, 0, 6100000, 0, -30];
    makeRaster({ path: f('a.tif'), cols: 300, rows: 260, dtype: 'Float32', expr: '(r * 0.75 - c * 0.5 + 3) * 1.37', transform: gt });
    makeRaster({ path: f('b.tif'), cols: 300, rows: 260, dtype: 'Int16', expr: '((r * 5 + c * 11) % 300 - 40)', nodata: -5, transform: gt });
    // the same lattice, shifted 37 columns right and 23 rows down, smaller
    makeRaster({
      path: f('c.tif'),
      cols: 280,
      rows: 240,
      dtype: 'Int16',
      expr: '((r * 7 + c * 3) % 200 - 20)',
      nodata: -5,
      transform: [gt[0]! + 37 * 30, 30, 0, gt[3]! - 23 * 30, 0, -30],
    });
    // a geographic raster over a's area, finer than a, for reprojection
    py(
      `
from osgeo import osr
src = osr.SpatialReference(); src.ImportFromEPSG(32755)
dst = osr.SpatialReference(); dst.ImportFromEPSG(4326); dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
t = osr.CoordinateTransformation(src, dst)
pts = [t.TransformPoint(x, y)[:2] for x in (500000, 509000) for y in (6100000, 6092200)]
lon0 = min(p[0] for p in pts) - 0.01; lat1 = max(p[1] for p in pts) + 0.01
res = 0.0002
cols = int((max(p[0] for p in pts) + 0.01 - lon0) / res); rows = int((lat1 - min(p[1] for p in pts) + 0.01) / res)
ds = gdal.GetDriverByName('GTiff').Create(args['p'], cols, rows, 1, gdal.GDT_Float32, ['TILED=YES'])
ds.SetProjection(dst.ExportToWkt()); ds.SetGeoTransform([lon0, res, 0, lat1, 0, -res])
r, c = np.mgrid[0:rows, 0:cols]
ds.GetRasterBand(1).WriteArray(((r * 0.37 + c * 0.61) % 97).astype(np.float32))
ds = None
out(True)
`,
      { p: f('d4326.tif') },
    );
  });
  after(() => {
    const report = process.env.RIOTS_RIOS_REPORT ?? path.join(os.tmpdir(), 'riots-rios-differential.md');
    writeFileSync(report, resultsTable(results, riosVersion));
    process.stdout.write(`# differential results (${results.length} checks): ${report}\n`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('two inputs averaged, default statistics and pyramids (overviewMinDim 32)', async () => {
    const p = await runPair({
      name: 'mean',
      fn: 'mean',
      inputs: { a: f('a.tif'), b: f('b.tif') },
      riots: { overviewMinDim: 32 },
      rios: [['setOverviewMinDim', [32], {}]],
    });
    compareOutputs('mean', p.riots, p.rios, nearestOverviewsJudged(p.riots));
  });

  test('Int16 with nodata, statsIgnore -10', async () => {
    const p = await runPair({
      name: 'scaled',
      fn: 'scaled',
      inputs: { b: f('b.tif') },
      riots: { statsIgnore: -10, overviewMinDim: 32 },
      rios: [
        ['setStatsIgnore', [-10], {}],
        ['setOverviewMinDim', [32], {}],
      ],
    });
    compareOutputs('scaled', p.riots, p.rios, nearestOverviewsJudged(p.riots));
  });

  test('thematic output: histogram per class, NEAREST pyramids', async () => {
    const p = await runPair({
      name: 'classes',
      fn: 'classes',
      inputs: { b: f('b.tif') },
      riots: { thematic: true, statsIgnore: null, overviewMinDim: 32 },
      rios: [
        ['setThematic', [true], {}],
        ['setStatsIgnore', [null], {}],
        ['setOverviewMinDim', [32], {}],
      ],
    });
    compareOutputs('classes (thematic)', p.riots, p.rios, nearestOverviewsJudged(p.riots));
  });

  test('ReaderInfo values, block by block (64×64 windows, overlap 2)', async () => {
    const p = await runPair({
      name: 'record',
      fn: 'record',
      inputs: { a: f('a.tif'), b: f('b.tif') },
      riots: { windowXSize: 64, windowYSize: 64, overlap: 2, calcStats: false },
      rios: [
        // RIOS refuses a window that is not a multiple of GTiff's default 256 tiles; riots picks tiles that fit
        ['setCreationOptions', [['TILED=YES', 'BLOCKXSIZE=64', 'BLOCKYSIZE=64']], {}],
        ['setWindowXsize', [64], {}],
        ['setWindowYsize', [64], {}],
        ['setOverlap', [2], {}],
        ['setCalcStats', [false], {}],
      ],
      otherArgs: { records: [] },
    });
    const [a, b] = [p.riotsOther.records as Record<string, unknown>[], p.riosOther.records as Record<string, unknown>[]];
    assert.equal(a.length, b.length, 'blocks');
    const keys = Object.keys(b[0]!);
    for (const k of keys) {
      const diffs = a.map((r, i) => [i, r[k], b[i]![k]] as const).filter(([, x, y]) => JSON.stringify(x) !== JSON.stringify(y));
      if (diffs.length > 0 && k === 'colRow') {
        // the third opinion: the centre pixel's column and row on the working grid, from its coordinates
        const truth = a.map((r) => {
          const [cx, cy] = r.centre as [number, number];
          const t = r.transform as number[];
          return [Math.floor((cx - t[0]!) / t[1]!), Math.floor((cy - t[3]!) / t[5]!)];
        });
        const riotsRight = a.every((r, i) => JSON.stringify(r.colRow) === JSON.stringify(truth[i]));
        const riosRight = b.every((r, i) => JSON.stringify(r.colRow) === JSON.stringify(truth[i]));
        assert.ok(riotsRight, `ReaderInfo getPixColRow: riots is not right on every block: ${JSON.stringify(diffs.slice(0, 3))}`);
        verdict({
          case: 'ReaderInfo',
          aspect: 'getPixColRow (with overlap)',
          verdict: riosRight ? 'same' : 'riots right',
          note: `in ${diffs.length} of ${a.length} blocks RIOS leaves out the ${String(a[0]!.overlap)}-pixel margin (its docstring says so); riots gives the pixel's column and row on the working grid`,
        });
        continue;
      }
      assert.deepEqual(diffs, [], `ReaderInfo ${k}: blocks where riots and RIOS differ`);
      verdict({ case: 'ReaderInfo', aspect: k, verdict: 'same', note: `${a.length} blocks` });
    }
    compareOutputs('ReaderInfo run output', p.riots, p.rios);
  });

  test('otherArgs accumulated over the blocks', async () => {
    const p = await runPair({
      name: 'total',
      fn: 'total',
      inputs: { a: f('a.tif') },
      riots: { windowXSize: 64, windowYSize: 64, calcStats: false },
      rios: [
        ['setCreationOptions', [['TILED=YES', 'BLOCKXSIZE=64', 'BLOCKYSIZE=64']], {}],
        ['setWindowXsize', [64], {}],
        ['setWindowYsize', [64], {}],
        ['setCalcStats', [false], {}],
      ],
      otherArgs: { total: 0, blocks: 0 },
    });
    assert.equal(p.riotsOther.blocks, p.riosOther.blocks);
    const [x, y] = [p.riotsOther.total as number, p.riosOther.total as number];
    assert.ok(Math.abs(x - y) <= 1e-12 * Math.abs(y), `totals ${x} and ${y}`);
    verdict({
      case: 'otherArgs',
      aspect: 'blocks and total',
      verdict: x === y ? 'same' : 'both within tolerance',
      note: x === y ? `${String(p.riosOther.blocks)} blocks` : `sums ${x} and ${y} (numpy adds pairwise, riots in order)`,
    });
  });

  for (const footprint of ['INTERSECTION', 'UNION'] as const) {
    test(`footprint ${footprint} of two offset grids`, async () => {
      const p = await runPair({
        name: `fp_${footprint}`,
        fn: 'diff',
        inputs: { a: f('b.tif'), b: f('c.tif') },
        riots: { footprint: footprint.toLowerCase(), calcStats: false },
        rios: [
          ['setFootprintType', [footprint], {}],
          ['setCalcStats', [false], {}],
        ],
      });
      compareOutputs(`footprint ${footprint.toLowerCase()}`, p.riots, p.rios);
    });
  }

  for (const method of ['near', 'bilinear'] as const) {
    test(`an input reprojected from EPSG:4326 (${method}) onto the reference grid`, async () => {
      const p = await runPair({
        name: `warp_${method}`,
        fn: 'diff',
        inputs: { a: f('a.tif'), b: f('d4326.tif') },
        riots: { referenceImage: 'a', resampleMethod: method, calcStats: false },
        rios: [
          ['setReferenceImage', [f('a.tif')], {}],
          ['setResampleMethod', [method], {}],
          ['setCalcStats', [false], {}],
        ],
      });
      compareOutputs(`reprojected (${method})`, p.riots, p.rios, (aspect, detail) => {
        if (!aspect.endsWith('pixels')) return undefined;
        // the third opinion: gdalwarp of the input onto the same grid, with the exact transformer and with its default one
        const expected = (et: string[], tag: string): string => {
          const warped = f(`gdalwarp_${method}_${tag}.tif`);
          execFileSync('gdalwarp', [
            '-q',
            '-overwrite',
            '-r',
            method,
            ...et,
            '-te',
            '500000',
            '6092200',
            '509000',
            '6100000',
            '-tr',
            '30',
            '30',
            '-t_srs',
            'EPSG:32755',
            f('d4326.tif'),
            warped,
          ]);
          const out = f(`expected_${method}_${tag}.tif`);
          py(
            `
a = gdal.Open(args['a']).ReadAsArray().astype(np.float32); w = gdal.Open(args['w']).ReadAsArray().astype(np.float32)
d = gdal.GetDriverByName('GTiff').CreateCopy(args['o'], gdal.Open(args['a'])); d.GetRasterBand(1).WriteArray(a - w); d = None
out(True)
`,
            { a: f('a.tif'), w: warped, o: out },
          );
          return out;
        };
        const exact = expected(['-et', '0'], 'exact');
        if (method === 'near') {
          const [r, s] = [pixelDifference(p.riots, exact), pixelDifference(p.rios, exact)];
          return {
            verdict: r.differ < s.differ ? 'riots right' : r.differ === s.differ ? 'both within tolerance' : 'RIOS right',
            note: `against gdalwarp -r near -et 0 (exact): riots differs in ${r.differ}, RIOS in ${s.differ} of ${s.total} pixels (${detail})`,
          };
        }
        // smooth methods: how far each is from the exact warp, beside how far gdalwarp's default (-et 0.125) is
        const gdalDefault = expected([], 'default');
        const [er, es, eg] = [meanAbs(p.riots, exact), meanAbs(p.rios, exact), meanAbs(gdalDefault, exact)];
        const within = er <= eg * 1.05 && es <= eg * 1.05;
        return {
          verdict: within ? 'both within tolerance' : er < es ? 'riots right' : 'RIOS right',
          note:
            `mean |difference| from gdalwarp -r ${method} -et 0 (exact): riots ${er.toPrecision(3)}, RIOS ${es.toPrecision(3)}, gdalwarp's default ${eg.toPrecision(3)}; ` +
            `GDAL's approximate transformer (0.125 pixel) errs differently over riots' per-grid warp and RIOS's whole-image warp (${detail})`,
        };
      });
    });
  }

  test('the working grid of a reprojected input smaller than the reference (intersection)', async () => {
    // d4326 cut to part of a's area, so that the working grid's edges come from its reprojected footprint
    execFileSync('gdalwarp', ['-q', '-overwrite', '-te', '146.99', '-35.30', '147.05', '-35.25', f('d4326.tif'), f('dsmall.tif')]);
    const p = await runPair({
      name: 'snap',
      fn: 'diff',
      inputs: { a: f('a.tif'), b: f('dsmall.tif') },
      riots: { referenceImage: 'a', calcStats: false },
      rios: [
        ['setReferenceImage', [f('a.tif')], {}],
        ['setCalcStats', [false], {}],
      ],
    });
    compareOutputs('reprojected footprint (extent)', p.riots, p.rios, (aspect, detail) => {
      if (aspect !== 'grid') return undefined;
      // the third opinion: the footprint's bounds in a's CRS (edges densified), and which grid holds every pixel it touches
      const cover = py<{ riots: boolean; rios: boolean; riotsSpare: number; riosSpare: number; bounds: number[] }>(
        `
from osgeo import osr
src = osr.SpatialReference(); src.ImportFromEPSG(4326); src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
dst = osr.SpatialReference(); dst.ImportFromEPSG(32755); dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
d = gdal.Open(args['d']); gt = d.GetGeoTransform()
x0, y1 = gt[0], gt[3]; x1 = x0 + gt[1] * d.RasterXSize; y0 = y1 + gt[5] * d.RasterYSize
b = osr.CoordinateTransformation(src, dst).TransformBounds(x0, y0, x1, y1, 101)
a = gdal.Open(args['a']).GetGeoTransform()
res = {'bounds': list(b)}
for who in ('riots', 'rios'):
    o = gdal.Open(args[who]); g = o.GetGeoTransform()
    gx0, gy1 = g[0], g[3]; gx1 = gx0 + g[1] * o.RasterXSize; gy0 = gy1 + g[5] * o.RasterYSize
    # within the reference's own extent, does the grid hold the whole footprint?
    need = (max(b[0], a[0]), max(b[1], a[3] - 30 * 260), min(b[2], a[0] + 30 * 300), min(b[3], a[3]))
    res[who] = bool(gx0 <= need[0] + 1e-6 and gy0 <= need[1] + 1e-6 and gx1 >= need[2] - 1e-6 and gy1 >= need[3] - 1e-6)
    # rows or columns of the grid wholly outside the footprint
    res[who + 'Spare'] = int((need[0] - gx0) // 30 + (gx1 - need[2]) // 30 + (need[1] - gy0) // 30 + (gy1 - need[3]) // 30)
    o = None
out(res)
`,
        { d: f('dsmall.tif'), a: f('a.tif'), riots: p.riots, rios: p.rios },
      );
      return {
        verdict: cover.riots && cover.riotsSpare === 0 && !cover.rios ? 'riots right' : cover.riots === cover.rios ? 'both within tolerance' : 'RIOS right',
        note:
          `the footprint's bounds in EPSG:32755 (densified edges): ${cover.bounds.map((v) => v.toFixed(1)).join(', ')}; ` +
          `riots' grid holds all of it: ${cover.riots} (spare rows/columns ${cover.riotsSpare}); RIOS's: ${cover.rios} (it rounds each edge to the nearest grid line) (${detail})`,
      };
    });
  });

  for (const [allTouched, where] of [
    [false, undefined],
    [true, undefined],
    [false, 'id = 2'],
  ] as const) {
    test(`a vector input rasterized onto the grid (burn value 3${allTouched ? ', all touched' : ''}${where ? `, filterSQL ${where}` : ''})`, async () => {
      const vec = f('polys.geojson');
      writeFileSync(
        vec,
        JSON.stringify({
          type: 'FeatureCollection',
          crs: { type: 'name', properties: { name: 'urn:ogc:def:crs:EPSG::32755' } },
          features: [
            {
              type: 'Feature',
              properties: { id: 1 },
              geometry: {
                type: 'Polygon',
                coordinates: [
                  [
                    [500400, 6099500],
                    [503333, 6099100],
                    [502000, 6096017],
                    [500400, 6099500],
                  ],
                ],
              },
            },
            {
              type: 'Feature',
              properties: { id: 2 },
              geometry: {
                type: 'Polygon',
                coordinates: [
                  [
                    [505010, 6095005],
                    [508777, 6095005],
                    [508777, 6093111],
                    [505010, 6093111],
                    [505010, 6095005],
                  ],
                ],
              },
            },
          ],
        }),
      );
      const tag = allTouched ? 'touched' : where ? 'filtered' : 'centres';
      const p = await runPair({
        name: `burn_${tag}`,
        fn: 'burnt',
        inputs: { a: f('a.tif'), v: vec },
        riots: { calcStats: false, burnValue: 3, ...(allTouched ? { allTouched: true } : {}), ...(where ? { filterSQL: where } : {}) },
        rios: [
          ['setCalcStats', [false], {}],
          ['setBurnValue', [3], {}],
          ...(allTouched ? ([['setAlltouched', [true], {}]] as RiosControls) : []),
          ...(where ? ([['setFilterSQL', [where], {}]] as RiosControls) : []),
        ],
      });
      compareOutputs(`vector rasterized (${tag})`, p.riots, p.rios, (aspect, detail) => {
        if (!aspect.endsWith('pixels')) return undefined;
        const expected = f(`gdal_rasterize_${tag}.tif`);
        execFileSync('gdal_rasterize', [
          '-q',
          '-burn',
          '3',
          ...(allTouched ? ['-at'] : []),
          ...(where ? ['-where', where] : []),
          '-te',
          '500000',
          '6092200',
          '509000',
          '6100000',
          '-tr',
          '30',
          '30',
          '-ot',
          'Byte',
          vec,
          expected,
        ]);
        const [r, s] = [pixelDifference(p.riots, expected), pixelDifference(p.rios, expected)];
        return {
          verdict: r.differ < s.differ ? 'riots right' : r.differ === s.differ ? 'both within tolerance' : 'RIOS right',
          note: `against gdal_rasterize${where ? ` -where "${where}"` : ''}: riots differs in ${r.differ}, RIOS in ${s.differ} of ${s.total} pixels (${detail})`,
        };
      });
    });
  }

  test('RIOS_DFLT_CREOPT_GTiff, a space-separated list', async () => {
    const env = { RIOS_DFLT_CREOPT_GTiff: 'COMPRESS=LZW TILED=YES' };
    const p = await runPair({ name: 'creopt', fn: 'copy', inputs: { a: f('a.tif') }, riots: { calcStats: false }, rios: [['setCalcStats', [false], {}]], env });
    const [a, b] = compareOutputs('RIOS_DFLT_CREOPT_GTiff', p.riots, p.rios);
    assert.equal(a.imageStructure.COMPRESSION, 'LZW');
    verdict({
      case: 'RIOS_DFLT_CREOPT_GTiff',
      aspect: 'compression',
      verdict: a.imageStructure.COMPRESSION === b.imageStructure.COMPRESSION ? 'same' : 'riots right',
      note: `riots ${a.imageStructure.COMPRESSION}, RIOS ${b.imageStructure.COMPRESSION}`,
    });
  });

  test('ConcurrencyStyle: the same settings accepted and refused', () => {
    const cases: ConcurrencyStyleInit[] = [
      {},
      { numReadWorkers: 2 },
      { computeWorkerKind: 'CW_THREADS', numComputeWorkers: 2, numReadWorkers: 1 },
      { computeWorkerKind: 'CW_THREADS', numComputeWorkers: 2 },
      { computeWorkerKind: 'CW_THREADS' },
      { computeWorkerKind: 'CW_THREADS', numComputeWorkers: 1, numReadWorkers: 1, computeWorkersRead: true },
      { computeWorkerKind: 'CW_THREADS', numComputeWorkers: os.availableParallelism() + 1, numReadWorkers: 1 },
      { computeWorkerKind: 'CW_THREADS', singleBlockComputeWorkers: true },
      { computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, numReadWorkers: 1 },
      { computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, computeWorkersRead: false },
      { computeWorkerKind: 'CW_SUBPROC', numComputeWorkers: 2, computeWorkersRead: true, numReadWorkers: 2 },
      { computeWorkerKind: 'CW_SUBPROC', singleBlockComputeWorkers: true, numComputeWorkers: 2 },
      { computeWorkerKind: 'CW_SUBPROC', singleBlockComputeWorkers: true, numReadWorkers: 1 },
      { computeWorkerKind: 'CW_AWSBATCH', numComputeWorkers: 2, numReadWorkers: 1 },
      { computeWorkerKind: 'CW_AWSBATCH', singleBlockComputeWorkers: true },
      { computeWorkerKind: 'CW_ECS', numComputeWorkers: 3 },
      { computeWorkerKind: 'CW_SLURM', singleBlockComputeWorkers: true },
      { computeWorkerKind: 'CW_PBS', numComputeWorkers: 2, computeWorkersRead: false },
      { numComputeWorkers: 2 },
      { computeWorkersRead: true },
    ];
    const rios = runRios<{ results: { accepted: boolean; message: string; applied?: string }[] }>({
      kind: 'concurrency',
      cases,
      input: f('a.tif'),
      output: f('threads.tif'),
    }).results;
    cases.forEach((c, i) => {
      let riots = '';
      try {
        new ConcurrencyStyle(c);
      } catch (e) {
        riots = (e as Error).message;
      }
      const r = rios[i]!;
      const aspect = JSON.stringify(c);
      if ((riots === '') === r.accepted) {
        verdict({ case: 'ConcurrencyStyle', aspect, verdict: 'same', note: r.accepted ? 'accepted' : `refused; RIOS: ${r.message}` });
        return;
      }
      assert.ok(r.accepted, `${aspect}: RIOS refuses (${r.message}) what riots accepts`);
      // riots refuses what RIOS's constructor lets through: RIOS either ignores the setting or fails on it once running
      if (c.computeWorkerKind === undefined || c.computeWorkerKind === 'CW_NONE') {
        verdict({ case: 'ConcurrencyStyle', aspect, verdict: 'riots refuses, RIOS ignores', note: `riots: ${riots}` });
      } else {
        assert.ok(r.applied !== undefined && r.applied !== 'ran', `${aspect}: riots refuses it, and RIOS runs it: ${riots}`);
        verdict({ case: 'ConcurrencyStyle', aspect, verdict: 'riots refuses, RIOS fails later', note: `RIOS's apply: ${r.applied}; riots: ${riots}` });
      }
    });
  });

  test('printstats: the same values as riosprintstats, from the same file', () => {
    copyFileSync(f('b.tif'), f('ps.tif'));
    runRios({ kind: 'calcstats', argv: [f('ps.tif')] });
    const riosOut = runRios<{ stdout: string }>({ kind: 'printstats', argv: [f('ps.tif')] }).stdout;
    const rios = Object.fromEntries([...riosOut.matchAll(/(\w+): (-?[\d.e+-]+)/g)].map((m) => [m[1]!.toLowerCase(), Number(m[2])]));
    const json = execFileSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'printstats', '--json', f('ps.tif')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    const s = (JSON.parse(json) as { bands: { stats: Record<string, number> }[] }).bands[0]!.stats;
    const riots: Record<string, number | undefined> = { mean: s.mean, stddev: s.stddev, min: s.min, max: s.max, median: s.median, mode: s.mode };
    assert.deepEqual(Object.keys(rios).sort(), Object.keys(riots).sort(), riosOut);
    for (const k of Object.keys(rios)) {
      assert.equal(riots[k], rios[k], `${k}: riots printstats ${riots[k]}, riosprintstats ${rios[k]}`);
      verdict({ case: 'printstats (a file RIOS calcstats wrote)', aspect: k, verdict: 'same', note: String(rios[k]) });
    }
  });

  test('calcstats command lines on copies of one file', () => {
    for (const who of ['riots', 'rios']) copyFileSync(f('b.tif'), f(`cs_${who}.tif`));
    runRios({ kind: 'calcstats', argv: [f('cs_rios.tif')] });
    execFileSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'calcstats', '-q', f('cs_riots.tif')], {
      cwd: REPO_ROOT,
    });
    compareOutputs('calcstats (no --ignore: the file nodata)', f('cs_riots.tif'), f('cs_rios.tif'), nearestOverviewsJudged(f('cs_riots.tif'), ''));
  });
});
