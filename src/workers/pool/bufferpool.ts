/**
 * Block-sized ArrayBuffers reused within one run, for arrays riots owns from allocation to
 * release and that no user code ever sees: with worker processes (CW_SUBPROC and the remote
 * kinds), the main's input blocks once a worker has answered for them, and the results received
 * over the channel once they are written.
 *
 * Without reuse every block allocates fresh arrays of a few hundred kB, which glibc maps and
 * unmaps (or trims from the heap and grows back), so each block pays page faults on first touch;
 * on a virtual machine they are dear. The main is the user's process, so riots cannot give it
 * the malloc settings its workers get (src/workers/malloc.ts); reusing its own buffers gets the
 * same effect where it matters (docs/PERFORMANCE.md, W1 with CW_SUBPROC).
 *
 * Only buffers this pool handed out are taken back, each once: a buffer given back twice, or one
 * that came from elsewhere, is ignored, so that two blocks can never share memory.
 */

/** Smaller arrays are not worth keeping (and come from V8's own heap). */
const MIN_POOLED_BYTES = 4096;

export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Buffers handed out by take() and not yet given back. */
  private readonly out = new WeakSet<ArrayBuffer>();
  private heldBytes = 0;
  /** Counters, for tests and benchmarks. */
  readonly stats = { taken: 0, reused: 0, given: 0 };

  /** @param maxBytes most bytes kept free at once; buffers given back beyond it are dropped */
  constructor(readonly maxBytes: number) {}

  /** An ArrayBuffer of exactly `bytes` bytes, with undefined contents: a free one, else a new one. */
  take(bytes: number): ArrayBuffer {
    this.stats.taken++;
    const buf = this.free.get(bytes)?.pop();
    if (buf !== undefined) {
      this.heldBytes -= bytes;
      this.stats.reused++;
      this.out.add(buf);
      return buf;
    }
    const fresh = bytes < MIN_POOLED_BYTES ? new ArrayBuffer(bytes) : Buffer.allocUnsafeSlow(bytes).buffer;
    if (bytes >= MIN_POOLED_BYTES) this.out.add(fresh);
    return fresh;
  }

  /**
   * Give back a buffer from take(), once nothing refers to its contents any more. Anything else
   * (a buffer from elsewhere, one already given back, a transferred one) is ignored.
   */
  give(buf: ArrayBufferLike): void {
    if (!(buf instanceof ArrayBuffer) || !this.out.has(buf)) return;
    this.out.delete(buf);
    const n = buf.byteLength;
    if (n < MIN_POOLED_BYTES || this.heldBytes + n > this.maxBytes) return;
    let list = this.free.get(n);
    if (!list) {
      list = [];
      this.free.set(n, list);
    }
    list.push(buf);
    this.heldBytes += n;
    this.stats.given++;
  }

  /** Bytes kept free right now. */
  get held(): number {
    return this.heldBytes;
  }
}
