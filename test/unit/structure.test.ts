/**
 * The layout holds: no import cycle in src/ (type-only and dynamic imports included), each folder
 * imports only from the layers below it (DESIGN.md's map), no library code imports cli/, no file
 * over 500 lines and no function over 120.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SRC = path.resolve('src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const files = sourceFiles(SRC).map((f) => path.relative(SRC, f).split(path.sep).join('/'));

/** Every relative module a file imports: import/export ... from, import '...', import('...'). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(SRC, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)'(\.{1,2}\/[^']+)'/g)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!)).replace(/\.js$/, '.ts');
    out.push(target);
  }
  return out;
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));

test('every relative import of src/ names a file that exists', () => {
  for (const [f, deps] of graph) for (const d of deps) assert.ok(graph.has(d), `${f} imports ${d}, which does not exist`);
});

test('src/ has no import cycle (type-only and dynamic imports included)', () => {
  // Tarjan's strongly connected components: any component of more than one file is a cycle
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.map((c) => '  ' + c.join(' <-> ')).join('\n')}`);
});

/**
 * Which layers each layer may import (its own always). A file's layer is its folder; the
 * top-level files are '.', and two files have a layer of their own: index.ts (the public API) and
 * workers/index.ts (the table of worker kinds, the one place that names them).
 */
const ALLOWED: Record<string, string[]> = {
  '.': [],
  stats: ['.'],
  gdal: ['.', 'stats'],
  reader: ['.', 'stats', 'gdal'],
  aws: ['.'],
  'aws/local': ['.'],
  'workers/channel': ['.'],
  'workers/worker': ['.', 'gdal', 'reader', 'workers/channel'],
  workers: ['.', 'reader', 'workers/worker'],
  'workers/pool': ['.', 'reader', 'workers', 'workers/channel', 'workers/worker'],
  'workers/kinds': ['.', 'reader', 'aws', 'workers', 'workers/channel', 'workers/worker', 'workers/pool'],
  'workers/index.ts': ['.', 'workers', 'workers/kinds'],
  report: ['.', 'stats', 'gdal', 'workers/pool'],
  applier: ['.', 'stats', 'gdal', 'reader', 'workers', 'workers/worker', 'workers/index.ts', 'report'],
  rat: ['.', 'stats', 'gdal', 'applier'],
  cli: ['*'],
  'cli/batch': ['*'],
  'index.ts': ['*'],
};

function layerOf(file: string): string {
  if (file === 'index.ts' || file === 'workers/index.ts') return file;
  return path.posix.dirname(file);
}

test('each folder imports only from the layers below it; nothing outside cli/ imports cli/', () => {
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    const from = layerOf(f);
    const allowed = ALLOWED[from];
    assert.ok(allowed, `src/${f}: folder '${from}' is not in the layer map of this test (and of DESIGN.md)`);
    for (const d of deps) {
      const to = layerOf(d);
      if (to === from || allowed.includes('*') || allowed.includes(to)) continue;
      bad.push(`src/${f} (${from}) imports src/${d} (${to})`);
    }
  }
  assert.deepEqual(bad, []);
});

test('no file in src/ is over 500 lines, no function over 120', () => {
  const long: string[] = [];
  for (const f of files) {
    const text = fs.readFileSync(path.join(SRC, f), 'utf8');
    const lines = text.split('\n').length;
    if (lines > 500) long.push(`src/${f}: ${lines} lines`);
    const sf = ts.createSourceFile(f, text, ts.ScriptTarget.Latest, true);
    const walk = (n: ts.Node): void => {
      if (ts.isFunctionLike(n) && 'body' in n && n.body) {
        const a = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
        const b = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
        if (b - a + 1 > 120) long.push(`src/${f}:${a + 1}: a function of ${b - a + 1} lines`);
      }
      ts.forEachChild(n, walk);
    };
    walk(sf);
  }
  assert.deepEqual(long, []);
});

test('tests mirror src/: each test file sits in test/unit/ or test/integration/ under the folder of the code it tests', () => {
  const testFiles = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(dir, e.name);
      return e.isDirectory() ? testFiles(p) : e.name.endsWith('.test.ts') ? [p] : [];
    });
  const loose = fs.readdirSync('test').filter((n) => n.endsWith('.test.ts'));
  assert.deepEqual(loose, [], 'test files directly under test/ (put each in test/unit/ or test/integration/)');
  const bad: string[] = [];
  for (const suite of ['test/unit', 'test/integration']) {
    for (const f of testFiles(suite)) {
      const folder = path.relative(suite, path.dirname(f));
      if (folder !== '' && !fs.existsSync(path.join(SRC, folder))) bad.push(`${f}: there is no src/${folder}`);
    }
  }
  assert.deepEqual(bad, []);
});
