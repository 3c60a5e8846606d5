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

/**
 * Compile riots into bench/out/riots-built and return that folder. With `rev`, compile the
 * sources of that git revision instead, into bench/out/riots-at-<commit> (its src/ and
 * tsconfig.json taken with `git archive`; package.json and node_modules are this checkout's), for
 * comparing two versions side by side (bench/w1-ab.ts).
 */
export function buildRiots(rev?: string): string {
  let project = ROOT;
  let inst = path.join(OUT, 'riots-built');
  if (rev !== undefined) {
    const commit = git(['rev-parse', '--verify', `${rev}^{commit}`]).trim();
    inst = path.join(OUT, `riots-at-${commit.slice(0, 12)}`);
    project = path.join(inst, 'tree');
  }
  rmSync(inst, { recursive: true, force: true });
  mkdirSync(inst, { recursive: true });
  for (const f of ['package.json', 'node_modules']) symlinkSync(path.join(ROOT, f), path.join(inst, f));
  if (rev !== undefined) {
    mkdirSync(project);
    const archive = spawnSync('git', ['-C', ROOT, 'archive', '--format=tar', rev, 'src', 'tsconfig.json'], { maxBuffer: 256 * 1024 * 1024 });
    if (archive.status !== 0) throw new Error(`git archive ${rev} failed: ${archive.stderr.toString()}`);
    const untar = spawnSync('tar', ['-x', '-C', project], { input: archive.stdout });
    if (untar.status !== 0) throw new Error(`unpacking ${rev} failed: ${untar.stderr.toString()}`);
    // the compiler finds @types/node from the sources' folder upwards
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(project, 'node_modules'));
  }
  // tsc emits even when another module of the tree has a type error; the CLI must be there
  spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      path.join(project, 'tsconfig.json'),
      '--outDir',
      path.join(inst, 'dist'),
      '--declaration',
      'false',
      '--sourceMap',
      'false',
      '--inlineSources',
      'false',
    ],
    { stdio: 'inherit' },
  );
  if (!existsSync(path.join(inst, 'dist', 'cli', 'main.js'))) throw new Error(`building riots${rev === undefined ? '' : ` at ${rev}`} into ${inst} failed`);
  return inst;
}

function git(args: string[]): string {
  const r = spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
