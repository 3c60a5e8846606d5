/**
 * riots compiled to JavaScript for benchmarks, as aws/install.sh builds it for users and for the
 * worker image: bench/out/riots-built/ with dist/ (tsc output) and links to this checkout's
 * package.json and node_modules. Running built JS rather than the sources under tsx is what a
 * user's process pays.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { OUT } from './fixtures.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Compile riots into bench/out/riots-built and return that folder. */
export function buildRiots(): string {
  const inst = path.join(OUT, 'riots-built');
  rmSync(inst, { recursive: true, force: true });
  mkdirSync(inst, { recursive: true });
  for (const f of ['package.json', 'node_modules']) symlinkSync(path.join(ROOT, f), path.join(inst, f));
  // tsc emits even when another module of the tree has a type error; the CLI must be there
  spawnSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', path.join(inst, 'dist'), '--declaration', 'false', '--sourceMap', 'false'],
    { stdio: 'inherit' },
  );
  if (!existsSync(path.join(inst, 'dist', 'cli', 'main.js'))) throw new Error(`building riots into ${inst} failed`);
  return inst;
}
