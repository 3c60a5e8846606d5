/**
 * aws/install.sh, run by bash in a scratch copy of a package, with apt-get, dpkg-query and npm
 * replaced by recording stand-ins: it installs only what is missing, builds gdal-async against
 * the system GDAL, keeps a node_modules that matches the lock, and a second run does nothing.
 */
import { REPO_ROOT } from '../../helpers/root.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeInstallTools, readCalls, runProcess, type ToolCall } from '../../helpers/batchtools.js';
import path from 'node:path';

const SCRIPT = path.join(REPO_ROOT, 'aws', 'install.sh');

interface Sandbox {
  dir: string;
  root: string;
  bin: string;
  binDir: string;
  log: string;
  db: string;
  run(env?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string; calls: ToolCall[] }>;
  cleanup(): void;
}

const LOCK = {
  name: 'pkg',
  lockfileVersion: 3,
  packages: {
    '': { name: 'pkg', version: '1.0.0' },
    'node_modules/left-pad': { version: '1.3.0' },
    'node_modules/gdal-async': { version: '0.0.0' },
    'node_modules/@esbuild/darwin-arm64': { version: '0.25.9', optional: true },
  },
};

function sandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'riots-install-'));
  const root = join(dir, 'pkg');
  const bin = join(dir, 'bin');
  const binDir = join(dir, 'usrbin');
  mkdirSync(join(root, 'aws'), { recursive: true });
  mkdirSync(join(root, 'src'), { recursive: true });
  mkdirSync(bin);
  copyFileSync(SCRIPT, join(root, 'aws', 'install.sh'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'pkg', version: '1.0.0' }));
  writeFileSync(join(root, 'package-lock.json'), JSON.stringify(LOCK));
  writeFileSync(join(root, 'tsconfig.json'), '{}');
  writeFileSync(join(root, 'src', 'index.ts'), 'export const x = 1;\n');
  const log = join(dir, 'calls.jsonl');
  const db = join(dir, 'dpkg.db');
  fakeInstallTools(bin, log, db);
  let seen = 0;
  return {
    dir,
    root,
    bin,
    binDir,
    log,
    db,
    async run(env = {}) {
      const r = await runProcess('bash', [join(root, 'aws', 'install.sh')], {
        cwd: dir,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, RIOTS_BIN_DIR: binDir, EXTRA_PACKAGES: '', NPM_PACKAGES: '', ...env },
      });
      const all = readCalls(log);
      const calls = all.slice(seen);
      seen = all.length;
      return { ...r, calls };
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const tools = (calls: ToolCall[]) => calls.map((c) => `${c.tool} ${c.argv.join(' ')}`);

test('install.sh: a fresh machine gets every step, a second run skips them all', async (t) => {
  const s = sandbox();
  t.after(() => s.cleanup());
  writeFileSync(s.db, 'python3\nmake\n'); // some base packages are there already
  const first = await s.run({ EXTRA_PACKAGES: 'jq', NPM_PACKAGES: 'proj4 @turf/area@7.1.0' });
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const lines = tools(first.calls);
  // Only the missing Debian packages, after one update.
  assert.deepEqual(
    lines.filter((l) => l.startsWith('apt-get')),
    ['apt-get update -qq', 'apt-get install -y -qq --no-install-recommends libgdal-dev gdal-bin g++', 'apt-get install -y -qq --no-install-recommends jq'],
  );
  const ci = first.calls.find((c) => c.tool === 'npm' && c.argv[0] === 'ci');
  assert.ok(ci, 'npm ci ran');
  assert.equal(ci.env.npm_config_build_from_source, 'true');
  assert.equal(ci.env.npm_config_shared_gdal, 'true');
  assert.ok(lines.includes('npm run build --silent'));
  assert.ok(lines.some((l) => l.startsWith('npm install') && l.includes('proj4') && l.includes('@turf/area@7.1.0')));
  assert.ok(existsSync(join(s.root, 'node_modules', '@turf', 'area', 'package.json')));
  assert.equal(readlinkSync(join(s.binDir, 'riots')), join(s.root, 'dist', 'cli', 'main.js'));

  const second = await s.run({ EXTRA_PACKAGES: 'jq', NPM_PACKAGES: 'proj4 @turf/area@7.1.0' });
  assert.equal(second.code, 0, second.stderr + second.stdout);
  assert.deepEqual(tools(second.calls), [], 'nothing to do the second time');
  assert.match(second.stdout, /npm ci skipped/);
  assert.match(second.stdout, /build skipped/);
  assert.match(second.stdout, /already points to/);
});

test('install.sh: keeps an existing node_modules that matches the lock, redoes npm ci when the lock changes', async (t) => {
  const s = sandbox();
  t.after(() => s.cleanup());
  writeFileSync(s.db, 'libgdal-dev\ngdal-bin\npython3\nmake\ng++\n');
  // A node_modules installed by someone else: no stamp, but npm's record matches the lock.
  mkdirSync(join(s.root, 'node_modules', 'gdal-async'), { recursive: true });
  writeFileSync(
    join(s.root, 'node_modules', '.package-lock.json'),
    JSON.stringify({ packages: { ...LOCK.packages, 'node_modules/@esbuild/darwin-arm64': undefined } }),
  );
  writeFileSync(join(s.root, 'node_modules', 'gdal-async', 'package.json'), '{"name":"gdal-async","main":"index.js"}');
  writeFileSync(join(s.root, 'node_modules', 'gdal-async', 'index.js'), 'module.exports = { bundled: false };');
  writeFileSync(join(s.root, 'node_modules', 'keep-me'), 'x');
  const r = await s.run();
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.ok(!tools(r.calls).some((l) => l.startsWith('npm ci') || l.startsWith('apt-get')), tools(r.calls).join('\n'));
  assert.ok(existsSync(join(s.root, 'node_modules', 'keep-me')), 'node_modules was not replaced');
  assert.match(r.stdout, /already matches package-lock.json/);

  // A new locked version: node_modules no longer matches, so npm ci runs.
  const lock = JSON.parse(readFileSync(join(s.root, 'package-lock.json'), 'utf8')) as typeof LOCK;
  lock.packages['node_modules/left-pad'].version = '1.3.1';
  writeFileSync(join(s.root, 'package-lock.json'), JSON.stringify(lock));
  const r2 = await s.run();
  assert.equal(r2.code, 0, r2.stderr + r2.stdout);
  assert.ok(tools(r2.calls).some((l) => l.startsWith('npm ci')));
  assert.ok(!existsSync(join(s.root, 'node_modules', 'keep-me')));
});

test('install.sh: a gdal-async with its bundled GDAL is rebuilt against the system one', async (t) => {
  const s = sandbox();
  t.after(() => s.cleanup());
  writeFileSync(s.db, 'libgdal-dev\ngdal-bin\npython3\nmake\ng++\n');
  const r = await s.run({ FAKE_GDAL_BUNDLED: 'true' });
  // npm ci gave a bundled GDAL: install.sh notices and rebuilds (the stand-in's rebuild fixes it).
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const npm = tools(r.calls).filter((l) => l.startsWith('npm ci') || l.startsWith('npm rebuild'));
  assert.deepEqual(npm, ['npm ci --no-audit --no-fund', 'npm rebuild gdal-async']);
  assert.equal(r.calls.find((c) => c.argv[0] === 'rebuild')!.env.npm_config_shared_gdal, 'true');
  // Later someone swaps in a bundled build: the next run rebuilds only gdal-async.
  writeFileSync(join(s.root, 'node_modules', 'gdal-async', 'index.js'), 'module.exports = { bundled: true };');
  const r2 = await s.run();
  assert.equal(r2.code, 0, r2.stderr + r2.stdout);
  assert.deepEqual(tools(r2.calls), ['npm rebuild gdal-async']);
});

test('install.sh: fails loudly when a step fails', async (t) => {
  const s = sandbox();
  t.after(() => s.cleanup());
  writeFileSync(s.db, 'libgdal-dev\ngdal-bin\npython3\nmake\ng++\n');
  writeFileSync(join(s.bin, 'npm'), '#!/bin/sh\necho "npm ERR! network" >&2\nexit 7\n');
  const r = await s.run();
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /npm ERR! network/);
  assert.doesNotMatch(r.stdout, /install.sh: done/);
});

test('install.sh: an installed package (no lock, no src) gets its runtime dependencies once and uses dist/', async (t) => {
  const s = sandbox();
  t.after(() => s.cleanup());
  writeFileSync(s.db, 'libgdal-dev\ngdal-bin\npython3\nmake\ng++\n');
  rmSync(join(s.root, 'package-lock.json'));
  rmSync(join(s.root, 'src'), { recursive: true });
  rmSync(join(s.root, 'tsconfig.json'));
  writeFileSync(join(s.root, 'package.json'), JSON.stringify({ name: 'pkg', dependencies: { 'gdal-async': '*', yaml: '*' } }));
  mkdirSync(join(s.root, 'dist', 'cli'), { recursive: true });
  writeFileSync(join(s.root, 'dist', 'cli', 'main.js'), '#!/usr/bin/env node\n');
  const first = await s.run({ FAKE_GDAL_BUNDLED: 'true' });
  assert.equal(first.code, 0, first.stderr + first.stdout);
  assert.deepEqual(tools(first.calls), ['npm install --omit=dev --no-save --no-audit --no-fund', 'npm rebuild gdal-async']);
  assert.match(first.stdout, /no src\/ here: using the compiled dist\//);
  assert.equal(readlinkSync(join(s.binDir, 'riots')), join(s.root, 'dist', 'cli', 'main.js'));
  const second = await s.run();
  assert.equal(second.code, 0, second.stderr + second.stdout);
  assert.deepEqual(tools(second.calls), []);
  assert.match(second.stdout, /runtime dependencies already installed/);
});
