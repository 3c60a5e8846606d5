/**
 * glibc malloc settings for the processes riots starts to compute (CW_SUBPROC workers) and for
 * the image its Batch jobs run (aws/Dockerfile sets the same value, checked by a test).
 *
 * A worker allocates a few block-sized arrays per block (its inputs, the user function's outputs,
 * the frames it sends) and drops them after the result is sent. With glibc's defaults, such
 * arrays are mapped fresh and unmapped on free (from 128 KiB), or carved from heap memory that
 * was trimmed back to the kernel, so every block pays page faults on first touch and TLB
 * shootdowns on unmap; on a virtual machine both are dear (bench/malloc.ts, docs/PERFORMANCE.md:
 * ~0.14 ms of CPU for a fresh 256 KiB array, ~0.005 ms for a reused one).
 * The settings below keep freed blocks in the heap for the next block instead, and let the heap
 * use transparent huge pages where the kernel offers them on request (`madvise` mode):
 *
 * - `glibc.malloc.mmap_threshold`: allocations below 32 MiB come from the heap;
 * - `glibc.malloc.trim_threshold`: free heap memory is handed back only above 1 GiB, so a worker
 *   keeps about its peak (the blocks it holds at once), as it would anyway during the run;
 * - `glibc.malloc.hugetlb=1`: the heap asks for transparent huge pages (glibc >= 2.35; older
 *   glibc ignores a name it does not know, and musl the whole variable).
 *
 * Settings the user gives in GLIBC_TUNABLES win, name by name.
 */

export const GLIBC_TUNABLES_ENV = 'GLIBC_TUNABLES';

/** The settings, in GLIBC_TUNABLES syntax. */
export const WORKER_MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824:glibc.malloc.hugetlb=1';

/**
 * `existing` (a GLIBC_TUNABLES value, possibly empty) with riots's worker settings added for
 * every name it does not set.
 */
export function withWorkerMallocTunables(existing: string | undefined): string {
  const given = (existing ?? '').split(':').filter((s) => s.length > 0);
  const names = new Set(given.map((s) => s.split('=', 1)[0]!));
  const ours = WORKER_MALLOC_TUNABLES.split(':').filter((s) => !names.has(s.split('=', 1)[0]!));
  return [...given, ...ours].join(':');
}
