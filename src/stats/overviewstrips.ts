/**
 * Assemble NEAREST overview pixels into full-width strips, so that an overview level is written
 * once per row of blocks instead of once per block. A strip is the overview rows fed by one row
 * of blocks (same yoff and height); it is handed out when every column has arrived. Strips can
 * be gathered further into whole rows of the overview's own blocks ({@link OverviewBlockRows}).
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

/**
 * Full-width overview strips gathered into whole rows of the overview's blocks (`blockRows`
 * high, less at the bottom), so that each block can be written whole with GDAL's block write
 * instead of through its block cache. A row of blocks is handed out once all its rows arrived.
 */
export class OverviewBlockRows {
  private readonly pending = new Map<number, { buf: AnyTypedArray; filled: number; need: number; parts: [number, number][] }>();

  constructor(
    private readonly width: number,
    private readonly height: number,
    readonly blockRows: number,
    private readonly dtype: DataType,
  ) {}

  /** Take a full-width strip; returns the rows of blocks it completed (often none). */
  add(strip: OverviewPiece): OverviewPiece[] {
    const out: OverviewPiece[] = [];
    const w = this.width;
    const end = strip.yoff + strip.rows;
    for (let r = strip.yoff; r < end;) {
      const top = Math.floor(r / this.blockRows) * this.blockRows;
      const bottom = Math.min(top + this.blockRows, this.height);
      const n = Math.min(bottom, end) - r;
      let row = this.pending.get(top);
      if (!row) {
        row = { buf: allocate(this.dtype, w * (bottom - top)), filled: 0, need: bottom - top, parts: [] };
        this.pending.set(top, row);
      }
      (row.buf as Float64Array).set(strip.data.subarray((r - strip.yoff) * w, (r - strip.yoff + n) * w) as Float64Array, (r - top) * w);
      row.filled += n;
      row.parts.push([r, n]);
      if (row.filled === row.need) {
        this.pending.delete(top);
        out.push({ xoff: 0, yoff: top, cols: w, rows: row.need, data: row.buf });
      }
      r += n;
    }
    return out;
  }

  /** The strips held for rows of blocks never completed, as full-width pieces. */
  leftovers(): OverviewPiece[] {
    const out: OverviewPiece[] = [];
    const w = this.width;
    for (const [top, row] of this.pending) {
      for (const [r, n] of row.parts) out.push({ xoff: 0, yoff: r, cols: w, rows: n, data: row.buf.subarray((r - top) * w, (r - top + n) * w) });
    }
    this.pending.clear();
    return out;
  }
}
