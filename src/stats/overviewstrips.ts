/**
 * Assemble NEAREST overview pixels into full-width strips, so that an overview level is written
 * once per row of blocks instead of once per block. A strip is the overview rows fed by one row
 * of blocks (same yoff and height); it is handed out when every column has arrived.
 */
import { allocate, type AnyTypedArray, type DataType } from '../dtypes.js';
import { gatherNearest, overviewWindowForBlock, type NearestLevelMap, type OverviewWindow } from './pyramids.js';

export interface OverviewPiece extends OverviewWindow {
  /** Row-major pixels of the piece, `cols` wide. */
  data: AnyTypedArray;
}

interface Strip {
  yoff: number;
  rows: number;
  buf: AnyTypedArray;
  filled: number;
  /** Column ranges filled so far, [xoff, cols]. */
  parts: [number, number][];
}

export class OverviewStrips {
  private readonly strips = new Map<string, Strip>();

  constructor(
    readonly map: NearestLevelMap,
    private readonly dtype: DataType,
  ) {}

  /** Take the overview pixels a block feeds; returns the strips this completed (often none). */
  add(block: AnyTypedArray, xoff: number, yoff: number, cols: number, rows: number): OverviewPiece[] {
    const win = overviewWindowForBlock(this.map, xoff, yoff, cols, rows);
    if (win === null) return [];
    const width = this.map.xsize;
    const key = `${win.yoff}:${win.rows}`;
    let st = this.strips.get(key);
    if (!st) {
      st = { yoff: win.yoff, rows: win.rows, buf: allocate(this.dtype, width * win.rows), filled: 0, parts: [] };
      this.strips.set(key, st);
    }
    gatherNearest(block, cols, xoff, yoff, this.map, win, st.buf, width, win.xoff);
    st.filled += win.cols * win.rows;
    st.parts.push([win.xoff, win.cols]);
    if (st.filled < width * st.rows) return [];
    this.strips.delete(key);
    return [{ xoff: 0, yoff: st.yoff, cols: width, rows: st.rows, data: st.buf }];
  }

  /** Pieces of strips never completed (blocks missing, or rows split unevenly): only what arrived. */
  leftovers(): OverviewPiece[] {
    const out: OverviewPiece[] = [];
    const width = this.map.xsize;
    for (const st of this.strips.values()) {
      for (const [x0, n] of st.parts) {
        const data = allocate(this.dtype, n * st.rows);
        for (let r = 0; r < st.rows; r++) (data as Float64Array).set(st.buf.subarray(r * width + x0, r * width + x0 + n) as Float64Array, r * n);
        out.push({ xoff: x0, yoff: st.yoff, cols: n, rows: st.rows, data });
      }
    }
    this.strips.clear();
    return out;
  }
}
