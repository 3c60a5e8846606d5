/**
 * Shipping the user function to an out-of-process worker.
 *
 * Main side ({@link bundleUserModule}): esbuild bundles the user-function module and its relative
 * imports (TypeScript included) into one ES module. Left out of the bundle: riots itself, every
 * bare specifier (npm packages and Node built-ins) and native addons. Imports of riots — the
 * bare `riots`, or a path into riots' own `src/` or `dist/` tree — are recorded as
 * `riots-self:<module>` so the worker can point them at its own copy of riots.
 *
 * Every import left open is written into the code as the string `"<marker>:<n>"`, where the
 * marker is random for each bundle and `n` indexes the list of open imports that travels beside
 * the code ({@link BundleImports}). Being random, the marker cannot occur in the user's code, so
 * the worker side (linkBundle, workers/worker/linkbundle.ts) replaces exactly the import paths esbuild wrote, without
 * parsing the code again: each becomes an absolute file URL of the worker's installation — the
 * riots-self modules its running riots tree (the same module instances as the worker's own code,
 * so `instanceof Block` holds), bare npm specifiers what riots' own location resolves them to.
 * The linked module can then be imported from any folder, and a remote worker needs only riots
 * and the npm packages the function uses, never the user's files. (Linking with a second esbuild
 * pass, as riots did first, cost each worker ~0.16 CPU-s and 0.1 s: esbuild's service process.)
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';
import { ControlsError } from '../../errors.js';
import { riotsTree } from '../../packageroot.js';
import { valueWithin } from '../../timeout.js';
import { resolveUserFunction, type UserFunctionSpec } from '../../userfunction.js';
import type { BundleImports } from '../channel/protocol.js';
import { RIOTS_SELF, isBare } from '../worker/linkbundle.js';

export type { BundleImports } from '../channel/protocol.js';

/** The module id (path inside the tree, no extension) when `file` is one of riots' own modules. */
function riotsModuleId(file: string): string | undefined {
  const { root } = riotsTree();
  for (const tree of ['src', 'dist']) {
    const rel = path.relative(path.join(root, tree), file);
    if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel))
      return rel
        .split(path.sep)
        .join('/')
        .replace(/\.(d\.)?[cm]?[jt]s$/, '');
  }
  return undefined;
}

/** What {@link bundleUserModule} produced. */
export interface UserBundle {
  /** The ES module source, UTF-8. */
  code: Uint8Array;
  /** The user's files that went into it (absolute paths). */
  inputs: string[];
  /** npm packages the bundle imports (bare specifiers other than Node built-ins and riots). */
  packages: string[];
  /** The imports left open, and how the code refers to them. */
  imports: BundleImports;
}

/**
 * esbuild's JavaScript API is CommonJS. Loaded with require, not import(): an import() of a
 * CommonJS file first runs Node's export lexer over it (88 kB here), which costs the main process
 * ~40 ms of CPU more, on the path to the workers' setup.
 */
const requireHere = createRequire(import.meta.url);
function loadEsbuild(fresh = false): typeof import('esbuild') {
  // esbuild keeps one service process for the life of its module: a fresh module starts a new one
  if (fresh) delete requireHere.cache[requireHere.resolve('esbuild')];
  return requireHere('esbuild') as typeof import('esbuild');
}

/** esbuild's service process is gone (killed, or crashed): every later call on that module fails. */
function serviceGone(err: unknown): boolean {
  return /service (is no longer running|was stopped)/i.test((err as Error | undefined)?.message ?? '');
}

/**
 * Bundle the module at `moduleUrl` (a file: URL, .js/.mjs/.ts/.mts) for a worker.
 * @throws {ControlsError} when the URL is not a file or esbuild cannot bundle it (the message carries esbuild's).
 * @example
 * const b = await bundleUserModule(import.meta.url);
 */
export async function bundleUserModule(moduleUrl: string): Promise<UserBundle> {
  if (!moduleUrl.startsWith('file:')) throw new ControlsError(`the user function's module must be a file to ship it to workers (got ${moduleUrl})`);
  const entry = fileURLToPath(moduleUrl);
  if (!existsSync(entry)) throw new ControlsError(`the user function's module ${entry} does not exist: it cannot be bundled for the workers`, { file: entry });
  const packages = new Set<string>();
  const marker = `riots-import-${randomBytes(12).toString('hex')}`;
  const specs: string[] = [];
  const open = (spec: string): { path: string; external: true } => {
    let n = specs.indexOf(spec);
    if (n < 0) n = specs.push(spec) - 1;
    return { path: `${marker}:${n}`, external: true };
  };
  const skip = Symbol('riots-resolve');
  const plugin: Plugin = {
    name: 'riots-externals',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === 'entry-point' || args.pluginData === skip) return undefined;
        const spec = args.path;
        if (spec === 'riots') return open(`${RIOTS_SELF}index`);
        if (isBare(spec)) {
          if (!isBuiltin(spec)) packages.add(spec);
          return open(spec);
        }
        if (spec.endsWith('.node')) {
          return { errors: [{ text: `${spec} is a native addon: put it in an npm package so that workers load their own build` }] };
        }
        const r = await b.resolve(spec, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: skip });
        if (r.errors.length > 0) return { errors: r.errors };
        const id = riotsModuleId(r.path);
        if (id !== undefined) return open(`${RIOTS_SELF}${id}`);
        return { path: r.path, namespace: r.namespace };
      });
    },
  };
  const options = {
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    metafile: true,
    sourcemap: 'inline',
    sourcesContent: false,
    logLevel: 'silent',
    plugins: [plugin],
  } satisfies import('esbuild').BuildOptions;
  let result: import('esbuild').BuildResult<{ write: false; metafile: true }>;
  try {
    try {
      result = await loadEsbuild().build(options);
    } catch (err) {
      // a dead service (a child of this process, killed by someone) is replaced once
      if (!serviceGone(err)) throw err;
      result = await loadEsbuild(true).build(options);
    }
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors ?? [];
    const detail = errors.map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text)).join('; ');
    throw new ControlsError(`cannot bundle the user function's module ${entry} for the workers: ${detail || (err as Error).message}`, {
      file: entry,
      cause: err,
    });
  }
  const out = result.outputFiles[0];
  if (!out) throw new ControlsError(`esbuild produced no output for ${entry}`, { file: entry });
  const cwd = process.cwd();
  const inputs = Object.keys(result.metafile.inputs).map((p) => path.resolve(cwd, p));
  return { code: out.contents, inputs, packages: [...packages].sort(), imports: { marker, specs } };
}

/**
 * The export of the user function's module that holds it, found by identity in the module the
 * main has loaded; undefined when the main cannot tell quickly. import() of a module still
 * evaluating (one that calls apply() from its top level) waits for that evaluation, which waits
 * for this run: so the import is raced against a short timer, and the worker resolves the
 * function from the spec instead.
 */
export async function userFunctionExportName(fn: unknown, spec: UserFunctionSpec): Promise<string | undefined> {
  if (spec.exportName !== undefined) return spec.exportName;
  const ns = await valueWithin(import(spec.moduleUrl) as Promise<Record<string, unknown>>, 200);
  if (!ns) return undefined;
  const direct = Object.entries(ns).find(([, v]) => v === fn);
  if (direct) return direct[0];
  try {
    const found = resolveUserFunction(ns, spec);
    return Object.entries(ns).find(([, v]) => v === found)?.[0];
  } catch {
    return undefined;
  }
}
