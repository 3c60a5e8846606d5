/**
 * `riots printstats FILE...`: the statistics a raster has stored, per band.
 */
import { parseArgs } from 'node:util';
import { readStoredStats, type StoredFileReport } from '../gdal/filestats.js';
import { medianAndMode } from '../stats/histogram.js';
import { isDataType, isIntegerType } from '../dtypes.js';

export const help = `usage: riots printstats FILE... [options]

Print, for every band: nodata value, minimum, maximum, mean, stddev, valid percentage, median,
mode, a histogram summary (bins, range, bin function, pixels counted, fullest bin), the
overview sizes, and for thematic files the raster attribute table (rows, columns) and the colour
table. A band whose metadata has no histogram shows the one its table's PixelCount column holds. Values are read from the file's metadata (as written by riots, RIOS or
gdalinfo -stats); nothing is computed.

options:
  --json       print the values as one JSON document instead: the file's object, or with several
               files an array of them
  -h, --help   show this help
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length === 0) {
    process.stderr.write('riots printstats: no FILE given\n\n' + help);
    return 2;
  }
  // a reader that stops early (`| head`) is no error: stop printing, quietly
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const reports: StoredFileReport[] = [];
  for (const file of positionals) {
    const report = await readStoredStats(file);
    if (values.json) reports.push(report);
    else process.stdout.write(formatStoredStats(report));
  }
  if (values.json) {
    const doc = reports.length === 1 ? reports[0] : reports;
    process.stdout.write(JSON.stringify(doc, (_k, v: unknown) => (v instanceof Float64Array ? Array.from(v) : v)) + '\n');
  }
  return 0;
}

/** The human-readable listing printstats prints. Numbers are shown in full precision. */
export function formatStoredStats(r: StoredFileReport): string {
  const lines: string[] = [`${r.path}: ${r.xsize} x ${r.ysize}, ${r.bands.length} band(s) of ${r.dtype}`];
  const row = (k: string, v: string): string => `  ${(k + ':').padEnd(11)} ${v}`;
  for (const b of r.bands) {
    const s = b.stats;
    lines.push(`Band ${b.band}${s.layerType ? ` (${s.layerType})` : ''}`);
    lines.push(row('nodata', b.nodata === null ? 'none' : String(b.nodata)));
    const has = s.min !== undefined || s.histogram !== undefined;
    if (!has) lines.push('  no statistics stored');
    if (s.min !== undefined) lines.push(row('minimum', String(s.min)));
    if (s.max !== undefined) lines.push(row('maximum', String(s.max)));
    if (s.mean !== undefined) lines.push(row('mean', String(s.mean)));
    if (s.stddev !== undefined) lines.push(row('stddev', String(s.stddev)));
    if (s.validPercent !== undefined) lines.push(row('valid', `${s.validPercent}%`));
    if (s.median !== undefined) lines.push(row('median', String(s.median)));
    if (s.mode !== undefined) lines.push(row('mode', String(s.mode)));
    const h = s.histogram;
    if (h) {
      let total = 0;
      let top = 0;
      for (let i = 0; i < h.counts.length; i++) {
        total += h.counts[i]!;
        if (h.counts[i]! > h.counts[top]!) top = i;
      }
      const mm = medianAndMode(h, isDataType(r.dtype) && isIntegerType(r.dtype));
      lines.push(
        row(
          'histogram',
          `${h.numBins} ${h.binFunction} bins from ${h.histMin} to ${h.histMax}, ${total} pixels counted, fullest bin ${top} (${h.counts[top] ?? 0} pixels${mm ? `, value ${mm.mode}` : ''})`,
        ),
      );
    }
    lines.push(row('overviews', b.overviews.length === 0 ? 'none' : b.overviews.map((o) => `${o.x}x${o.y}`).join(', ')));
    if (b.rat) lines.push(row('RAT', `${b.rat.rows} rows; columns ${b.rat.columns.join(', ')}`));
    if (b.colorTableEntries !== undefined) lines.push(row('colours', `a colour table of ${b.colorTableEntries} entries`));
  }
  return lines.join('\n') + '\n';
}
