/**
 * One block through the user function, the same in every place it runs (this thread, a worker
 * thread, a worker process): register where each input block comes from, call the function
 * (a throw becomes a UserFunctionError naming the block and worker), and check what it set.
 */
import { Block, type BlockAssociations } from '../../block.js';
import { OutputBlockError, UserFunctionError, describeBlock, type BlockCoords } from '../../errors.js';
import type { Timings } from '../../timings.js';
import type { UserFunction } from '../../userfunction.js';
import type { BlockSource, ReaderInfo } from '../../readerinfo.js';
import type { ImageRef } from '../../reader/inputs.js';

/**
 * Check what the user function put in `outputs` against `outfiles`: every name present, lists
 * of the right length, every value a Block.
 */
export function checkOutputs(outputs: BlockAssociations, outRefs: readonly ImageRef[], coords: BlockCoords): void {
  const expected = new Map<string, number | null>();
  for (const r of outRefs) {
    if (r.listIndex === null) expected.set(r.name, null);
    else expected.set(r.name, Math.max((expected.get(r.name) as number | undefined) ?? 0, r.listIndex + 1));
  }
  const where = describeBlock(coords);
  for (const [name, count] of expected) {
    const v = outputs[name];
    if (v === undefined) {
      throw new OutputBlockError(`output '${name}', ${where}: the user function did not set outputs.${name}`, { imageName: name, block: coords });
    }
    if (count === null) {
      if (!(v instanceof Block)) {
        throw new OutputBlockError(`output '${name}', ${where}: outputs.${name} must be a Block (got ${typeName(v)})`, { imageName: name, block: coords });
      }
    } else {
      if (!Array.isArray(v) || v.length !== count) {
        throw new OutputBlockError(`output '${name}', ${where}: outputs.${name} must be a list of ${count} Blocks (got ${typeName(v)})`, {
          imageName: name,
          block: coords,
        });
      }
      v.forEach((b, i) => {
        if (!(b instanceof Block)) {
          throw new OutputBlockError(`output '${name}[${i}]', ${where}: must be a Block (got ${typeName(b)})`, { imageName: name, block: coords });
        }
      });
    }
  }
  for (const name of Object.keys(outputs)) {
    if (!expected.has(name)) {
      throw new OutputBlockError(`${where}: the user function set outputs.${name}, which is not in outfiles`, { imageName: name, block: coords });
    }
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return v.constructor?.name ?? 'object';
  return typeof v;
}

/** Call the user function for one block, turning a throw into a UserFunctionError. */
export async function callUserFunction(
  fn: UserFunction,
  info: ReaderInfo,
  inputs: BlockAssociations,
  otherArgs: unknown,
  coords: BlockCoords,
  timings: Timings,
  workerId?: number,
): Promise<BlockAssociations> {
  const outputs: BlockAssociations = {};
  info.setBlock(coords);
  const t0 = performance.now();
  try {
    await fn(info, inputs, outputs, otherArgs);
  } catch (cause) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    throw new UserFunctionError(`the user function failed on ${describeBlock(coords)}${workerId !== undefined ? ` in worker ${workerId}` : ''}: ${msg}`, {
      block: coords,
      cause,
      ...(workerId !== undefined ? { workerId } : {}),
    });
  } finally {
    timings.add('userfunction', (performance.now() - t0) / 1000);
  }
  return outputs;
}

/** What a worker knows of a run to compute its blocks. */
export interface BlockRunner {
  fn: UserFunction;
  info: ReaderInfo;
  otherArgs: unknown;
  outRefs: readonly ImageRef[];
  /** Where each input block comes from, keyed by {@link sourceKey}; for getFilenameFor / getNoDataValueFor. */
  sources: ReadonlyMap<string, BlockSource>;
  workerId?: number;
}

/** The key of an input in {@link BlockRunner.sources}. */
export function sourceKey(name: string, listIndex: number | null): string {
  return `${name}\u0000${listIndex}`;
}

/** Compute one block: inputs registered with their sources, the user function called, its outputs checked. */
export async function runBlock(r: BlockRunner, coords: BlockCoords, inputs: BlockAssociations, timings: Timings): Promise<BlockAssociations> {
  for (const [name, v] of Object.entries(inputs)) {
    const list = Array.isArray(v) ? v : [v];
    list.forEach((b, i) => {
      const src = r.sources.get(sourceKey(name, Array.isArray(v) ? i : null));
      if (src) r.info.registerBlock(b, src);
    });
  }
  const outputs = await callUserFunction(r.fn, r.info, inputs, r.otherArgs, coords, timings, r.workerId);
  checkOutputs(outputs, r.outRefs, coords);
  return outputs;
}
