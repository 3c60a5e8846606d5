/**
 * riots as a user gets it: `npm pack`, the tarball's file list, the tarball installed into an
 * empty project with the README's own install commands, `riots --version`, an ESM script running
 * a small apply() whose output is read back with GDAL, and a strict TypeScript project (module
 * nodenext, noUncheckedIndexedAccess, riots' .d.ts checked) in which every TypeScript example of
 * the README compiles and a misspelt input name does not.
 *
 * The install builds gdal-async against the system GDAL (a minute or two) and fetches riots'
 * dependencies from the npm registry, as a user's install does.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { makeRaster, py } from '../helpers/py.js';
import { REPO_ROOT } from '../helpers/root.js';

const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };
let dir: string;
let tarball: string;
let project: string;

/** Run a command; fail with its output when it does not exit 0. Returns stdout (and stderr, with `both`). */
function sh(cmd: string, args: string[], cwd: string, both = false): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${r.stdout}\n${r.stderr}`);
  return both ? r.stdout + r.stderr : r.stdout;
}

/** The fenced block of `lang` that follows `marker` in `text`. */
function blockAfter(text: string, marker: string, lang: string): string {
  const at = text.indexOf(marker);
  assert.ok(at >= 0, `README has the marker ${marker}`);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)\\n\\s*```').exec(text.slice(at));
  assert.ok(m, `a ${lang} block after ${marker}`);
  return m[1]!
    .split('\n')
    .map((l) => l.trim())
    .join('\n');
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'riots-package-'));
  // prepack builds dist/ from a clean folder first
  const packed = sh('npm', ['pack', '--silent', '--pack-destination', dir], REPO_ROOT).trim().split('\n').pop()!;
  tarball = path.join(dir, packed);
  project = path.join(dir, 'project');
  mkdirSync(project);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the tarball holds the package and nothing local: LICENSE, dist with self-contained source maps, aws, docs', () => {
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  for (const f of [
    'LICENSE',
    'README.md',
    'package.json',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli/main.js',
    'aws/Dockerfile',
    'aws/batch.yaml',
    'aws/install.sh',
  ]) {
    assert.ok(files.includes(f), `${f} is in the package`);
  }
  const allowed = /^(dist\/|aws\/|docs\/|README\.md$|DESIGN\.md$|LICENSE$|package\.json$)/;
  assert.deepEqual(
    files.filter((f) => !allowed.test(f)),
    [],
    'nothing else (tests, sources, lock file, local files)',
  );
  assert.deepEqual(
    files.filter((f) => /(^|\/)\.[^/]*$/.test(f)),
    [],
    'no hidden files such as a build stamp',
  );
  // every module of dist/ has a source, and every .js has its .d.ts
  const src = new Set(
    execFileSync('git', ['ls-files', 'src'], { cwd: REPO_ROOT, encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js')),
  );
  const js = files.filter((f) => f.endsWith('.js') && f.startsWith('dist/'));
  assert.deepEqual(
    js.filter((f) => !src.has(f)),
    [],
    'no compiled module whose source is gone',
  );
  for (const f of js) assert.ok(files.includes(f.replace(/\.js$/, '.d.ts')), `${f} has its .d.ts`);
  // source maps carry their sources (the .ts files are not shipped)
  const unpacked = path.join(dir, 'unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
  const maps = files.filter((f) => f.endsWith('.js.map'));
  assert.equal(maps.length, js.length, 'one map per module');
  for (const m of maps) {
    const map = JSON.parse(readFileSync(path.join(unpacked, 'package', m), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
    assert.equal(map.sourcesContent?.length, map.sources.length, `${m} carries its sources`);
    assert.ok(
      map.sourcesContent.every((c) => typeof c === 'string' && c.length > 0),
      m,
    );
  }
});

test("installed into an empty project with the README's commands: riots --version, an ESM apply(), strict TypeScript", () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const install = blockAfter(readme, '<!-- install-commands', 'sh');
  assert.match(install, /npm install riots$/m);
  sh('npm', ['init', '-y'], project);
  sh('npm', ['pkg', 'set', 'type=module'], project);
  const script = install.replace(/npm install riots$/m, `npm install ${tarball}`);
  // npm's warnings go to stderr: the install scripts riots needs were approved
  const installLog = sh('bash', ['-euo', 'pipefail', '-c', script], project, true);
  assert.match(installLog, /added \d+ packages/);
  assert.doesNotMatch(installLog, /not yet covered by allowScripts/);
  // gdal-async was built against the system GDAL, not its bundled copy
  assert.equal(sh('node', ['-e', "console.log(require('gdal-async').bundled)"], project).trim(), 'false');

  // the command
  assert.equal(sh(path.join(project, 'node_modules/.bin/riots'), ['--version'], project).trim(), pkg.version);

  // an ESM script
  makeRaster({ path: path.join(project, 'in.tif'), cols: 300, rows: 200, dtype: 'Int16', expr: '(r * 7 + c) % 100' });
  writeFileSync(
    path.join(project, 'double.js'),
    [
      "import { apply } from 'riots';",
      "const r = await apply((info, inputs, outputs) => { outputs.o = inputs.a.map((v) => v * 2, 'Int32'); }, { a: 'in.tif' }, { o: 'out.tif' });",
      'console.log(r.blocks);',
    ].join('\n'),
  );
  assert.equal(sh('node', ['double.js'], project).trim(), '2', '300 x 200 pixels are two blocks of 256 x 256');
  const check = py<{ same: boolean; dtype: string }>(
    `
a = gdal.Open(args['a']).ReadAsArray().astype('int64'); o = gdal.Open(args['o'])
out({'same': bool((o.ReadAsArray() == a * 2).all()), 'dtype': gdal.GetDataTypeName(o.GetRasterBand(1).DataType)})
`,
    { a: path.join(project, 'in.tif'), o: path.join(project, 'out.tif') },
  );
  assert.deepEqual(check, { same: true, dtype: 'Int32' });

  // a strict TypeScript project: the README's examples compile, a misspelt input does not
  sh(
    'npm',
    ['install', '--no-save', '--no-audit', '--no-fund', `typescript@${pkg.devDependencies.typescript}`, `@types/node@${pkg.devDependencies['@types/node']}`],
    project,
  );
  const tsDir = path.join(project, 'ts');
  mkdirSync(tsDir);
  writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noUncheckedIndexedAccess: true,
        noEmit: true,
        types: ['node'],
      },
      include: ['ts/*.ts'],
    }),
  );
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 5, 'the README has its TypeScript examples');
  blocks.forEach((code, i) => {
    const named = /^\/\/ (\w+\.ts)\b/.exec(code);
    writeFileSync(path.join(tsDir, named ? named[1]! : `readme${i}.ts`), code);
  });
  writeFileSync(
    path.join(tsDir, 'typo.ts'),
    "import { apply } from 'riots';\nawait apply((_i, inputs, outputs) => { outputs.o = inputs.imgae; }, { img: 'a.tif' }, { o: 'o.tif' });\n",
  );
  const tsc = spawnSync(process.execPath, [path.join(project, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: project, encoding: 'utf8' });
  const errors = tsc.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
  assert.deepEqual(
    errors.filter((l) => !l.startsWith('ts/typo.ts')),
    [],
    'the README examples and riots’ own declarations compile',
  );
  assert.ok(
    errors.some((l) => /ts\/typo\.ts.*error TS2551: Property 'imgae' does not exist .*Did you mean 'img'\?/.test(l)),
    `the misspelt input is a type error:\n${tsc.stdout}`,
  );
  assert.ok(readdirSync(tsDir).includes('fn.ts') && readdirSync(tsDir).includes('main.ts'), 'the two-file example is compiled as two modules');
});
