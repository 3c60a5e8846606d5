/**
 * Shipping the user function: esbuild bundles the user's module and its relative imports, leaves
 * out riots, npm packages and built-ins; the worker side links what was left out to its own
 * installation, so the bundle runs from any folder.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Block } from '../../../../src/block.js';
import { ControlsError, WorkerError } from '../../../../src/errors.js';
import { bundleUserModule, type BundleImports } from '../../../../src/workers/pool/bundle.js';
import { IMPORT_MARKER, RIOTS_SELF, linkBundle } from '../../../../src/workers/worker/linkbundle.js';

const ROOT = REPO_ROOT;
let dir: string;

function write(rel: string, text: string): string {
  const p = path.join(dir, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
}

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-bundle-test-'));
  write('package.json', '{"type":"module"}\n');
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  write('lib/consts.ts', 'export const MAGIC: number = 41 + 1;\nexport const WORD = "sibling-" + "constant";\n');
  write(
    'main.ts',
    [
      "import { parse } from 'yaml';",
      "import { createHash } from 'node:crypto';",
      "import { MAGIC, WORD } from './lib/consts.js';",
      `import { Block } from '${ROOT}/src/block.ts';`,
      "import * as riots from 'riots';",
      'export const info = { magic: MAGIC, word: WORD, parsed: parse("k: 5").k as number, hash: createHash("sha1").update("x").digest("hex").slice(0, 6) };',
      'export function make(): Block { return new Block("Byte", 1, 2, 3); }',
      'export const hasApply = () => typeof (riots as Record<string, unknown>).apply === "function";',
    ].join('\n'),
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('bundleUserModule', () => {
  test('contains the module and its relative TypeScript imports; leaves out riots, npm packages and built-ins', async () => {
    const b = await bundleUserModule(pathToFileURL(path.join(dir, 'main.ts')).href);
    const code = Buffer.from(b.code).toString('utf8');
    assert.deepEqual(b.packages, ['yaml']);
    assert.deepEqual(b.inputs.map((f) => path.relative(dir, f)).sort(), ['lib/consts.ts', 'main.ts']);
    assert.match(code, /sibling-/, 'the sibling file is inside');
    assert.match(b.imports.marker, IMPORT_MARKER);
    assert.deepEqual(
      [...b.imports.specs].sort(),
      ['node:crypto', `${RIOTS_SELF}block`, `${RIOTS_SELF}index`, 'yaml'],
      "a path into riots and 'riots' become riots-self imports",
    );
    b.imports.specs.forEach((spec, n) => assert.ok(code.includes(`"${b.imports.marker}:${n}"`), `the code refers to ${spec} by its marker`));
    assert.ok(!/from "(yaml|node:crypto)"/.test(code), 'no open import is left under its own name');
    assert.ok(!code.includes('class Block'), 'riots itself is not bundled');
    assert.ok(!code.includes(ROOT + '/src'), 'no path of this machine into riots');
  });

  test("esbuild's service killed by someone: the next bundle starts a new one", async () => {
    const url = pathToFileURL(path.join(dir, 'main.ts')).href;
    await bundleUserModule(url); // the service is running
    const { execFileSync } = await import('node:child_process');
    const services = (): number[] =>
      execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => /esbuild/.test(l))
        .map((l) => Number(l.trim().split(/\s+/)[0]));
    const before = services();
    assert.ok(before.length > 0, 'an esbuild service runs as a child of this process');
    for (const pid of before) process.kill(pid, 'SIGKILL');
    // wait for the kill to be seen: until ps lists none of them (a bounded poll)
    for (let i = 0; i < 200 && services().some((p) => before.includes(p)); i++) await new Promise((r) => setImmediate(r));
    const b = await bundleUserModule(url);
    assert.deepEqual(b.packages, ['yaml']);
    assert.ok(
      services().every((p) => !before.includes(p)),
      'a new service took over',
    );
  });

  test('a syntax error or a missing relative import is a ControlsError naming the file', async () => {
    const bad = write('bad.ts', 'export const x = (;\n');
    await assert.rejects(bundleUserModule(pathToFileURL(bad).href), (e: Error) => e instanceof ControlsError && /bad\.ts:1/.test(e.message));
    const missing = write('missing.ts', "import { y } from './nowhere.js';\nexport const x = y;\n");
    await assert.rejects(bundleUserModule(pathToFileURL(missing).href), (e: Error) => e instanceof ControlsError && /nowhere/.test(e.message));
    await assert.rejects(bundleUserModule('data:text/javascript,export const x = 1'), ControlsError);
    await assert.rejects(bundleUserModule(pathToFileURL(path.join(dir, 'gone.ts')).href), ControlsError);
  });

  test('a native addon imported by path is refused', async () => {
    const addon = write('addon.ts', "import x from './thing.node';\nexport const y = x;\n");
    write('thing.node', '');
    await assert.rejects(bundleUserModule(pathToFileURL(addon).href), (e: Error) => e instanceof ControlsError && /native addon/.test(e.message));
  });
});

describe('linkBundle', () => {
  test('the linked bundle runs from an empty folder with this riots and its packages', async () => {
    const b = await bundleUserModule(pathToFileURL(path.join(dir, 'main.ts')).href);
    const linked = linkBundle(Buffer.from(b.code).toString('utf8'), b.imports);
    assert.ok(!linked.includes(RIOTS_SELF));
    assert.ok(!linked.includes(b.imports.marker));
    const empty = mkdtempSync(path.join(os.tmpdir(), 'riots-bundle-empty-'));
    try {
      const file = path.join(empty, 'b.mjs');
      writeFileSync(file, linked);
      const m = (await import(pathToFileURL(file).href)) as { info: Record<string, unknown>; make(): unknown; hasApply(): boolean };
      assert.deepEqual(m.info, { magic: 42, word: 'sibling-constant', parsed: 5, hash: '11f6ad' });
      assert.ok(m.make() instanceof Block, "riots' own Block class, not a copy");
      assert.equal(m.hasApply(), true);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  const marker = 'riots-import-' + 'c0ffee'.repeat(4);
  const imports = (...specs: string[]): BundleImports => ({ marker, specs });

  test('only string literals that are exactly a marker reference are replaced, whatever their quotes', () => {
    const code = [
      `import a from "${marker}:0";`,
      `const b = await import('${marker}:1');`,
      'const text = "riots-self:block yaml node:fs";',
      'export { a, b, text };',
    ].join('\n');
    const out = linkBundle(code, imports('yaml', `${RIOTS_SELF}block`));
    const lines = out.split('\n');
    assert.equal(lines[0], `import a from ${JSON.stringify(import.meta.resolve('yaml'))};`);
    assert.match(lines[1]!, /^const b = await import\("file:\/\/.*\/(src|dist)\/block\.(ts|js)"\);$/);
    assert.equal(lines[2], 'const text = "riots-self:block yaml node:fs";', 'other strings are left alone');
  });

  test('a package not installed beside riots is a WorkerError naming it', () => {
    const code = `import { z } from "${marker}:0";\nexport const a = z;\n`;
    assert.throws(
      () => linkBundle(code, imports('riots-no-such-package-xyz'), 4),
      (e: Error) => e instanceof WorkerError && /riots-no-such-package-xyz/.test(e.message) && e.workerId === 4,
    );
  });

  test('a riots-self reference that climbs out of the tree is refused', () => {
    assert.throws(() => linkBundle(`import x from "${marker}:0";\nexport { x };\n`, imports(`${RIOTS_SELF}../../etc/passwd`)), WorkerError);
  });

  test('a bad marker, an index outside the list, a stray marker or a relative import is refused', () => {
    const code = `import x from "${marker}:0";\nexport { x };\n`;
    assert.throws(
      () => linkBundle(code, { marker: 'riots-import-xyz', specs: ['yaml'] }),
      (e: Error) => e instanceof WorkerError && /marker/.test(e.message),
    );
    assert.throws(
      () => linkBundle(`import x from "${marker}:1";\n`, imports('yaml')),
      (e: Error) => e instanceof WorkerError && /import 1 is not in its list of 1/.test(e.message),
    );
    assert.throws(
      () => linkBundle(`${code}const s = "${marker}";\n`, imports('yaml')),
      (e: Error) => e instanceof WorkerError && /outside an import path/.test(e.message),
    );
    assert.throws(
      () => linkBundle(code, imports('./lib.js')),
      (e: Error) => e instanceof WorkerError && /\.\/lib\.js, which it should have contained/.test(e.message),
    );
  });
});
