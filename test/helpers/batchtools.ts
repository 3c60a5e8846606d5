/**
 * Stand-ins for external tools (docker, npm, apt-get, dpkg-query) that record how they were
 * called, for the tests of `riots batch build-image` and aws/install.sh. Each is a small script
 * put first on PATH; it appends one JSON line per call {argv, stdin?, env} to a log file.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';

export interface ToolCall {
  tool: string;
  argv: string[];
  stdin?: string;
  env: Record<string, string | undefined>;
}

function writeExecutable(file: string, text: string): void {
  writeFileSync(file, text);
  chmodSync(file, 0o755);
}

/**
 * A `docker` (or, with `name`, a `podman`) that records argv (and stdin for `login`) to `log`.
 * `info` fails when `infoFails`, the subcommand `failOn` (e.g. 'push') exits 17, the subcommand
 * `hangOn` never ends; every other call succeeds.
 */
export function fakeDocker(
  binDir: string,
  log: string,
  opts: { infoFails?: boolean; failOn?: string; hangOn?: string; name?: 'docker' | 'podman' } = {},
): void {
  const name = opts.name ?? 'docker';
  writeExecutable(
    join(binDir, name),
    `#!${process.execPath}
const fs = require('fs');
const argv = process.argv.slice(2);
const rec = { tool: ${JSON.stringify(name)}, argv, env: {} };
if (argv[0] === 'login') rec.stdin = fs.readFileSync(0, 'utf8');
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(rec) + '\\n');
if (argv[0] === 'info' && ${opts.infoFails ? 'true' : 'false'}) {
  process.stderr.write(${JSON.stringify(name === 'docker' ? 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' : 'Error: podman cannot reach its storage')} + '\\n');
  process.exit(1);
}
if (argv[0] === ${JSON.stringify(opts.hangOn ?? null)}) setInterval(() => {}, 1000);
else if (argv[0] === ${JSON.stringify(opts.failOn ?? null)}) {
  process.stderr.write('stand-in docker: ' + argv[0] + ' failed\\n');
  process.exit(17);
}
`,
  );
}

/**
 * Stand-ins for apt-get, dpkg-query and npm that act on the file system the way install.sh
 * expects, cheaply: dpkg-query answers from `dpkgDb` (one installed package a line), apt-get
 * install adds to it, npm ci makes node_modules from package-lock.json with a gdal-async whose
 * `bundled` is $FAKE_GDAL_BUNDLED, npm run build makes dist/cli/main.js, npm install adds the
 * named packages.
 */
export function fakeInstallTools(binDir: string, log: string, dpkgDb: string): void {
  const record = (tool: string, envKeys: string[]) => `
const fs = require('fs');
const path = require('path');
const argv = process.argv.slice(2);
const env = {};
for (const k of ${JSON.stringify(envKeys)}) env[k] = process.env[k];
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ tool: ${JSON.stringify(tool)}, argv, env }) + '\\n');
`;
  writeExecutable(
    join(binDir, 'dpkg-query'),
    `#!${process.execPath}
const fs = require('fs');
const name = process.argv[process.argv.length - 1];
const db = fs.existsSync(${JSON.stringify(dpkgDb)}) ? fs.readFileSync(${JSON.stringify(dpkgDb)}, 'utf8').split('\\n') : [];
if (db.includes(name)) { process.stdout.write('install ok installed'); } else { process.exit(1); }
`,
  );
  writeExecutable(
    join(binDir, 'apt-get'),
    `#!${process.execPath}
${record('apt-get', ['DEBIAN_FRONTEND'])}
if (argv.includes('install')) {
  const pkgs = argv.filter((a, i) => i > argv.indexOf('install') && !a.startsWith('-'));
  fs.appendFileSync(${JSON.stringify(dpkgDb)}, pkgs.map((p) => p + '\\n').join(''));
}
`,
  );
  writeExecutable(
    join(binDir, 'npm'),
    `#!${process.execPath}
${record('npm', ['npm_config_build_from_source', 'npm_config_shared_gdal'])}
const gdal = (bundled) => {
  fs.mkdirSync('node_modules/gdal-async', { recursive: true });
  fs.writeFileSync('node_modules/gdal-async/package.json', '{"name":"gdal-async","version":"0.0.0","main":"index.js"}');
  fs.writeFileSync('node_modules/gdal-async/index.js', 'module.exports = { bundled: ' + bundled + ' };');
};
if (argv[0] === 'ci') {
  fs.rmSync('node_modules', { recursive: true, force: true });
  fs.mkdirSync('node_modules');
  fs.copyFileSync('package-lock.json', 'node_modules/.package-lock.json');
  gdal(process.env.FAKE_GDAL_BUNDLED === 'true');
} else if (argv[0] === 'rebuild') {
  gdal(false);
} else if (argv[0] === 'run' && argv[1] === 'build') {
  fs.mkdirSync('dist/cli', { recursive: true });
  fs.writeFileSync('dist/cli/main.js', '#!/usr/bin/env node\\n');
} else if (argv[0] === 'install') {
  const named = argv.slice(1).filter((a) => !a.startsWith('-'));
  if (named.length === 0) {
    // Install package.json's dependencies.
    for (const d of Object.keys(JSON.parse(fs.readFileSync('package.json', 'utf8')).dependencies || {})) {
      if (d === 'gdal-async') { gdal(process.env.FAKE_GDAL_BUNDLED === 'true'); continue; }
      fs.mkdirSync(path.join('node_modules', d), { recursive: true });
      fs.writeFileSync(path.join('node_modules', d, 'package.json'), JSON.stringify({ name: d }));
    }
  }
  for (const a of named) {
    const name = a.length > 1 && a.slice(1).includes('@') ? a.slice(0, a.lastIndexOf('@')) : a;
    fs.mkdirSync(path.join('node_modules', name), { recursive: true });
    fs.writeFileSync(path.join('node_modules', name, 'package.json'), JSON.stringify({ name }));
  }
}
`,
  );
}

/** The calls recorded in `log`, in order (empty when none). */
export function readCalls(log: string): ToolCall[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ToolCall);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to its end without blocking the event loop (servers in this process keep serving). */
export function runProcess(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out after ${timeoutMs} ms waiting for: ${cmd} ${args.join(' ')}\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Run `riots <args>` from the sources (node --import tsx src/cli/main.ts) with `env` added to
 * a clean copy of this process's environment.
 */
export function runRiots(args: string[], env: Record<string, string>, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const base: NodeJS.ProcessEnv = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  for (const k of Object.keys(base)) if (/^(AWS_|RIOS_AWSBATCH_)/.test(k) && k !== 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED') delete base[k];
  // tsx by absolute URL, so that the CLI can run with any working folder.
  const tsx = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  return runProcess(process.execPath, ['--import', tsx, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...base, ...env },
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
  });
}
