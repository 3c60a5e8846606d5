/**
 * Oracle for statistics, histograms and pyramids: /usr/bin/python3 with Debian's GDAL and
 * numpy, never riots' own code. Scripts get `args` (JSON on stdin) and print one JSON value last.
 */
import { py } from './py.js';

export { PYTHON } from './py.js';

/** Run a Python script with `args`; return the JSON value it printed last (see py.ts). */
export const oracle = py;

export interface TestRasterSpec {
  path: string;
  cols: number;
  rows: number;
  bands?: number;
  dtype: 'Byte' | 'Int16' | 'UInt16' | 'Int32' | 'UInt32' | 'Float32' | 'Float64';
  /**
   * numpy expression for the pixels, with `rng` (seeded Generator), `r`, `c` (row/col index
   * grids, shape rows x cols) and `b` (band index) available.
   */
  expr: string;
  /** Fraction of pixels set to `nodata` (when given). */
  nodataFraction?: number;
  nodata?: number | null;
  seed?: number;
  /** Creation options (default tiled, deflate). */
  options?: string[];
}

/** Make a test raster with numpy (pixels never come from riots). */
export function makeTestRaster(spec: TestRasterSpec): void {
  oracle(
    `
a = args
rng = np.random.default_rng(a.get('seed', 1))
rows, cols, bands = a['rows'], a['cols'], a.get('bands', 1)
r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing='ij')
dt = gdal.GetDataTypeByName(a['dtype'])
ds = gdal.GetDriverByName('GTiff').Create(a['path'], cols, rows, bands, dt, a.get('options') or ['TILED=YES', 'COMPRESS=DEFLATE'])
ds.SetGeoTransform([500000, 10, 0, 7000000, 0, -10])
for b in range(bands):
    arr = np.asarray(eval(a['expr']))
    arr = np.broadcast_to(arr, (rows, cols)).copy()
    nd = a.get('nodata')
    if nd is not None:
        frac = a.get('nodataFraction') or 0
        if frac > 0:
            arr[rng.random((rows, cols)) < frac] = nd
    band = ds.GetRasterBand(b + 1)
    band.WriteArray(arr)
    if nd is not None:
        band.SetNoDataValue(nd)
ds = None
out(True)
`,
    spec,
  );
}

export interface OracleBandStats {
  /** GDAL ComputeStatistics on a gdal_translate copy stripped of stored statistics: [min, max, mean, stddev]. */
  gdal: [number, number, number, number] | null;
  /** numpy on the valid pixels. */
  numpy: { min: number; max: number; mean: number; std: number; count: number; total: number } | null;
  /** Histogram by the documented rules, computed with numpy. */
  hist: {
    histMin: number;
    histMax: number;
    numBins: number;
    binFunction: string;
    counts: number[];
    median: number;
    mode: number;
    /** numpy's median of the counted values, and the width of a bin. */
    exactMedian: number;
    binWidth: number;
  } | null;
  /** The copy carried no STATISTICS_* keys before GDAL computed them (so nothing was echoed). */
  copyHadNoStats: boolean;
}

/**
 * Statistics of each band of `path` by GDAL (on a fresh copy without metadata) and numpy,
 * ignoring `nodata` (null: nothing).
 */
export function oracleStats(path: string, copyPath: string, nodata: number | null, thematic = false): OracleBandStats[] {
  return oracle<OracleBandStats[]>(
    `
a = args
nd = a['nodata']
opts = ['-of', 'GTiff'] + (['-a_nodata', repr(nd)] if nd is not None else ['-a_nodata', 'none'])
gdal.Translate(a['copy'], a['path'], options=opts)
# gdal_translate carries band metadata over: strip the stored statistics, then reopen.
cp = gdal.Open(a['copy'], gdal.GA_Update)
for bi in range(1, cp.RasterCount + 1):
    band = cp.GetRasterBand(bi)
    md = band.GetMetadata() or {}
    band.SetMetadata({k: v for k, v in md.items() if not k.startswith('STATISTICS_')})
cp = None
src = gdal.Open(a['path'])
cp = gdal.Open(a['copy'], gdal.GA_Update)
res = []
for bi in range(1, cp.RasterCount + 1):
    band = cp.GetRasterBand(bi)
    had = not any(k.startswith('STATISTICS_') for k in (band.GetMetadata() or {}))
    arr = src.GetRasterBand(bi).ReadAsArray()
    dtname = gdal.GetDataTypeName(band.DataType)
    isint = not dtname.startswith('Float')
    v = arr.ravel()
    mask = np.ones(v.shape, bool)
    if not isint:
        mask &= ~np.isnan(v)
    if nd is not None:
        if isint:
            info = np.iinfo(arr.dtype)
            if float(nd).is_integer() and info.min <= nd <= info.max:
                mask &= (v != int(nd))
        else:
            mask &= (v != np.array(nd, dtype=arr.dtype))
    vv = v[mask].astype(np.float64)
    if vv.size == 0:
        res.append({'gdal': None, 'numpy': None, 'hist': None, 'copyHadNoStats': had})
        continue
    try:
        g = band.ComputeStatistics(False)
    except Exception:
        g = None
    mn, mx = float(vv.min()), float(vv.max())
    npst = {'min': mn, 'max': mx, 'mean': float(vv.mean()), 'std': float(vv.std()), 'count': int(vv.size), 'total': int(v.size)}
    if isint and (dtname == 'Byte' or a['thematic']):
        lo = min(0.0, mn); nb = int(mx - lo + 1); func = 'direct'
        idx = (vv - lo).astype(np.int64)
    elif isint and mx - mn < 256:
        lo = mn; nb = int(mx - mn + 1); func = 'direct'
        idx = (vv - lo).astype(np.int64)
    else:
        lo = mn; nb = 256; func = 'linear'
        w = (mx - mn) / 256
        idx = np.zeros(vv.shape, np.int64) if w == 0 else np.minimum(np.floor((vv - mn) / w).astype(np.int64), 255)
    counts = np.bincount(idx, minlength=nb)
    def value_of(x):
        if func == 'direct':
            return float(x)
        w = (mx - mn) / 256
        i = 0 if w == 0 else min(int(np.floor((x - mn) / w)), 255)
        return lo + (i + 0.5) * w
    s = np.sort(vv)
    mbin = int(np.argmax(counts))
    exact_median = float(np.median(vv))
    if func == 'direct':
        med = value_of(s[(s.size - 1) // 2])
        mode = float(lo + mbin)
    else:
        # grouped data: the median where the running count reaches half, spread evenly in its bin;
        # the mode between its neighbours' counts
        w = (mx - mn) / 256
        cum = np.cumsum(counts)
        i = int(np.searchsorted(cum, s.size / 2))
        before = float(cum[i - 1]) if i > 0 else 0.0
        med = lo + (i + (s.size / 2 - before) / counts[i]) * w
        f = counts.astype(np.float64)
        d1 = f[mbin] - (f[mbin - 1] if mbin > 0 else 0.0)
        d2 = f[mbin] - (f[mbin + 1] if mbin < nb - 1 else 0.0)
        mode = lo + (mbin + (d1 / (d1 + d2) if d1 + d2 > 0 else 0.5)) * w
        if isint:
            # integer data: the nearest whole number (half up, as JavaScript's Math.round)
            med = float(np.floor(med + 0.5)); mode = float(np.floor(mode + 0.5))
    res.append({'gdal': list(g) if g else None, 'numpy': npst,
                'hist': {'histMin': lo, 'histMax': mx, 'numBins': nb, 'binFunction': func, 'counts': [int(x) for x in counts], 'median': float(med), 'mode': float(mode),
                         'exactMedian': exact_median, 'binWidth': 1.0 if func == 'direct' else (mx - mn) / 256},
                'copyHadNoStats': had})
out(res)
`,
    { path, copy: copyPath, nodata, thematic },
  );
}

/** The STATISTICS_* and LAYER_TYPE metadata of each band, as GDAL reads it back. */
export function storedMetadata(path: string): Record<string, string>[] {
  return oracle<Record<string, string>[]>(
    `
ds = gdal.Open(args['path'])
out([ds.GetRasterBand(i).GetMetadata() or {} for i in range(1, ds.RasterCount + 1)])
`,
    { path },
  );
}

export interface OverviewComparison {
  level: number;
  shape: [number, number];
  /** Shape of the gdaladdo overview with the same index. */
  gdalShape: [number, number];
  /** Every pixel equal to gdaladdo's. */
  equal: boolean;
  /** Largest |mine − gdal| / max(1, |gdal|) (GDAL 3.6 resamples 32-bit ints and Float64 through float32). */
  maxRelDiff: number;
  /** Pixels that differ. */
  ndiff: number;
}

/**
 * Copy `path`'s base bands (gdal_translate, which does not copy overviews), run
 * `gdaladdo -r method` with `levels` on the copy, and compare each overview of every band of
 * `path` with the copy's.
 */
export function compareWithGdaladdo(path: string, copyPath: string, levels: number[], method: string): OverviewComparison[][] {
  return oracle<OverviewComparison[][]>(
    `
a = args
gdal.Translate(a['copy'], a['path'], options=['-co', 'TILED=YES'])
subprocess.check_call(['gdaladdo', '-q', '-r', a['method'], a['copy']] + [str(l) for l in a['levels']])
mine = gdal.Open(a['path'])
ref = gdal.Open(a['copy'])
res = []
for bi in range(1, mine.RasterCount + 1):
    mb = mine.GetRasterBand(bi); rb = ref.GetRasterBand(bi)
    per = []
    if mb.GetOverviewCount() != rb.GetOverviewCount():
        raise SystemExit('overview count %d != gdaladdo %d' % (mb.GetOverviewCount(), rb.GetOverviewCount()))
    for i in range(mb.GetOverviewCount()):
        m = mb.GetOverview(i).ReadAsArray(); r = rb.GetOverview(i).ReadAsArray()
        same_shape = m.shape == r.shape
        eq = bool(same_shape and np.array_equal(m, r, equal_nan=True))
        if same_shape and m.size:
            md, rd = m.astype(np.float64), r.astype(np.float64)
            rel = np.abs(md - rd) / np.maximum(1.0, np.abs(rd))
            rel = float(np.nanmax(rel)) if np.isfinite(rel).any() else 0.0
        else:
            rel = -1.0
        nd = int((m != r).sum()) if same_shape else -1
        per.append({'level': a['levels'][i], 'shape': list(m.shape), 'gdalShape': list(r.shape), 'equal': eq, 'maxRelDiff': rel, 'ndiff': nd})
    res.append(per)
out(res)
`,
    { path, copy: copyPath, levels, method },
  );
}
