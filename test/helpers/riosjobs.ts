/**
 * The riots side of the differential suite's user functions: each mirrors the function of the
 * same name in test/helpers/riosrun.py (RIOS's side), with the same arithmetic and types.
 */
import type { Block, ReaderInfo } from '../../src/index.js';

type Inputs = Record<string, Block>;
type Outputs = Record<string, Block>;

export interface RecordArgs {
  records: Record<string, unknown>[];
}
export interface TotalArgs {
  total: number;
  blocks: number;
}

const floorMod = (v: number, m: number): number => ((v % m) + m) % m;

export const RIOTS_FUNCTIONS = {
  mean(_info: ReaderInfo, inputs: Inputs, outputs: Outputs): void {
    const a = inputs.a!;
    const b = inputs.b!.data;
    const out = a.like('Float32');
    const o = out.data;
    for (let i = 0; i < o.length; i++) o[i] = (a.data[i]! + b[i]!) / 2;
    outputs.out = out;
  },
  diff(_info: ReaderInfo, inputs: Inputs, outputs: Outputs): void {
    const a = inputs.a!;
    const b = inputs.b!.data;
    const out = a.like('Float32');
    const o = out.data;
    for (let i = 0; i < o.length; i++) o[i] = Math.fround(a.data[i]!) - Math.fround(b[i]!);
    outputs.out = out;
  },
  scaled(_info: ReaderInfo, inputs: Inputs, outputs: Outputs): void {
    outputs.out = inputs.b!.map((v) => v * 2, 'Int16');
  },
  classes(_info: ReaderInfo, inputs: Inputs, outputs: Outputs): void {
    outputs.out = inputs.b!.map((v) => floorMod(Math.floor(v / 10), 7), 'Byte');
  },
  copy(_info: ReaderInfo, inputs: Inputs, outputs: Outputs): void {
    outputs.out = inputs.a!.clone();
  },
  burnt(_info: ReaderInfo, inputs: Inputs, outputs: Outputs): void {
    outputs.out = inputs.v!.clone();
  },
  total(_info: ReaderInfo, inputs: Inputs, outputs: Outputs, other: TotalArgs): void {
    let s = 0;
    for (const v of inputs.a!.data) s += v;
    other.total += s;
    other.blocks += 1;
    outputs.out = inputs.a!.clone();
  },
  record(info: ReaderInfo, inputs: Inputs, outputs: Outputs, other: RecordArgs): void {
    const [xsize, ysize] = info.getBlockSize();
    const tl = info.getTransform();
    const [xs, ys] = info.getBlockCoordArrays();
    // the arrays include the margins: element [ysize / 2, xsize / 2] of a (ysize + 2m) × (xsize + 2m) grid
    const width = xsize + 2 * info.getOverlapSize();
    const centre = Math.floor(ysize / 2) * width + Math.floor(xsize / 2);
    const cx = xs[centre]!;
    const cy = ys[centre]!;
    const a = inputs.a!;
    const inside = info.getPixRowColBlock(cx, cy);
    other.records.push({
      blockCount: info.getBlockCount(),
      totalBlocks: info.getTotalBlocks(),
      percent: info.getPercent(),
      blockSize: [xsize, ysize],
      windowSize: info.getWindowSize(),
      overlap: info.getOverlapSize(),
      totalSize: info.getTotalSize(),
      pixelSize: info.getPixelSize(),
      first: info.isFirstBlock(),
      last: info.isLastBlock(),
      centre: [cx, cy],
      transform: tl,
      inside,
      outside: info.getPixRowColBlock(tl[0] - 1000 * tl[1], tl[3]),
      colRow: inside[0] === null ? null : info.getPixColRow(inside[1], inside[0]),
      nodataB: info.getNoDataValueFor(inputs.b!),
      filenameA: info.getFilenameFor(a).split('/').pop(),
      shape: [a.bands, a.rows, a.cols],
    });
    outputs.out = a.clone();
  },
};

export type RiotsFunctionName = keyof typeof RIOTS_FUNCTIONS;
