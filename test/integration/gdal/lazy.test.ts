/**
 * gdal-async is loaded on first use: importing riots (as a user module does for
 * defineUserFunction, and a compute worker that does not read) does not load GDAL; the first
 * GDAL call does, with riots' bounded block cache.
 */
import { REPO_ROOT } from '../../helpers/root.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const ROOT = REPO_ROOT;

function inChild(code: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, GDAL_CACHEMAX: '', ...env },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('importing riots does not load gdal-async; the first GDAL use does, with the default cache', () => {
  const out = inChild(`
    const layer = await import('./src/gdal/index.ts');
    const riots = await import('./src/index.ts');
    const fs = (await import('node:fs')).default;
    const libgdalMapped = () => fs.readFileSync('/proc/self/maps', 'utf8').includes('libgdal');
    const before = [layer.gdalLoaded(), libgdalMapped()];
    const fn = riots.defineUserFunction(import.meta.url, () => undefined);
    const after = [layer.gdalLoaded(), libgdalMapped()];
    const v = layer.gdal.version;
    console.log(JSON.stringify({ before, after, loaded: layer.gdalLoaded(), mapped: libgdalMapped(), v, cache: layer.gdal.config.get('GDAL_CACHEMAX'), fn: typeof fn }));
  `);
  const j = JSON.parse(out) as { before: boolean[]; after: boolean[]; loaded: boolean; mapped: boolean; v: string; cache: string; fn: string };
  assert.deepEqual(j.before, [false, false]);
  assert.deepEqual(j.after, [false, false]);
  assert.equal(j.loaded, true);
  assert.equal(j.mapped, true);
  assert.match(j.v, /^3\./);
  assert.equal(j.cache, '64');
});

test('a GDAL_CACHEMAX set by the user is kept', () => {
  const out = inChild(`const { gdal } = await import('./src/gdal/index.ts'); console.log(gdal.config.get('GDAL_CACHEMAX'));`, { GDAL_CACHEMAX: '200' });
  assert.equal(out, '200');
});
