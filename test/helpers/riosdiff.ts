/**
 * The machinery of the differential suite against RIOS (test/integration/riosparity.test.ts): run a job in
 * RIOS (test/helpers/riosrun.py under Debian's python3-gdal), describe outputs through GDAL, and
 * compare two descriptions aspect by aspect. Verdicts are collected into a table that the suite
 * writes out at its end.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PYTHON, py } from './py.js';

export const RIOS_SOURCE_ENV = 'RIOTS_RIOS_SOURCE';
const RUNNER = fileURLToPath(new URL('./riosrun.py', import.meta.url));

/** Run one job in RIOS; `env` is added to the Python process's environment (RIOS reads RIOS_DFLT_* at import). */
export function runRios<T = unknown>(job: Record<string, unknown>, env: Record<string, string> = {}): T {
  const r = spawnSync(PYTHON, [RUNNER], {
    input: JSON.stringify(job),
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 300_000,
    maxBuffer: 1 << 26,
  });
  if (r.error) throw new Error(`RIOS did not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`RIOS failed (status ${r.status}): ${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout) as T;
}

/** What GDAL says of one output band. */
export interface BandDescription {
  dtype: string;
  nodata: number | null;
  metadata: Record<string, string>;
  overviews: [number, number][];
  pixels: string;
  overviewPixels: string[];
}
export interface RasterDescription {
  size: [number, number];
  transform: number[];
  /** EPSG code when GDAL can tell, else the WKT. */
  srs: string;
  driver: string;
  imageStructure: Record<string, string>;
  bands: BandDescription[];
}

/** Describe rasters through GDAL (pixels as sha256 of their bytes). */
export function describeRasters(paths: string[]): RasterDescription[] {
  return py<RasterDescription[]>(
    `
import hashlib
from osgeo import osr
def h(a): return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
res = []
for p in args['paths']:
    ds = gdal.Open(p)
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    srs.AutoIdentifyEPSG()
    code = srs.GetAuthorityCode(None)
    bands = []
    for i in range(ds.RasterCount):
        b = ds.GetRasterBand(i + 1)
        md = b.GetMetadata()
        ovs = [b.GetOverview(k) for k in range(b.GetOverviewCount())]
        bands.append({'dtype': gdal.GetDataTypeName(b.DataType), 'nodata': b.GetNoDataValue(), 'metadata': md,
                      'overviews': [[o.XSize, o.YSize] for o in ovs], 'pixels': h(b.ReadAsArray()),
                      'overviewPixels': [h(o.ReadAsArray()) for o in ovs]})
    res.append({'size': [ds.RasterXSize, ds.RasterYSize], 'transform': list(ds.GetGeoTransform()),
                'srs': ('EPSG:' + code) if code else ds.GetProjection(), 'driver': ds.GetDriver().ShortName,
                'imageStructure': ds.GetMetadata('IMAGE_STRUCTURE'), 'bands': bands})
    ds = None
out(res)
`,
    { paths },
  );
}

/** Pixels of two single-band rasters of one size that differ: count, and the largest difference. */
export function pixelDifference(a: string, b: string, band = 1, overview = -1): { differ: number; maxAbs: number; total: number } {
  return py(
    `
def read(p):
    ds = gdal.Open(p); b = ds.GetRasterBand(args['band'])
    if args['ov'] >= 0: b = b.GetOverview(args['ov'])
    return b.ReadAsArray().astype(np.float64)
x = read(args['a']); y = read(args['b'])
d = (x != y) & ~(np.isnan(x) & np.isnan(y))
out({'differ': int(d.sum()), 'maxAbs': float(np.nanmax(np.abs(x - y))) if d.any() else 0.0, 'total': int(x.size)})
`,
    { a, b, band, ov: overview },
  );
}

export type Verdict =
  'same' | 'riots right' | 'RIOS right' | 'both within tolerance' | 'riots adds' | 'riots refuses, RIOS ignores' | 'riots refuses, RIOS fails later';

/** One row of the results table. */
export interface CaseResult {
  case: string;
  aspect: string;
  verdict: Verdict;
  note: string;
}

/** Numeric metadata values equal within a relative tolerance (statistics computed in another order). */
export function closeNumbers(a: string | undefined, b: string | undefined, rel = 1e-9): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const [x, y] = [Number(a), Number(b)];
  if (Number.isNaN(x) || Number.isNaN(y)) return false;
  return Math.abs(x - y) <= rel * Math.max(1, Math.abs(x), Math.abs(y));
}

/** Metadata keys whose values differ (numbers compared within `rel`), with both values. */
export function metadataDifferences(a: Record<string, string>, b: Record<string, string>, rel = 1e-9): { key: string; riots?: string; rios?: string }[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const out: { key: string; riots?: string; rios?: string }[] = [];
  for (const k of keys) {
    const [x, y] = [a[k], b[k]];
    if (x === y) continue;
    if (x !== undefined && y !== undefined && x.includes('|') && y.includes('|')) {
      // histogram bins: counts must be equal
      if (x.replace(/\|$/, '') === y.replace(/\|$/, '')) continue;
    } else if (closeNumbers(x, y, rel)) continue;
    out.push({ key: k, ...(x !== undefined ? { riots: x } : {}), ...(y !== undefined ? { rios: y } : {}) });
  }
  return out;
}

/** The results as a Markdown table, with the date and RIOS's version. */
export function resultsTable(rows: CaseResult[], riosVersion: string): string {
  const lines = [
    `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC against RIOS ${riosVersion}: ${rows.length} checks, ` +
      `${rows.filter((r) => r.verdict === 'same').length} the same.`,
    '',
    '| case | aspect | verdict | note |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.case} | ${r.aspect} | ${r.verdict} | ${r.note.replace(/\|/g, '\\|')} |`),
  ];
  return lines.join('\n') + '\n';
}
