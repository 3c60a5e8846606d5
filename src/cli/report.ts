/**
 * `riots report RUN.json -o RUN.html`: draw a run report again from the events a run wrote
 * (`controls.report` writes both; the JSON holds everything the page shows).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { asRunRecord } from '../report/record.js';
import { writeReportPage } from '../report/write.js';
import { renderReport } from '../report/html.js';

export const help = `usage: riots report RUN.json [-o RUN.html]

Draw the run report (one self-contained HTML page: block timeline, phases, output quicklooks and
statistics, settings) from the JSON a run wrote beside its report (controls.report, or
riots demo --report). Without -o the page goes to standard output.

options:
  -o, --output FILE   write the page here (written whole, then renamed into place)
  -h, --help          show this help
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`riots report: give one RUN.json (got ${positionals.length})\n\n${help}`);
    return 2;
  }
  const file = positionals[0]!;
  let record;
  try {
    record = asRunRecord(JSON.parse(readFileSync(file, 'utf8')), file);
  } catch (err) {
    process.stderr.write(`riots report: ${(err as Error).message}\n`);
    return 1;
  }
  if (values.output === undefined) {
    process.stdout.write(renderReport(record));
    return 0;
  }
  writeReportPage(values.output, record);
  return 0;
}
