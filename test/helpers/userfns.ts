/**
 * User functions for the compute-worker tests (CW_THREADS): defined in their own module, as
 * workers import them. They import riots' public entry like a user module would.
 */
import { Block, computeWorkerId, defineUserFunction, isBigIntBlock, isComputeWorker, type DataType } from '../../src/index.js';

export interface CountArgs {
  blocks: number;
  workerIds: number[];
  /** Output buffers of earlier calls found detached (sent by transfer) at a later call. */
  detachedOutputs: number;
  inComputeWorker: boolean[];
}

let previousOutputs: Block[] = [];

/** out = a * 2 + b (Float64 out), plus a 3-band list output; counts blocks in otherArgs. */
export const combine = defineUserFunction(import.meta.url, (info, inputs, outputs, otherArgs: CountArgs) => {
  const a = inputs.a as Block;
  const b = inputs.b as Block;
  for (const p of previousOutputs) if (p.data.buffer.byteLength === 0) otherArgs.detachedOutputs++;
  const out = a.like('Float64', 1);
  const n = a.pixelsPerBand;
  for (let i = 0; i < n; i++) out.data[i] = (a.data[i] as number) * 2 + (b.data[i] as number) + info.getBlockPosition()[0];
  const nd = info.getNoDataValueFor(b) ?? -1;
  const names = info.getFilenameFor(a).length;
  const extra = a.like('Int32', 2);
  for (let i = 0; i < n; i++) {
    extra.data[i] = nd;
    extra.data[n + i] = names + info.getBlockPosition()[1];
  }
  outputs.sum = out;
  outputs.extra = extra;
  previousOutputs = [out, extra];
  otherArgs.blocks++;
  const id = computeWorkerId();
  if (id !== undefined && !otherArgs.workerIds.includes(id)) otherArgs.workerIds.push(id);
  if (!otherArgs.inComputeWorker.includes(isComputeWorker())) otherArgs.inComputeWorker.push(isComputeWorker());
});

/** Throws on block 3. */
export const failsOnBlock3 = defineUserFunction(import.meta.url, (info, inputs, outputs) => {
  if (info.block.index === 3) throw new Error('boom on purpose');
  outputs.out = (inputs.a as Block).clone();
});

/** A plain exported function (no tag), for { module, name } references. */
export function copyA(_info: unknown, inputs: Record<string, Block>, outputs: Record<string, Block>): void {
  outputs.out = inputs.a!.clone();
}

/** Ends its worker thread on block 2 (as a crash would). */
export const exitsOnBlock2 = defineUserFunction(import.meta.url, (info, inputs, outputs) => {
  if (info.block.index === 2 && isComputeWorker()) process.exit(3);
  outputs.out = (inputs.a as Block).clone();
});

/** Outputs that share memory: the input block itself, twice, and a view into one buffer. */
export const aliasing = defineUserFunction(import.meta.url, (_info, inputs, outputs) => {
  const a = inputs.a as Block;
  outputs.same1 = a;
  outputs.same2 = a;
  const both = new Float32Array(2 * a.pixelsPerBand);
  both.set(a.data, a.pixelsPerBand);
  outputs.view = new Block('Float32', 1, a.rows, a.cols, both.subarray(a.pixelsPerBand));
});

/** Puts a function into its otherArgs, which then cannot be sent back. */
export const spoilsOtherArgs = defineUserFunction(import.meta.url, (_info, inputs, outputs, otherArgs: { f?: unknown }) => {
  otherArgs.f = () => 1;
  outputs.out = (inputs.a as Block).clone();
});

/**
 * 64-bit outputs: `big` = a × 2^40 + 7 as Int64 (beyond 2^53, so only exact integers survive),
 * and, given an Int64 input `i64` or a UInt64 input `u64`, that input plus 1 in its own type.
 */
export const bigInts = defineUserFunction(import.meta.url, (_info, inputs, outputs) => {
  const a = inputs.a as Block<DataType>;
  if (a) {
    const big = a.like('Int64');
    const src = a.data as Int32Array;
    for (let i = 0; i < src.length; i++) big.data[i] = BigInt(src[i]!) * 1099511627776n + 7n;
    outputs.big = big;
  }
  for (const name of ['i64', 'u64']) {
    const b = inputs[name] as Block<DataType> | undefined;
    if (!b) continue;
    if (!isBigIntBlock(b)) throw new TypeError(`${name} is ${b.dtype}, not a 64-bit block`);
    const out = b.clone();
    const d = out.data;
    for (let i = 0; i < d.length; i++) d[i] = d[i]! + 1n;
    outputs[`${name}plus1`] = out;
  }
});

/** A thematic output `cls` (a % 9, Byte) and a copy of `a` as `other`. */
export const classesMod9 = defineUserFunction(import.meta.url, (_info, inputs, outputs) => {
  outputs.cls = inputs.a!.map((v) => v % 9, 'Byte');
  outputs.other = inputs.a!;
});
