/**
 * Where riots itself is: the package root (package.json, aws/) and the tree this process runs
 * from (`src` under tsx, `dist` once built). Worker processes are started from the same tree, and
 * bundles refer to riots' own modules by their path inside it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, the tree this process runs from, and that tree's module extension. */
export function riotsTree(): { root: string; treeDir: string; ext: '.ts' | '.js' } {
  const here = fileURLToPath(import.meta.url);
  const ext = here.endsWith('.ts') ? '.ts' : '.js';
  const treeDir = path.dirname(here);
  return { root: path.dirname(treeDir), treeDir, ext };
}

/** The folder holding package.json and aws/. */
export function packageRoot(): string {
  return riotsTree().root;
}

/** riots' version (package.json), or 'unknown' when it cannot be read. */
export function riotsVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
