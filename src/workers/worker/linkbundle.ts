/**
 * The worker side of shipping the user function (the main side is workers/pool/bundle.ts, which
 * describes the format): point a bundle's open imports at absolute file URLs of this worker's
 * installation, so that the linked module can be imported from any folder.
 */
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { WorkerError } from '../../errors.js';
import { riotsTree } from '../../packageroot.js';
import type { BundleImports } from '../channel/protocol.js';

/** Prefix of the open-import specs (BundleImports.specs) that stand for riots' own modules. */
export const RIOTS_SELF = 'riots-self:';

/** Shape of a bundle's import marker: a prefix and 24 random hex digits. */
export const IMPORT_MARKER = /^riots-import-[0-9a-f]{24}$/;

/** A bare package specifier (an npm package or a Node built-in), not a path or URL. */
export function isBare(spec: string): boolean {
  return !(spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('file:') || /^[A-Za-z]:[\\/]/.test(spec));
}

/** Where a bare package specifier resolves from riots' own location. */
function resolvePackage(spec: string): string {
  return import.meta.resolve(spec);
}

/**
 * Point the open imports of a bundle (see module doc) at absolute file URLs of this worker's
 * installation. The result imports nothing relative, so it may live in any folder.
 * @throws {WorkerError} when the bundle imports a package that is not installed here, refers to
 *   riots outside its tree, or its import list does not match its code.
 */
export function linkBundle(code: string, imports: BundleImports, workerId?: number): string {
  const ctx = workerId !== undefined ? { workerId } : {};
  const fail = (what: string): never => {
    throw new WorkerError(`the user-function bundle cannot be linked: ${what}`, ctx);
  };
  if (!IMPORT_MARKER.test(imports.marker)) fail(`its import marker '${imports.marker}' is malformed`);
  const { treeDir, ext } = riotsTree();
  const missing: string[] = [];
  const urls = imports.specs.map((spec): string => {
    if (spec.startsWith(RIOTS_SELF)) {
      const id = spec.slice(RIOTS_SELF.length);
      if (!/^[\w./-]+$/.test(id) || id.split('/').includes('..')) fail(`bad riots module reference ${spec}`);
      return pathToFileURL(path.join(treeDir, id + ext)).href;
    }
    if (isBuiltin(spec)) return spec;
    if (isBare(spec)) {
      try {
        return resolvePackage(spec);
      } catch {
        missing.push(spec);
        return spec;
      }
    }
    return fail(`it imports ${spec}, which it should have contained`);
  });
  if (missing.length > 0) {
    throw new WorkerError(
      `the user function imports ${missing.map((m) => `'${m}'`).join(', ')}, not installed beside riots on this worker (${treeDir}); install ${missing.length > 1 ? 'them' : 'it'} there`,
      ctx,
    );
  }
  const literal = new RegExp(`(["'\`])${imports.marker}:(\\d+)\\1`, 'g');
  const out = code.replace(literal, (_m, _q, n: string) => JSON.stringify(urls[Number(n)] ?? fail(`import ${n} is not in its list of ${urls.length}`)));
  if (out.includes(imports.marker)) fail('its import marker occurs outside an import path');
  return out;
}
