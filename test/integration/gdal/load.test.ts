/**
 * gdal-async is loaded with node-pre-gyp's binding lookup and wrapVRT's XML library deferred
 * (src/gdal/load.ts). The binding chosen must be the one node-pre-gyp chooses, GDAL must work,
 * and both deferred modules must still work for anyone who asks for them afterwards.
 */
import { REPO_ROOT } from '../../helpers/root.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bindingPath } from '../../../src/gdal/load.js';

const ROOT = REPO_ROOT;
const require = createRequire(import.meta.url);
const GDAL_MAIN = require.resolve('gdal-async');
const GDAL_PKG = path.resolve(path.dirname(GDAL_MAIN), '..', 'package.json');

test("the binding path is the one node-pre-gyp finds for gdal-async's package.json", () => {
  const preGyp = createRequire(GDAL_MAIN)('@mapbox/node-pre-gyp') as { find: (p: string) => string };
  const expected = preGyp.find(GDAL_PKG);
  assert.equal(bindingPath(GDAL_PKG), path.resolve(expected));
});

test('binding fields this does not model give null (node-pre-gyp decides)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'riots-load-'));
  try {
    const pkg = path.join(dir, 'package.json');
    const cases: [unknown, string | null][] = [
      [
        { module_name: 'x', module_path: './lib/{node_abi}-{platform}-{arch}' },
        path.join(dir, 'lib', `node-v${process.versions.modules}-${process.platform}-${process.arch}`, 'x.node'),
      ],
      [{ module_name: 'x', module_path: './lib/{node_abi}-{libc}' }, null],
      [{ module_name: 'x', module_path: './lib/{napi_build_version}' }, null],
      [{ module_name: '{x}', module_path: './lib' }, null],
      [{ module_path: './lib' }, null],
      [undefined, null],
    ];
    for (const [binary, want] of cases) {
      writeFileSync(pkg, JSON.stringify({ name: 'p', version: '1.0.0', ...(binary === undefined ? {} : { binary }) }));
      assert.equal(bindingPath(pkg), want, JSON.stringify(binary));
    }
    writeFileSync(pkg, '{ not json');
    assert.equal(bindingPath(pkg), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GDAL loads without node-pre-gyp or xmlbuilder2; both work when asked for later', () => {
  const code = `
    import { createRequire } from 'node:module';
    const { gdal } = await import('./src/gdal/index.ts');
    const main = createRequire(import.meta.url).resolve('gdal-async');
    const req = createRequire(main);
    const cached = (name) => Object.keys(req.cache).some((k) => k.includes('/node_modules/' + name + '/'));
    const ds = gdal.open('temp', 'w', 'MEM', 3, 2, 1, 'Int16');
    ds.bands.get(1).pixels.write(0, 0, 3, 2, new Int16Array([1, 2, 3, 4, 5, 6]));
    const sum = Array.from(ds.bands.get(1).pixels.read(0, 0, 3, 2)).reduce((a, b) => a + b, 0);
    const before = { preGyp: cached('@mapbox/node-pre-gyp'), xml: cached('xmlbuilder2') };
    const file = process.argv.at(-1);
    const src = gdal.open(file, 'w', 'GTiff', 4, 4, 1, 'Byte');
    src.geoTransform = [0, 1, 0, 4, 0, -1];
    src.close();
    const vrt = gdal.wrapVRT({ bands: [{ sources: [gdal.open(file).bands.get(1)] }] });
    const preGyp = req('@mapbox/node-pre-gyp');
    console.log(JSON.stringify({
      sum, before,
      after: { xml: cached('xmlbuilder2') },
      vrtHasSource: vrt.includes('<SourceFilename') && vrt.includes(file),
      realPreGyp: typeof preGyp.Run === 'function' && preGyp.find(req.resolve('../package.json')).endsWith('gdal.node'),
    }));
  `;
  const dir = mkdtempSync(path.join(tmpdir(), 'riots-load-'));
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, path.join(dir, 'src.tif')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
    assert.equal(j.sum, 21);
    assert.deepEqual(j.before, { preGyp: false, xml: false });
    assert.deepEqual(j.after, { xml: true });
    assert.equal(j.vrtHasSource, true);
    assert.equal(j.realPreGyp, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
