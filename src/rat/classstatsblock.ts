/**
 * The per-block part of per-class statistics (classstats.ts): accumulate, per class of a thematic
 * block, the count, mean, sum of squared deviations (Welford), min and max of a continuous block's
 * band. Each compute worker keeps its own accumulators in otherArgs; classstats.ts merges them.
 * GDAL-free: compute workers import this module.
 */
import { defineUserFunction } from '../userfunction.js';
import type { Block } from '../block.js';

/** Running statistics per class (index = class value). */
export interface ClassAccumulators {
  count: Float64Array;
  mean: Float64Array;
  m2: Float64Array;
  min: Float64Array;
  max: Float64Array;
}

export function newAccumulators(classes = 0): ClassAccumulators {
  return {
    count: new Float64Array(classes),
    mean: new Float64Array(classes),
    m2: new Float64Array(classes),
    min: new Float64Array(classes).fill(Infinity),
    max: new Float64Array(classes).fill(-Infinity),
  };
}

/** `a` with room for classes 0..n-1. */
function grow(a: ClassAccumulators, n: number): void {
  const more = (old: Float64Array, fill: number): Float64Array => {
    const x = new Float64Array(n).fill(fill);
    x.set(old);
    return x;
  };
  a.count = more(a.count, 0);
  a.mean = more(a.mean, 0);
  a.m2 = more(a.m2, 0);
  a.min = more(a.min, Infinity);
  a.max = more(a.max, -Infinity);
}

/** Add the pixels of one block: classes from `classes` band 1, values from `values` band 1; nodata of either, and NaN values, skipped. */
export function accumulate(a: ClassAccumulators, classes: Block, values: Block, classNodata: number | null, valueNodata: number | null, where: string): void {
  const n = classes.pixelsPerBand;
  const c = classes.data;
  const v = values.data;
  for (let i = 0; i < n; i++) {
    const k = c[i]!;
    const x = v[i]!;
    if (k === classNodata || x === valueNodata || Number.isNaN(x)) continue;
    if (!Number.isInteger(k) || k < 0)
      throw new RangeError(`per-class statistics: class value ${k} in ${where} is not a whole number from 0 (classes are RAT rows)`);
    if (k >= a.count.length) grow(a, Math.max(k + 1, a.count.length * 2));
    const cnt = ++a.count[k]!;
    const d = x - a.mean[k]!;
    a.mean[k]! += d / cnt;
    a.m2[k]! += d * (x - a.mean[k]!);
    if (x < a.min[k]!) a.min[k] = x;
    if (x > a.max[k]!) a.max[k] = x;
  }
}

/** Merge `b` into `a` (Chan et al.'s pairwise update of mean and squared deviations). */
export function mergeAccumulators(a: ClassAccumulators, b: ClassAccumulators): void {
  if (b.count.length > a.count.length) grow(a, b.count.length);
  for (let k = 0; k < b.count.length; k++) {
    const nb = b.count[k]!;
    if (nb === 0) continue;
    const na = a.count[k]!;
    const n = na + nb;
    const d = b.mean[k]! - a.mean[k]!;
    a.mean[k] = a.mean[k]! + (d * nb) / n;
    a.m2[k] = a.m2[k]! + b.m2[k]! + (d * d * na * nb) / n;
    a.count[k] = n;
    a.min[k] = Math.min(a.min[k]!, b.min[k]!);
    a.max[k] = Math.max(a.max[k]!, b.max[k]!);
  }
}

/** The user function apply() runs: inputs `classes` and `values`, no outputs. */
export const classStatsBlock = defineUserFunction(
  import.meta.url,
  (info, inputs: { classes: Block; values: Block }, _outputs, acc: ClassAccumulators) => {
    const [bx, by] = info.getBlockCount();
    accumulate(acc, inputs.classes, inputs.values, info.getNoDataValueFor(inputs.classes), info.getNoDataValueFor(inputs.values), `block (${bx}, ${by})`);
  },
  'classStatsBlock',
);
