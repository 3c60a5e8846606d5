#!/usr/bin/env node
/**
 * `riots` command line: dispatches to one module per subcommand (src/cli/<name>.ts), each of
 * which exports `run(argv: string[]): Promise<number>` and `help: string`. `riots X --help` prints
 * X's help; modules with subcommands handle `--help` after a subcommand themselves.
 */
const COMMANDS: Record<string, string> = {
  demo: 'make sample rasters and run a multi-input apply with progress and a timing report',
  calcstats: 'compute statistics, histogram and pyramids for existing raster files',
  printstats: 'print the statistics stored in a raster, per band',
  rat: 'print a raster attribute table: its columns, or rows of it, as text or JSON',
  report: 'draw a run report (HTML) again from the JSON a run wrote beside it',
  computeworker: 'run a compute worker that connects back to a main process (used by riots itself)',
  batch: 'AWS Batch: create/delete the stack, build images, submit the main job, preflight, local endpoint',
  doctor: 'check what riots needs on this machine (GDAL, bundler, container engine, AWS settings) and print fixes',
};

interface CommandModule {
  run(argv: string[]): Promise<number>;
  help: string;
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'usage: riots <command> [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    '',
    "Run 'riots <command> --help' for a command's options.",
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    process.stdout.write(pkg.version + '\n');
    return 0;
  }
  if (!Object.prototype.hasOwnProperty.call(COMMANDS, name)) {
    process.stderr.write(`riots: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  const mod = (await import(`./${name}.js`)) as CommandModule;
  if (rest[0] === '--help' || rest[0] === '-h') {
    process.stdout.write(mod.help.trimEnd() + '\n');
    return 0;
  }
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as Error & { code?: string };
    process.stderr.write(`riots: ${e?.code ? e.code + ': ' : ''}${e?.message ?? String(err)}\n`);
    if (process.env.RIOTS_DEBUG) process.stderr.write(String(e?.stack) + '\n');
    process.exitCode = 1;
  },
);
