/**
 * `riots rat FILE`: a band's raster attribute table, its columns or a range of its rows.
 */
import { parseArgs } from 'node:util';
import { getColumnInfo, getRowCount, readColumn, type ColumnValues } from '../gdal/rat.js';

export const help = `usage: riots rat FILE [options]

Print band 1's (or --band N's) raster attribute table: a header of column names, then one line
per row, tab-separated. Nothing is computed; the file is opened read-only.

options:
  --band N       the band whose table to print (default 1)
  --columns      print the columns only: name, type (Integer, Real, String) and usage
  --rows A:B     rows A to B-1 only (either may be left out: 100:, :20); default all
  --json         one JSON document instead: {file, band, rowCount, columns: [{name, type, usage}],
                 start, rows: {column: values}}
  -h, --help     show this help
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      band: { type: 'string' },
      columns: { type: 'boolean' },
      rows: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`riots rat: give one FILE (got ${positionals.length})\n\n${help}`);
    return 2;
  }
  const file = positionals[0]!;
  const band = values.band === undefined ? 1 : Number(values.band);
  if (!Number.isInteger(band) || band < 1) {
    process.stderr.write(`riots rat: --band must be a whole number from 1 (got ${values.band})\n`);
    return 2;
  }
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const columns = await getColumnInfo(file, { band });
  const rowCount = await getRowCount(file, { band });
  if (columns.length === 0) {
    process.stderr.write(`riots rat: ${file} band ${band} has no raster attribute table\n`);
    return 1;
  }
  const range = parseRows(values.rows, rowCount);
  if (typeof range === 'string') {
    process.stderr.write(`riots rat: ${range}\n`);
    return 2;
  }
  if (values.columns && !values.json) {
    process.stdout.write(`${file} band ${band}: ${rowCount} rows\n` + columns.map((c) => `${c.name}\t${c.type}\t${c.usage}\n`).join(''));
    return 0;
  }
  const data: ColumnValues[] = [];
  if (!values.columns) for (const c of columns) data.push(await readColumn(file, c.name, { band, start: range[0], count: range[1] - range[0] }));
  if (values.json) {
    const rows = values.columns ? undefined : Object.fromEntries(columns.map((c, i) => [c.name, Array.from(data[i]! as ArrayLike<number | string>)]));
    process.stdout.write(JSON.stringify({ file, band, rowCount, columns, ...(rows ? { start: range[0], rows } : {}) }) + '\n');
    return 0;
  }
  const lines = [['row', ...columns.map((c) => c.name)].join('\t')];
  for (let r = 0; r < range[1] - range[0]; r++) lines.push([String(range[0] + r), ...data.map((d) => String(d[r]))].join('\t'));
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** `A:B` as [A, B) within [0, rows], or a message saying what is wrong. */
function parseRows(spec: string | undefined, rows: number): [number, number] | string {
  if (spec === undefined) return [0, rows];
  const m = /^(\d*):(\d*)$/.exec(spec);
  if (!m) return `--rows must be A:B, A: or :B (got ${spec})`;
  const a = m[1] === '' ? 0 : Number(m[1]);
  const b = m[2] === '' ? rows : Number(m[2]);
  if (a > b || b > rows) return `--rows ${spec} is outside the table's ${rows} rows`;
  return [a, b];
}
