/**
 * koffi, the FFI riots binds libc's and libgdal's C functions with, loaded from its native module.
 *
 * koffi's package entry loads `https`, `zlib` and `crypto` for its installer before it loads the
 * native module, about 15 ms of every run's start-up (measured: 18–25 ms against 5–7 ms for the
 * native module alone). riots uses only what the native module exports (`load`, `func`,
 * `errno`), so it requires the file koffi's own loader tries first for this platform, when that
 * file is there and carries the package's version; anything else (another platform or libc, a
 * bundled copy, a mismatch) goes through the package entry as before.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** What riots uses of koffi: a library's C functions by signature, and the last errno. */
export interface Koffi {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown };
  errno(): number;
}

/** The native module's folder names koffi uses for the platforms riots loads it directly on. */
const DIRECT: Record<string, string> = { 'linux-x64': 'linux_x64', 'linux-arm64': 'linux_arm64' };

let koffi: Koffi | undefined;

/** koffi, loaded on the first call. @throws when koffi is not installed or does not load. */
export function requireKoffi(): Koffi {
  koffi ??= loadDirect() ?? (createRequire(import.meta.url)('koffi') as Koffi);
  return koffi;
}

function loadDirect(): Koffi | null {
  const triplet = DIRECT[`${process.platform}-${process.arch}`];
  if (triplet === undefined) return null;
  try {
    const req = createRequire(import.meta.url);
    const pkgFile = req.resolve('koffi/package.json');
    const file = path.join(path.dirname(pkgFile), 'build', 'koffi', triplet, 'koffi.node');
    if (!existsSync(file)) return null;
    const version = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { version?: unknown }).version;
    const native = req(file) as Koffi & { version?: unknown };
    if (native.version !== version || typeof native.load !== 'function' || typeof native.errno !== 'function') return null;
    return native;
  } catch {
    // e.g. a glibc build on a musl system: koffi's own loader knows the alternatives
    return null;
  }
}
