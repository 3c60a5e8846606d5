/**
 * The real images, built and run with this machine's container engine (Docker when its engine
 * answers, else podman, which test/containers/setup.sh installs and configures): the worker
 * image from aws/Dockerfile with extra Debian and npm packages, checked from inside (riots, GDAL
 * as gdal-async loads it, the packages, the ENTRYPOINT), and a main image made from
 * aws/Dockerfile.main.example's recipe, run with its arguments. The first build compiles
 * gdal-async inside the image (minutes); later ones reuse the engine's layer cache.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chooseEngine, runEngine, type Engine } from '../../../../src/containerengine.js';
import { REPO_ROOT } from '../../../helpers/root.js';
import { runRiots } from '../../../helpers/batchtools.js';

const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('riots batch build-image, for real', () => {
  let engine: Engine;
  let dir: string;

  before(async () => {
    engine = await chooseEngine();
    console.log(`# building with ${engine}`);
    dir = mkdtempSync(join(tmpdir(), 'riots-image-build-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** `<engine> run --rm` of `image` with `args`; its output, failing the test on a non-zero exit. */
  async function run(args: string[]): Promise<string> {
    const r = await runEngine(engine, ['run', '--rm', ...args], { capture: true, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `${engine} run ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  test('the worker image: riots, the system GDAL, the extra Debian and npm packages, and its ENTRYPOINT', async () => {
    const built = await runRiots(
      ['batch', 'build-image', '--engine', engine, '--extra-packages', 'jq', '--npm-packages', 'proj4'],
      {},
      { timeoutMs: 1_800_000 },
    );
    assert.equal(built.code, 0, built.stdout + built.stderr);
    assert.match(built.stdout, new RegExp(`building worker image 'riots': ${engine} build`));
    const inside = await run([
      '--entrypoint',
      'sh',
      'riots',
      '-c',
      [
        'riots --version',
        "node -e \"const g = require('/opt/riots/node_modules/gdal-async'); console.log('gdal', g.version, 'bundled', g.bundled)\"",
        'gdalinfo --version',
        'jq --version',
        "node -e \"console.log('proj4', require('/opt/riots/node_modules/proj4/package.json').version)\"",
        'test ! -e /opt/riots/.git && echo no-git',
      ].join(' && '),
    ]);
    const lines = inside.trim().split('\n');
    assert.equal(lines[0], version, 'riots of this checkout');
    const gdal = /^gdal (\S+) bundled false$/.exec(lines[1]!);
    assert.ok(gdal, `gdal-async uses the image's system GDAL: ${lines[1]}`);
    assert.match(lines[2]!, new RegExp(`^GDAL ${gdal[1]!.replace(/\./g, '\\.')}\\b`), 'the same GDAL as gdalinfo');
    assert.match(lines[3]!, /^jq-/, 'the extra Debian package');
    assert.match(lines[4]!, /^proj4 \d+\./, 'the extra npm package');
    assert.equal(lines[5], 'no-git', 'the ignore file kept .git out');
    // the ENTRYPOINT is riots computeworker: its own usage error without arguments
    const entry = await runEngine(engine, ['run', '--rm', 'riots'], { capture: true, timeoutMs: 120_000 });
    assert.equal(entry.code, 2, entry.stdout + entry.stderr);
    assert.match(entry.stderr, /riots computeworker: -i ID/);
  });

  test("a main image from aws/Dockerfile.main.example's recipe runs your script with its arguments", async () => {
    const main = mkdtempSync(join(dir, 'main-'));
    copyFileSync(join(REPO_ROOT, 'aws', 'Dockerfile.main.example'), join(main, 'Dockerfile.main'));
    writeFileSync(
      join(main, 'main.mjs'),
      "import { apply, CW_AWSBATCH } from 'riots';\nconsole.log(JSON.stringify({ apply: typeof apply, kind: CW_AWSBATCH, args: process.argv.slice(2), cwd: process.cwd() }));\n",
    );
    const built = await runRiots(['batch', 'build-image', '--engine', engine, '--main'], {}, { cwd: main, timeoutMs: 600_000 });
    assert.equal(built.code, 0, built.stdout + built.stderr);
    const out = JSON.parse((await run(['riots-main', '--year', '2024'])).trim()) as Record<string, unknown>;
    assert.deepEqual(out, { apply: 'function', kind: 'CW_AWSBATCH', args: ['--year', '2024'], cwd: '/app' });
  });
});
