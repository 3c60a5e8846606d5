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
import { requireKoffi } from './koffi.js';

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

/** Why the last tuning stopped at the thresholds (madvise's errno, or what was missing), for diagnosis. */
export let heapTuningDetail = '';

interface Libc {
  errno(): number;
  mallopt(param: number, value: number): number;
  malloc(size: number): bigint;
  free(p: bigint): void;
  madvise(addr: bigint, len: number, advice: number): number;
}

/** koffi gives a 64-bit result as a number when it fits one exactly, else as a bigint. */
const big =
  (f: (...args: unknown[]) => unknown) =>
  (n: number): bigint =>
    BigInt(f(n) as number | bigint);

function bindLibc(): Libc | null {
  try {
    const koffi = requireKoffi();
    const lib = koffi.load('libc.so.6');
    lib.func('const char *gnu_get_libc_version()'); // throws on a libc that is not glibc
    return {
      errno: () => koffi.errno(),
      mallopt: lib.func('int mallopt(int param, int value)') as Libc['mallopt'],
      malloc: big(lib.func('uint64_t malloc(size_t size)')),
      free: lib.func('void free(uint64_t p)'),
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

/** Address ranges [start, end) covered by pieces of `size` bytes that lie back to back. */
export function contiguousRuns(starts: readonly bigint[], size: bigint): [bigint, bigint][] {
  const sorted = [...starts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const runs: [bigint, bigint][] = [];
  for (const p of sorted) {
    const last = runs[runs.length - 1];
    // a chunk's header sits between pieces: allow a page of slack
    if (last && p >= last[1] - size && p <= last[1] + 4096n) last[1] = p + size - 64n;
    else runs.push([p, p + size - 64n]);
  }
  return runs;
}

function tune(): HeapTuning {
  const libc = bindLibc();
  if (libc === null) return 'left: not glibc';
  if (libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) !== 1) return 'left: failed';
  libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
  // take the reserve in pieces (each below the mmap threshold, so the heap grows to hold them),
  // advise the address ranges they cover, and give them back: the heap keeps them (under the
  // trim threshold) for the arrays to come. The ranges come from the pieces' own addresses, not
  // from brk: the heap may have grown elsewhere (a non-contiguous main heap, another arena).
  const pieces: bigint[] = [];
  for (let i = 0; i < RESERVE_BYTES / PIECE; i++) {
    const p = libc.malloc(PIECE - 64);
    if (p === 0n) break;
    pieces.push(p);
  }
  let advised = false;
  const runs = contiguousRuns(pieces, BigInt(PIECE));
  heapTuningDetail = `${pieces.length} pieces in ${runs.length} range(s)`;
  for (const [lo, hi] of runs) {
    const hp = BigInt(HUGE_PAGE);
    const from = ((lo + hp - 1n) / hp) * hp;
    const to = (hi / hp) * hp;
    if (to <= from) continue;
    if (libc.madvise(from, Number(to - from), MADV_HUGEPAGE) === 0) advised = true;
    else heapTuningDetail += `; madvise of ${Number(to - from) >> 20} MiB at 0x${from.toString(16)}: errno ${libc.errno()}`;
  }
  for (const p of pieces.reverse()) libc.free(p);
  return advised ? 'tuned' : 'thresholds';
}
