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
import { installedWithout } from '../../helpers/installed.js';

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

test('without a loadable gdal-async: a GdalError that says what is missing and the command that fixes it', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'riots-nogdal-'));
  try {
    const raster = path.join(dir, 'x.tif');
    writeFileSync(raster, 'not read: GDAL cannot load');
    const run = (cli: string): { status: number | null; stderr: string } => spawnSync(process.execPath, [cli, 'printstats', raster], { encoding: 'utf8' });
    const missing = run(installedWithout(path.join(dir, 'a')));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^riots: GDAL: riots needs/, 'the error is GDAL missing, not the input');
    assert.match(missing.stderr, /riots needs gdal-async \(GDAL for Node\.js\), which is not installed where riots is/);
    assert.match(
      missing.stderr,
      /apt-get install libgdal-dev g\+\+ make python3.*npm_config_build_from_source=true npm_config_shared_gdal=true npm rebuild gdal-async/,
    );
    assert.doesNotMatch(missing.stderr, /MODULE_NOT_FOUND|\n\s+at /, 'no bare Node error or stack');
    // installed, but its native module was never built (install scripts not run, or the build failed)
    const broken = run(
      installedWithout(path.join(dir, 'b'), {
        'package.json': JSON.stringify({ name: 'gdal-async', version: '0.0.0', main: 'lib/gdal.js' }),
        'lib/gdal.js': 'throw new Error("Cannot find module \'/nowhere/gdal.node\'");\n',
      }),
    );
    assert.equal(broken.status, 1);
    assert.match(
      broken.stderr,
      /gdal-async is installed \(.*node_modules\/gdal-async\) but its native module does not load \(Cannot find module '\/nowhere\/gdal\.node'\): install the system GDAL/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
