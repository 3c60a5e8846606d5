/**
 * Drive OutputStatsWriter the way an output writer does: copy a raster window by window into a
 * new tiled, deflated GTiff, handing each written window to addBlock, then finish and close.
 */
import { gdal } from '../../src/gdal/index.js';
import { OutputStatsWriter } from '../../src/gdal/stats.js';
import { statsOptionsFromEnv, type StatsOptions } from '../../src/stats/plan.js';
import { Timings } from '../../src/timings.js';
import type { DataType } from '../../src/dtypes.js';

export interface DriveResult {
  timings: Timings;
  singlePassPyramids: boolean;
  levels: number[];
}

export async function copyWithStats(
  src: string,
  dst: string,
  opts: Partial<StatsOptions>,
  window = { x: 256, y: 256 },
  order: 'rows' | 'reverse' = 'rows',
): Promise<DriveResult> {
  const sds = await gdal.openAsync(src);
  const { x: xsize, y: ysize } = sds.rasterSize;
  const nb = sds.bands.count();
  const dtype = sds.bands.get(1).dataType as DataType;
  const ds = await gdal.drivers.get('GTiff').createAsync(dst, xsize, ysize, nb, dtype, ['TILED=YES', 'COMPRESS=DEFLATE', 'NUM_THREADS=ALL_CPUS']);
  if (sds.geoTransform) ds.geoTransform = sds.geoTransform;
  for (let b = 1; b <= nb; b++) {
    const nd = opts.nodata;
    if (nd !== null && nd !== undefined) ds.bands.get(b).noDataValue = nd;
  }
  const timings = new Timings();
  const w = await OutputStatsWriter.begin(ds, dtype, statsOptionsFromEnv(opts), timings);
  const wins: [number, number][] = [];
  for (let yoff = 0; yoff < ysize; yoff += window.y) for (let xoff = 0; xoff < xsize; xoff += window.x) wins.push([xoff, yoff]);
  if (order === 'reverse') wins.reverse();
  for (const [xoff, yoff] of wins) {
    const cols = Math.min(window.x, xsize - xoff);
    const rows = Math.min(window.y, ysize - yoff);
    for (let b = 0; b < nb; b++) {
      const data = await sds.bands.get(b + 1).pixels.readAsync(xoff, yoff, cols, rows);
      await ds.bands.get(b + 1).pixels.writeAsync(xoff, yoff, cols, rows, data);
      await w.addBlock(b, data as never, xoff, yoff, cols, rows);
    }
  }
  await w.finish();
  await ds.flushAsync();
  ds.close();
  sds.close();
  return { timings, singlePassPyramids: w.singlePassPyramids, levels: w.levels };
}
