/**
 * A quicklook of a raster for the run report: a PNG at most `maxSize` pixels on its longer side,
 * made by GDAL from the file's overviews (a downsampled read picks the nearest level), with the
 * aspect ratio kept. Continuous bands are stretched from their stored minimum and maximum to
 * 1–255 (0 is left for no data, shown transparent); a band with a colour table keeps it (thematic
 * outputs look as in a GIS). Three or more bands show bands 1–3 as red, green and blue.
 */
import { gdal } from './index.js';
import { readStoredStats } from './filestats.js';

export interface Quicklook {
  png: Buffer;
  width: number;
  height: number;
}

let counter = 0;

/** The quicklook of `file`, or null when it has no pixels to show. */
export async function makeQuicklook(file: string, maxSize = 480): Promise<Quicklook | null> {
  const ds = await gdal.openAsync(file);
  try {
    const { x: cols, y: rows } = ds.rasterSize;
    if (cols === 0 || rows === 0 || ds.bands.count() === 0) return null;
    const scale = Math.max(1, Math.max(cols, rows) / maxSize);
    const width = Math.max(1, Math.round(cols / scale));
    const height = Math.max(1, Math.round(rows / scale));
    const bandNums = ds.bands.count() >= 3 ? [1, 2, 3] : [1];
    const b1 = ds.bands.get(1);
    const args = ['-of', 'PNG', '-outsize', String(width), String(height), '-r', 'nearest', ...bandNums.flatMap((b) => ['-b', String(b)])];
    if (bandNums.length === 1 && b1.colorTable) {
      if (b1.dataType !== gdal.GDT_Byte) args.push('-expand', 'rgba');
    } else {
      const stats = await readStoredStats(file);
      args.push('-ot', 'Byte', '-a_nodata', '0');
      bandNums.forEach((b, i) => {
        const s = stats.bands[b - 1]?.stats;
        const band = ds.bands.get(b);
        let lo = s?.min;
        let hi = s?.max;
        if (lo === undefined || hi === undefined) {
          const c = band.computeStatistics(true);
          lo = c.min;
          hi = c.max;
        }
        if (!(hi > lo)) hi = lo + 1;
        args.push(`-scale_${i + 1}`, String(lo), String(hi), '1', '255');
      });
    }
    const name = `/vsimem/riots-quicklook-${process.pid}-${++counter}.png`;
    const out = await gdal.translateAsync(name, ds, args);
    out.close();
    return { png: gdal.vsimem.release(name), width, height };
  } finally {
    ds.close();
  }
}
