/**
 * A quicklook of a raster for the run report: a PNG at most `maxSize` pixels on its longer side,
 * the largest of the image and its overviews that fits (GDAL reads that level as stored), or else
 * the image scaled down by GDAL; the aspect ratio is kept. Continuous bands are stretched from
 * their [min, max] to 0–255, no data and NaN transparent; a band with a colour table is drawn
 * with it (thematic outputs look as in a GIS). Three or more bands show bands 1–3 as red, green
 * and blue.
 */
import { gdal } from './index.js';
import { encodePngRgba } from '../png.js';

export interface Quicklook {
  png: Buffer;
  width: number;
  height: number;
}

/**
 * The quicklook of `file`, or null when it has no pixels to show. `ranges`: each band's stretch
 * [min, max] when the caller has them (else GDAL's approximate statistics).
 */
export async function makeQuicklook(file: string, maxSize = 480, ranges?: ([number, number] | null)[]): Promise<Quicklook | null> {
  const ds = await gdal.openAsync(file);
  try {
    const { x: cols, y: rows } = ds.rasterSize;
    if (cols === 0 || rows === 0 || ds.bands.count() === 0) return null;
    const b1 = ds.bands.get(1);
    // -1: the image itself; else the overview's index. Reading a fitting overview band itself
    // took 3.4 ms for 375² against 8.5 ms through the image's band with a 375² buffer.
    const levels = [{ i: -1, ...ds.rasterSize }, ...b1.overviews.map((o, i) => ({ i, ...o.size }))].filter((l) => Math.max(l.x, l.y) <= maxSize);
    const fit = levels.sort((a, b) => b.x * b.y - a.x * a.y)[0];
    const scale = Math.max(1, Math.max(cols, rows) / maxSize);
    const width = fit?.x ?? Math.max(1, Math.round(cols / scale));
    const height = fit?.y ?? Math.max(1, Math.round(rows / scale));
    const n = width * height;
    const read = async (b: number): Promise<{ v: Float64Array; nodata: number | null }> => {
      const band = ds.bands.get(b);
      const v = new Float64Array(n);
      if (fit && fit.i >= 0) await band.overviews.get(fit.i).pixels.readAsync(0, 0, width, height, v, { data_type: gdal.GDT_Float64 });
      else await band.pixels.readAsync(0, 0, cols, rows, v, { buffer_width: width, buffer_height: height, data_type: gdal.GDT_Float64 });
      return { v, nodata: band.noDataValue };
    };
    const rgba = new Uint8Array(n * 4);
    const table = ds.bands.count() < 3 ? b1.colorTable : null;
    if (table) {
      const { v, nodata } = await read(1);
      const entries = Array.from({ length: table.count() }, (_, i) => table.get(i));
      for (let i = 0; i < n; i++) {
        const e = v[i] === nodata ? undefined : entries[v[i]!];
        if (!e) continue;
        rgba.set([e.c1, e.c2, e.c3, e.c4], i * 4);
      }
    } else {
      const bands = ds.bands.count() >= 3 ? [1, 2, 3] : [1];
      for (let k = 0; k < bands.length; k++) {
        const b = bands[k]!;
        const { v, nodata } = await read(b);
        let [lo, hi] = ranges?.[b - 1] ?? [NaN, NaN];
        if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
          const s = ds.bands.get(b).getStatistics(true, true) as { min: number; max: number };
          [lo, hi] = [s.min, s.max];
        }
        const span = hi > lo ? hi - lo : 1;
        for (let i = 0; i < n; i++) {
          const x = v[i]!;
          if (x !== x || x === nodata) continue; // transparent
          const g = Math.max(0, Math.min(255, Math.round(((x - lo) / span) * 255)));
          const o = i * 4;
          if (bands.length === 1) rgba[o] = rgba[o + 1] = rgba[o + 2] = g;
          else rgba[o + k] = g;
          rgba[o + 3] = 255;
        }
      }
    }
    return { png: encodePngRgba(width, height, rgba), width, height };
  } finally {
    ds.close();
  }
}
