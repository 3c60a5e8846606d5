/**
 * Loading gdal-async without paying for two of its imports that riots never uses at load time.
 *
 * Requiring gdal-async costs about 0.21 s on the machines we measure, of which only ~0.09 s is
 * GDAL itself (the shared library and its drivers). The rest is JavaScript that gdal-async loads
 * eagerly:
 * - `@mapbox/node-pre-gyp` (~0.04 s: nopt, semver, consola, …), used once to compute the path
 *   of the compiled binding from gdal-async's package.json;
 * - `xmlbuilder2` (~0.065 s), used only by `gdal.wrapVRT`, which riots does not call.
 * Every riots process pays this, compute workers included, so both are deferred here:
 * - The binding path is computed from the same package.json fields (`binary.module_path` and
 *   `module_name`, with `{node_abi}`, `{platform}` and `{arch}`) and used only if that file
 *   exists; anything unusual (another placeholder, another runtime than Node, no such file)
 *   falls back to node-pre-gyp's own lookup.
 * - `gdal.wrapVRT` becomes a function that loads the real one on its first call.
 * Both stand-ins sit in Node's module cache only while gdal-async is required, and are removed
 * afterwards, so anyone requiring these modules later gets the real ones. If the load fails
 * with them in place, it is retried without them.
 */
import { createRequire } from 'node:module';
import Module from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GdalError } from '../errors.js';

interface BinaryField {
  module_name?: unknown;
  module_path?: unknown;
}

/**
 * The binding file node-pre-gyp would choose for the package at `packageJsonPath` on plain
 * Node, or null when its `binary` field uses anything this does not model.
 */
export function bindingPath(packageJsonPath: string): string | null {
  if (process.versions.electron !== undefined || process.versions.nw !== undefined) return null;
  let binary: BinaryField | undefined;
  try {
    binary = (JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { binary?: BinaryField }).binary;
  } catch {
    return null;
  }
  if (!binary || typeof binary.module_name !== 'string' || typeof binary.module_path !== 'string') return null;
  const values: Record<string, string> = {
    node_abi: `node-v${process.versions.modules}`,
    platform: process.platform,
    arch: process.arch,
  };
  let unknown = false;
  const dir = binary.module_path.replace(/\{([^}]*)\}/g, (_m, key: string) => {
    const v = values[key];
    if (v === undefined) unknown = true;
    return v ?? '';
  });
  if (unknown || /[{}]/.test(binary.module_name)) return null;
  return path.resolve(path.dirname(packageJsonPath), dir, `${binary.module_name}.node`);
}

type ModuleCtor = new (id: string, parent: null) => NodeJS.Module;

/** Put `exports` in Node's module cache as the module at `file`; returns a remover. */
function standIn(file: string, exports: unknown): () => void {
  const m = new (Module as unknown as ModuleCtor)(file, null);
  m.filename = file;
  m.loaded = true;
  m.exports = exports;
  const cache = createRequire(file).cache;
  cache[file] = m;
  return () => {
    if (cache[file] === m) delete cache[file];
  };
}

/** Stand-ins for node-pre-gyp and wrapVRT, for gdal-async's main file `main`; returns a remover. */
function deferLoadTimeImports(main: string): () => void {
  const removers: (() => void)[] = [];
  const removeAll = (): void => {
    for (const r of removers.splice(0)) r();
  };
  try {
    const req = createRequire(main);
    const pkg = path.resolve(path.dirname(main), '..', 'package.json');
    const binding = bindingPath(pkg);
    if (binding !== null && existsSync(binding)) {
      const preGyp = req.resolve('@mapbox/node-pre-gyp');
      removers.push(
        standIn(preGyp, {
          find(packageJsonPath: string, opts?: unknown): string {
            if (path.resolve(packageJsonPath) === pkg && opts === undefined) return binding;
            removeAll();
            return (req(preGyp) as { find: (p: string, o?: unknown) => string }).find(packageJsonPath, opts);
          },
        }),
      );
    }
    const wrapFile = path.join(path.dirname(main), 'wrapVRT.js');
    if (existsSync(wrapFile)) {
      removers.push(
        standIn(wrapFile, function wrapVRT(this: unknown, ...args: unknown[]): unknown {
          return (req(wrapFile) as (...a: unknown[]) => unknown).apply(this, args);
        }),
      );
    }
  } catch {
    // resolution failed: load gdal-async the ordinary way
    removeAll();
  }
  return removeAll;
}

/** How to get a gdal-async that loads, for error messages and `riots doctor`. */
export const GDAL_ASYNC_FIX =
  'install the system GDAL and a C++ toolchain (Debian/Ubuntu: apt-get install libgdal-dev g++ make python3), then, in the project that installed riots: ' +
  'npm_config_build_from_source=true npm_config_shared_gdal=true npm rebuild gdal-async (see "Install" in riots\' README; `riots doctor` checks it)';

/**
 * `require('gdal-async')`, with its unused load-time imports deferred (see the module doc).
 * @throws {GdalError} when gdal-async is not installed or its native module does not load, with the fix.
 */
export function requireGdalAsync<T>(): T {
  const req = createRequire(import.meta.url);
  let main: string;
  try {
    main = req.resolve('gdal-async');
  } catch (cause) {
    throw new GdalError(`riots needs gdal-async (GDAL for Node.js), which is not installed where riots is: ${GDAL_ASYNC_FIX}`, { cause });
  }
  const remove = deferLoadTimeImports(main);
  try {
    try {
      return req(main) as T;
    } catch {
      remove();
      return req(main) as T;
    }
  } catch (cause) {
    const why = ((cause as Error).message ?? String(cause)).split('\n')[0];
    throw new GdalError(`gdal-async is installed (${path.dirname(path.dirname(main))}) but its native module does not load (${why}): ${GDAL_ASYNC_FIX}`, {
      cause,
    });
  } finally {
    remove();
  }
}
