/** riots installed in a project, for tests of what a user without a working gdal-async sees. */
import { cpSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './root.js';

/**
 * riots as installed in a project (the built dist/ under node_modules/riots), beside every one of
 * its dependencies but gdal-async, which is missing or given by `gdalAsync` (a package folder).
 */
export function installedWithout(dir: string, gdalAsync?: Record<string, string>): string {
  const nm = path.join(dir, 'node_modules');
  const riots = path.join(nm, 'riots');
  mkdirSync(riots, { recursive: true });
  cpSync(path.join(REPO_ROOT, 'dist'), path.join(riots, 'dist'), { recursive: true });
  cpSync(path.join(REPO_ROOT, 'package.json'), path.join(riots, 'package.json'));
  for (const name of readdirSync(path.join(REPO_ROOT, 'node_modules'))) {
    if (name === 'gdal-async' || name.startsWith('.')) continue;
    symlinkSync(path.join(REPO_ROOT, 'node_modules', name), path.join(nm, name));
  }
  if (gdalAsync) {
    for (const [file, text] of Object.entries(gdalAsync)) {
      mkdirSync(path.dirname(path.join(nm, 'gdal-async', file)), { recursive: true });
      writeFileSync(path.join(nm, 'gdal-async', file), text);
    }
  }
  return path.join(riots, 'dist', 'cli', 'main.js');
}
