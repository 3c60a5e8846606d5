/**
 * A scratch copy of one band's pixel values, appended while the band is written and replayed
 * once at the end.
 *
 * Float histograms need the final minimum and maximum before any value can be binned, so they
 * cannot be counted while writing. Replaying the raw values from a scratch file costs a memory
 * copy per block and a sequential read at the end, where reading the finished output back costs
 * decompressing it again (the larger part of the histogram's time in W1). The file lives beside
 * the output (so the output's clean-up removes it with the other temporary files) and is deleted
 * by {@link ValueSpill.dispose}. Memory: two staging buffers of {@link SPILL_CHUNK_BYTES} while
 * writing, two read buffers of the same size while replaying.
 */
import { rmSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { cleanUpAtExit } from '../exitcleanup.js';
import { TYPED_ARRAY, bytesPerElement, type AnyTypedArray, type DataType } from '../dtypes.js';

/**
 * Bytes per write and per read of the scratch file (a multiple of 8, so any type aligns). Not
 * more: on Linux 6.18 in a VM, writes of 2 MB and more took ten times the system time of 1 MB
 * ones (docs/statistics.md).
 */
export const SPILL_CHUNK_BYTES = 1 << 20;

export class ValueSpill {
  private readonly staging: Uint8Array[];
  /** The write in flight from each staging buffer, if any. */
  private readonly writing: (Promise<unknown> | undefined)[];
  private current = 0;
  private used = 0;
  private size = 0;
  private disposed = false;
  /** Unregisters the file's removal at process exit (see exitcleanup.ts). */
  private readonly keepAtExit: () => void;

  private constructor(
    readonly path: string,
    readonly dtype: DataType,
    private readonly fh: FileHandle,
  ) {
    this.staging = [new Uint8Array(SPILL_CHUNK_BYTES), new Uint8Array(SPILL_CHUNK_BYTES)];
    this.writing = [undefined, undefined];
    this.keepAtExit = cleanUpAtExit(() => rmSync(path, { force: true }));
  }

  /** Create (or truncate) the scratch file at `path`. */
  static async create(path: string, dtype: DataType): Promise<ValueSpill> {
    const fh = await open(path, 'w+', 0o600);
    return new ValueSpill(path, dtype, fh);
  }

  /** Bytes appended so far. */
  get bytes(): number {
    return this.size + this.used;
  }

  /**
   * Append the values of `data` (of this spill's type). The array is copied before the returned
   * promise settles; the promise waits only when both staging buffers are being written.
   */
  async add(data: AnyTypedArray): Promise<void> {
    if (this.disposed) throw new Error(`value spill ${this.path} was already disposed`);
    let src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    while (src.length > 0) {
      const buf = this.staging[this.current]!;
      const n = Math.min(src.length, buf.length - this.used);
      buf.set(src.subarray(0, n), this.used);
      this.used += n;
      src = src.subarray(n);
      if (this.used === buf.length) await this.flushCurrent();
    }
  }

  /** Write the current staging buffer and switch to the other one (waiting until it is free). */
  private async flushCurrent(): Promise<void> {
    if (this.used === 0) return;
    const k = this.current;
    const at = this.size;
    const len = this.used;
    this.size += len;
    this.used = 0;
    const p = this.writeFully(this.staging[k]!, len, at);
    p.catch(() => undefined); // awaited later; never an unhandled rejection meanwhile
    this.writing[k] = p;
    this.current = 1 - k;
    const other = this.writing[this.current];
    if (other) {
      this.writing[this.current] = undefined;
      await other;
    }
  }

  private async writeFully(buf: Uint8Array, len: number, position: number): Promise<void> {
    let done = 0;
    while (done < len) {
      const { bytesWritten } = await this.fh.write(buf, done, len - done, position + done);
      done += bytesWritten;
    }
  }

  /**
   * Call `fn` with every value appended, in order, a chunk at a time (`fn` must not keep the
   * array: two buffers take turns). The next chunk is read while `fn` works on this one.
   */
  async replay(fn: (values: AnyTypedArray) => void): Promise<void> {
    await this.flushCurrent();
    await Promise.all(this.writing);
    for (let k = 0; k < this.writing.length; k++) this.writing[k] = undefined;
    const total = this.size;
    const bpe = bytesPerElement(this.dtype);
    const Ctor = TYPED_ARRAY[this.dtype];
    const bufs = this.staging;
    const read = async (k: number, position: number): Promise<number> => {
      const buf = bufs[k]!;
      const want = Math.min(buf.length, total - position);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await this.fh.read(buf, got, want - got, position + got);
        if (bytesRead === 0) throw new Error(`value spill ${this.path}: ended at ${position + got} of ${total} bytes`);
        got += bytesRead;
      }
      return got;
    };
    let position = 0;
    let k = 0;
    let next: Promise<number> | undefined = total > 0 ? read(0, 0) : undefined;
    while (next) {
      const got = await next;
      const at = position + got;
      next = at < total ? read(1 - k, at) : undefined;
      try {
        fn(new Ctor(bufs[k]!.buffer, 0, got / bpe));
      } catch (err) {
        await next?.catch(() => undefined);
        throw err;
      }
      position = at;
      k = 1 - k;
    }
  }

  /** Close and delete the scratch file (safe to call more than once, and after a failure). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.writing.map((w) => w?.catch(() => undefined)));
    await this.fh.close().catch(() => undefined);
    await rm(this.path, { force: true });
    this.keepAtExit();
  }
}
