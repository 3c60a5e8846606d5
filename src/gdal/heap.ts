/**
 * The main process's heap, tuned the way riots starts its own workers (src/workers/pool/malloc.ts).
 *
 * Block and chunk arrays of hundreds of KB are made and dropped many times a run. With glibc's
 * defaults such arrays are mapped fresh and unmapped when freed, or carved from heap memory that
 * was handed back to the kernel, so every one pays its page faults again; on virtual machines a
 * fault costs 10–20 µs (docs/PERFORMANCE.md, "RAT applier" and "Worker malloc settings"). numpy
 * answers the same cost by asking for transparent huge pages on its large arrays; riots cannot
 * reach the memory V8 gives a typed array, so it does the equivalent for the heap those arrays
 * come from, once, when a run starts (`apply()`, `ratapplier.apply()`):
 *
 * - `mallopt(M_MMAP_THRESHOLD)` 32 MiB: arrays below that come from the heap;
 * - `mallopt(M_TRIM_THRESHOLD)` 1 GiB: freed heap memory is kept for the next array (the process
 *   keeps about its peak, as it would during the run anyway);
 * - the heap is grown by {@link RESERVE_BYTES} of address space (not memory: nothing is touched)
 *   and that range is advised `MADV_HUGEPAGE`, what `glibc.malloc.hugetlb=1` does for every
 *   growth when set at start-up.
 *
 * Left alone: a process whose `GLIBC_TUNABLES` sets any `glibc.malloc.*` name (riots' own
 * workers, or a user who chose), `RIOTS_MALLOC_TUNING=0`, anything but Linux with glibc. Any
 * failure on the way leaves the process as it was, silently: this only changes speed.
 */
import { createRequire } from 'node:module';

/** Set to `0` (or `off`) to leave the process's malloc as it is. */
export const MALLOC_TUNING_ENV = 'RIOTS_MALLOC_TUNING';

/** The thresholds, the same values riots' workers get as GLIBC_TUNABLES (a unit test checks). */
export const MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024;
export const TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024;

/** Address space the heap is grown by and advised for huge pages. */
export const RESERVE_BYTES = 256 * 1024 * 1024;

const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const MADV_HUGEPAGE = 14;
const HUGE_PAGE = 2 * 1024 * 1024;
const PIECE = 16 * 1024 * 1024;

/** What {@link tuneHeap} did, for tests and the timing report. */
export type HeapTuning = 'tuned' | 'thresholds' | 'left: GLIBC_TUNABLES sets malloc' | 'left: RIOTS_MALLOC_TUNING' | 'left: not glibc' | 'left: failed';

let done: HeapTuning | undefined;

/** Why the heap is to be left alone, or null when it may be tuned. */
export function heapLeftAloneBecause(env: NodeJS.ProcessEnv = process.env, platform: string = process.platform): HeapTuning | null {
  const opt = (env[MALLOC_TUNING_ENV] ?? '').trim().toLowerCase();
  if (opt === '0' || opt === 'off' || opt === 'false' || opt === 'no') return 'left: RIOTS_MALLOC_TUNING';
  if (/(^|:)glibc\.malloc\./.test(env.GLIBC_TUNABLES ?? '')) return 'left: GLIBC_TUNABLES sets malloc';
  if (platform !== 'linux') return 'left: not glibc';
  return null;
}

interface Libc {
  mallopt(param: number, value: number): number;
  malloc(size: number): bigint;
  free(p: bigint): void;
  sbrk(inc: number): bigint;
  madvise(addr: bigint, len: number, advice: number): number;
}

/** koffi gives a 64-bit result as a number when it fits one exactly, else as a bigint. */
const big =
  (f: (...args: unknown[]) => unknown) =>
  (n: number): bigint =>
    BigInt(f(n) as number | bigint);

function bindLibc(): Libc | null {
  try {
    const koffi = createRequire(import.meta.url)('koffi') as { load(path: string): { func(signature: string): (...args: unknown[]) => unknown } };
    const lib = koffi.load('libc.so.6');
    lib.func('const char *gnu_get_libc_version()'); // throws on a libc that is not glibc
    return {
      mallopt: lib.func('int mallopt(int param, int value)') as Libc['mallopt'],
      malloc: big(lib.func('uint64_t malloc(size_t size)')),
      free: lib.func('void free(uint64_t p)'),
      sbrk: big(lib.func('uint64_t sbrk(intptr_t increment)')),
      madvise: lib.func('int madvise(uint64_t addr, size_t length, int advice)') as Libc['madvise'],
    };
  } catch {
    return null;
  }
}

/** What {@link tuneHeap} did in this process, or undefined before its first call. */
export function heapTuningState(): HeapTuning | undefined {
  return done;
}

/** Tune this process's heap (once; later calls return the first answer). */
export function tuneHeap(): HeapTuning {
  if (done !== undefined) return done;
  done = heapLeftAloneBecause() ?? tune();
  return done;
}

function tune(): HeapTuning {
  const libc = bindLibc();
  if (libc === null) return 'left: not glibc';
  if (libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) !== 1) return 'left: failed';
  libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
  // grow the heap's top by whole pieces (each below the mmap threshold, so they come from brk),
  // advise what brk added, and give the pieces back: the top keeps them under the trim threshold
  const before = libc.sbrk(0);
  const pieces: bigint[] = [];
  for (let i = 0; i < RESERVE_BYTES / PIECE; i++) {
    const p = libc.malloc(PIECE - 64);
    if (p === 0n) break;
    pieces.push(p);
  }
  const after = libc.sbrk(0);
  const hp = BigInt(HUGE_PAGE);
  const from = ((before + hp - 1n) / hp) * hp;
  const to = (after / hp) * hp;
  const advised = to > from && libc.madvise(from, Number(to - from), MADV_HUGEPAGE) === 0;
  for (const p of pieces.reverse()) libc.free(p);
  return advised ? 'tuned' : 'thresholds';
}
