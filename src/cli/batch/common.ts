/**
 * Shared pieces of the `riots batch` subcommands: option parsing with --help and usage errors,
 * the stack/region options, the package root, printing, and number checks.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** One `riots batch` subcommand. */
export interface BatchSubcommand {
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

/** Options every stack-reading subcommand takes. */
export const STACK_OPTIONS = {
  stackname: { type: 'string' },
  region: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const STACK_HELP = `  --stackname NAME       the stack (default: $RIOS_AWSBATCH_STACK, else RIOS)
  --region REGION        its region (default: $RIOS_AWSBATCH_REGION, else AWS_REGION,
                         AWS_DEFAULT_REGION or the profile's region)
  -h, --help             show this help`;

export const WAIT_HELP = `  --timeout SECONDS      give up waiting after this long
  --poll SECONDS         how often to ask AWS while waiting (default 5)`;

import { UsageError } from '../../errors.js';

export { UsageError };

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>>;

/**
 * parseArgs with our conventions: no positionals unless allowed, parse failures as UsageError.
 * `commandLines` names options whose value is itself a command line, which may start with a dash
 * (`--args "--year 2024"`): parseArgs would take that for a missing value.
 * Returns undefined when --help was asked (the help has been printed).
 */
export function parseOptions<O extends Options>(
  argv: string[],
  options: O,
  help: string,
  allowPositionals = false,
  commandLines: string[] = [],
): Parsed<O> | undefined {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (commandLines.includes(a.replace(/^--/, '')) && a.startsWith('--') && next !== undefined) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if ((parsed.values as Record<string, unknown>).help === true) {
    out(help.trimEnd());
    return undefined;
  }
  return parsed;
}

export { packageRoot } from '../../packageroot.js';

export function out(line: string): void {
  process.stdout.write(line + '\n');
}

export function err(line: string): void {
  process.stderr.write(line + '\n');
}

/** A whole number >= min from an option value, or a UsageError naming the option. */
export function wholeNumber(value: string | undefined, option: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${option} must be a whole number >= ${min}, not '${value}'`);
  }
  return n;
}

/** Seconds (may be fractional, > 0) from an option value as milliseconds. */
export function secondsOption(value: string | undefined, option: string, dflt: number): number {
  if (value === undefined) return dflt * 1000;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${option} must be a number of seconds > 0, not '${value}'`);
  return n * 1000;
}

/** `{stackName, region}` from parsed values, leaving out what was not given. */
export function stackOpts(values: { stackname?: string | undefined; region?: string | undefined }): {
  stackName?: string;
  region?: string;
} {
  const o: { stackName?: string; region?: string } = {};
  if (values.stackname !== undefined) o.stackName = values.stackname;
  if (values.region !== undefined) o.region = values.region;
  return o;
}
