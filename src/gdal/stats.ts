/**
 * Statistics, histograms and pyramids of output rasters, on the GDAL side.
 *
 * While an output is written ({@link OutputStatsWriter.addBlock}): basic statistics always,
 * per-value counts of integer data, and NEAREST pyramid pixels written straight into overview
 * levels created up front. After writing ({@link OutputStatsWriter.finish}): float histograms
 * (their bins need the final min and max) are binned from a raw scratch copy of the values made
 * while writing (src/stats/spill.ts), or from the file when no scratch place was given; 32-bit
 * integer histograms whose range was too wide to count per value are binned from the file; other
 * aggregations go to GDAL's overview builder.
 */
import type { Dataset, RasterBand } from './index.js';
import { gdalArray } from './arrays.js';
import { allocate, isIntegerType, type AnyTypedArray, type DataType } from '../dtypes.js';
import { GdalError, OutputError } from '../errors.js';
import type { Timings } from '../timings.js';
import { checkStatsOptions, chooseOverviewLevels, effectiveAggregation, type StatsOptions } from '../stats/plan.js';
import { BasicStatsAccumulator, type BasicStats } from '../stats/basic.js';
import { IntValueCounter, LayoutBinner, chooseHistogramLayout, type Histogram } from '../stats/histogram.js';
import { nearestLevelMaps, type NearestLevelMap } from '../stats/pyramids.js';
import { OverviewStrips, type OverviewPiece } from '../stats/overviewstrips.js';
import { basicStatsMetadata, histogramMetadata, mergeStatsMetadata } from '../stats/metadata.js';
import { ValueSpill } from '../stats/spill.js';
import { approximateBand, type ApproxBand } from './approxstats.js';

/** Per-output choices that are not statistics options proper. */
export interface StatsWriterSettings {
  /**
   * Write NEAREST pyramids block by block (creating the levels up front). Default true; false
   * builds every pyramid with GDAL after writing.
   */
  singlePassPyramids?: boolean;
  /** Ignore value per band (0-based), overriding `opts.nodata`. */
  bandNodata?: (number | null)[];
  /**
   * Where float bands may keep a scratch copy of their values for the histogram (files
   * `<scratchPrefix>.riots-hist-b<band>`, deleted by finish() or dispose()). Without it, float
   * histograms are binned by reading the dataset back.
   */
  scratchPrefix?: string;
}

interface BandState {
  nodata: number | null;
  basic: BasicStatsAccumulator;
  counter: IntValueCounter | null;
  /** Float bands: the values, replayed into the histogram once min and max are known. */
  spill: ValueSpill | null;
}

export class OutputStatsWriter {
  private readonly bands: BandState[];
  private finished = false;

  private constructor(
    private readonly ds: Dataset,
    readonly dtype: DataType,
    readonly opts: StatsOptions,
    private readonly timings: Timings,
    /** Levels to build (after the min-dimension rule). */
    readonly levels: number[],
    /** NEAREST levels being written block by block, with their overview bands per band; or null. */
    private readonly nearest: NearestLevel[] | null,
    bandNodata: (number | null)[],
    spills: (ValueSpill | null)[],
  ) {
    const wantHist = opts.calcStats && !opts.omitHistogram && !opts.approxStats && opts.singlePassHistogram;
    this.bands = bandNodata.map((nodata, i) => ({
      nodata,
      basic: new BasicStatsAccumulator(dtype, nodata),
      counter: wantHist && isIntegerType(dtype) ? new IntValueCounter(dtype, nodata) : null,
      spill: spills[i] ?? null,
    }));
  }

  /**
   * Start statistics for a newly created output, before any block is written. With NEAREST
   * pyramids this creates the (empty) overview levels now, so blocks can fill them.
   * @throws {ControlsError} on bad options
   */
  static async begin(ds: Dataset, dtype: DataType, opts: StatsOptions, timings: Timings, settings: StatsWriterSettings = {}): Promise<OutputStatsWriter> {
    const o = checkStatsOptions(opts);
    const size = ds.rasterSize;
    const nBands = ds.bands.count();
    const levels = o.calcStats && !o.omitPyramids ? chooseOverviewLevels(size.x, size.y, o) : [];
    let nearest: NearestLevel[] | null = null;
    if (levels.length > 0 && effectiveAggregation(o) === 'NEAREST' && settings.singlePassPyramids !== false && o.singlePassPyramids) {
      const t0 = performance.now();
      nearest = await createNearestLevels(ds, dtype, size.x, size.y, nBands, levels);
      timings.add('pyramids', (performance.now() - t0) / 1000, 0);
    }
    const nodata = Array.from({ length: nBands }, (_, i) => (settings.bandNodata ? (settings.bandNodata[i] ?? null) : o.nodata));
    const spills: (ValueSpill | null)[] = [];
    if (o.calcStats && !o.omitHistogram && !o.approxStats && o.singlePassHistogram && !isIntegerType(dtype) && settings.scratchPrefix !== undefined) {
      try {
        for (let b = 1; b <= nBands; b++) spills.push(await ValueSpill.create(`${settings.scratchPrefix}.riots-hist-b${b}`, dtype));
      } catch (cause) {
        await Promise.all(spills.map((s) => s?.dispose()));
        throw new OutputError(`cannot create the histogram's scratch file beside ${ds.description}: ${(cause as Error).message}`, {
          file: ds.description,
          cause,
        });
      }
    }
    return new OutputStatsWriter(ds, dtype, o, timings, levels, nearest, nodata, spills);
  }

  /** True when NEAREST pyramids are being written block by block. */
  get singlePassPyramids(): boolean {
    return this.nearest !== null;
  }

  /**
   * Account for one block of one band (0-based): the core window only, row-major, `cols` wide.
   * The array is not kept after the returned promise settles.
   */
  async addBlock(band: number, data: AnyTypedArray, xoff: number, yoff: number, cols: number, rows: number): Promise<void> {
    if (!this.opts.calcStats) return;
    const st = this.bands[band];
    if (st === undefined) throw new RangeError(`OutputStatsWriter.addBlock: band ${band} out of range 0..${this.bands.length - 1}`);
    if (data.length < cols * rows) throw new RangeError(`OutputStatsWriter.addBlock: ${data.length} pixels for a ${cols}x${rows} block`);
    const px = data.length === cols * rows ? data : data.subarray(0, cols * rows);
    let t0 = performance.now();
    // approximate statistics come from the pyramids after writing, and basic statistics that are
    // not single-pass from the file: nothing to gather now
    if (!this.opts.approxStats && this.opts.singlePassBasicStats) st.basic.add(px);
    let t1 = performance.now();
    this.timings.add('basicstats', (t1 - t0) / 1000);
    if (st.counter || st.spill) {
      if (st.counter) st.counter.add(px);
      else await st.spill!.add(px);
      t0 = t1;
      t1 = performance.now();
      this.timings.add('histogram', (t1 - t0) / 1000);
    }
    if (this.nearest) {
      // One write at a time: they share the dataset's lock, and parallel ones would only park
      // libuv threads that other I/O (the inputs) needs.
      for (const lv of this.nearest) {
        for (const piece of lv.strips[band]!.add(px, xoff, yoff, cols, rows)) await writePiece(lv.bands[band]!, piece);
      }
      this.timings.add('pyramids', (performance.now() - t1) / 1000);
    }
  }

  /**
   * Finish after the last block is written and before the dataset is closed: bin what could not
   * be binned while writing, build non-NEAREST pyramids, and store everything as metadata.
   */
  /** The histogram of each band, once finish() has made them (null where none was made). */
  histograms: (Histogram | null)[] = [];

  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    try {
      await this.finishStats();
    } finally {
      await this.dispose();
    }
  }

  /** Delete any scratch files (after finish(), or when the output is abandoned). */
  async dispose(): Promise<void> {
    await Promise.all(this.bands.map((b) => b.spill?.dispose()));
  }

  private async finishStats(): Promise<void> {
    if (!this.opts.calcStats) return;
    // taken now: a synchronous GDAL call made while the overviews flush would wait on this thread
    const handles = this.bands.map((_, i) => this.ds.bands.get(i + 1));
    let overviewFlush: Promise<void> | undefined;
    if (this.nearest) {
      const t0 = performance.now();
      for (const lv of this.nearest) {
        for (let b = 0; b < lv.strips.length; b++) for (const piece of lv.strips[b]!.leftovers()) await writePiece(lv.bands[b]!, piece);
      }
      this.timings.add('pyramids', (performance.now() - t0) / 1000, 0);
      // The overview tiles, written by window, wait dirty in GDAL's cache, and GDAL compresses
      // them when the dataset closes: synchronously, on this thread (0.16 s in W1). Flushed now,
      // they are compressed on libuv's pool while the histogram is binned here.
      overviewFlush = flushOverviews(this.nearest, this.ds.description);
      overviewFlush.catch(() => undefined);
    }
    const flushed = async (): Promise<void> => void (await overviewFlush?.catch(() => undefined));
    try {
      await this.histogramsAndMetadata(handles, flushed);
    } finally {
      // never leave the flush running behind a failure: the caller closes the dataset next
      await overviewFlush?.catch(() => undefined);
    }
    await overviewFlush;
  }

  /** `flushed` resolves once no overview flush runs (before synchronous GDAL calls). */
  private async histogramsAndMetadata(handles: RasterBand[], flushed: () => Promise<void>): Promise<void> {
    const o = this.opts;
    let basics: (BasicStats | null)[];
    let hists: (Histogram | null)[];
    if (o.approxStats) {
      // from the pyramids: built first, then the level GDAL samples read
      await this.buildPyramids();
      await flushed();
      const t0 = performance.now();
      const approx: ApproxBand[] = [];
      for (let i = 0; i < handles.length; i++) {
        const file = this.ds.description;
        approx.push(await approximateBand(handles[i]!, this.dtype, { nodata: this.bands[i]!.nodata, thematic: o.thematic, histogram: !o.omitHistogram, file }));
      }
      basics = approx.map((a) => a.basic);
      hists = approx.map((a) => a.histogram);
      this.timings.add('basicstats', (performance.now() - t0) / 1000, 0);
    } else {
      ({ basics, hists } = await this.exactHistograms(flushed));
      await this.buildPyramids();
    }
    const t0 = performance.now();
    this.histograms = hists;
    for (let i = 0; i < this.bands.length; i++) {
      await writeBandMetadata(handles[i]!, o, this.bands[i]!.nodata, basics[i] ?? null, hists[i] ?? null, isIntegerType(this.dtype));
    }
    this.timings.add('basicstats', (performance.now() - t0) / 1000, 0);
  }

  /** Basic statistics gathered while writing, and histograms binned from the counts, the spills or the file. */
  private async exactHistograms(flushed: () => Promise<void>): Promise<{ basics: (BasicStats | null)[]; hists: (Histogram | null)[] }> {
    const o = this.opts;
    if (!o.singlePassBasicStats) {
      // read the output back for them, as RIOS does with singlePassBasicStats=False
      const t0 = performance.now();
      await flushed(); // readBandsByWindow makes synchronous GDAL calls
      await readBandsByWindow(
        this.ds,
        this.dtype,
        this.bands.map((_, i) => i),
        (band, data) => this.bands[band]!.basic.add(data),
      );
      this.timings.add('basicstats', (performance.now() - t0) / 1000, 0);
    }
    const basics = this.bands.map((b) => b.basic.result());
    const hists: (Histogram | null)[] = this.bands.map(() => null);
    if (!o.omitHistogram) {
      const fromFile: { band: number; binner: LayoutBinner }[] = [];
      const fromSpill: { band: number; binner: LayoutBinner; spill: ValueSpill }[] = [];
      const t0 = performance.now();
      this.bands.forEach((st, i) => {
        const s = basics[i];
        if (!s) return;
        const layout = chooseHistogramLayout(this.dtype, o.thematic, s.min, s.max);
        const binner = (): LayoutBinner => new LayoutBinner(layout, this.dtype, st.nodata);
        if (st.counter && !st.counter.overflowed) hists[i] = st.counter.histogram(layout);
        else if (st.spill) fromSpill.push({ band: i, binner: binner(), spill: st.spill });
        else fromFile.push({ band: i, binner: binner() });
      });
      if (fromSpill.length > 0) {
        // Every pixel is written: GDAL compresses what is left in its cache (on its own threads)
        // while the values are replayed here.
        const flushing = this.ds.flushAsync();
        flushing.catch(() => undefined);
        try {
          for (const f of fromSpill) {
            await f.spill.replay((values) => f.binner.add(values));
            hists[f.band] = f.binner.histogram();
          }
        } finally {
          // never leave the flush running behind a failure: the caller closes the dataset next
          await flushing.catch(() => undefined);
        }
        await flushing;
      }
      if (fromFile.length > 0) {
        await flushed(); // readBandsByWindow makes synchronous GDAL calls
        await readBandsByWindow(
          this.ds,
          this.dtype,
          fromFile.map((f) => f.band),
          (band, data) => {
            fromFile.find((f) => f.band === band)!.binner.add(data);
          },
        );
        for (const f of fromFile) hists[f.band] = f.binner.histogram();
      }
      this.timings.add('histogram', (performance.now() - t0) / 1000, 0);
    }
    return { basics, hists };
  }

  /** Non-NEAREST pyramids, built by GDAL once every pixel is written. */
  private async buildPyramids(): Promise<void> {
    if (this.levels.length === 0 || this.nearest !== null) return;
    const o = this.opts;
    const t0 = performance.now();
    try {
      await this.ds.buildOverviewsAsync(effectiveAggregation(o), this.levels);
    } catch (cause) {
      throw new GdalError(`building ${effectiveAggregation(o)} overviews ${this.levels.join(',')} failed: ${(cause as Error).message}`, {
        cause,
        file: this.ds.description,
      });
    }
    this.timings.add('pyramids', (performance.now() - t0) / 1000);
  }

  /** Statistics so far for a band (0-based), or null when every pixel was ignored. */
  basicStats(band: number): BasicStats | null {
    return this.bands[band]?.basic.result() ?? null;
  }
}

interface NearestLevel {
  map: NearestLevelMap;
  /** The overview band of this level, per band. */
  bands: RasterBand[];
  /** Strip assembly, per band. */
  strips: OverviewStrips[];
}

/** Flush the overview bands being written block by block (see finishStats). */
async function flushOverviews(levels: NearestLevel[], file: string): Promise<void> {
  for (const lv of levels) {
    for (const band of lv.bands) {
      try {
        await band.flushAsync();
      } catch (cause) {
        throw new GdalError(`writing overview level ${lv.map.level} failed: ${(cause as Error).message}`, { cause, file });
      }
    }
  }
}

function writePiece(band: RasterBand, p: OverviewPiece): Promise<void> {
  return band.pixels.writeAsync(p.xoff, p.yoff, p.cols, p.rows, gdalArray(p.data) as Uint8Array);
}

/** Create empty overview levels and check GDAL made the sizes the NEAREST maps assume. */
async function createNearestLevels(
  ds: Dataset,
  dtype: DataType,
  xsize: number,
  ysize: number,
  nBands: number,
  levels: number[],
): Promise<NearestLevel[] | null> {
  const maps = nearestLevelMaps(xsize, ysize, levels);
  try {
    const before = ds.bands.get(1).overviews.count();
    if (before !== 0) return null; // existing overviews: leave it to GDAL after writing
    await ds.buildOverviewsAsync('NONE', levels);
  } catch {
    return null; // a driver that cannot create overviews this way: build them after writing
  }
  const out: NearestLevel[] = [];
  for (const [li, map] of maps.entries()) {
    const bands: RasterBand[] = [];
    for (let b = 1; b <= nBands; b++) {
      const ovs = ds.bands.get(b).overviews;
      const fits = (k: number): boolean => {
        const s = ovs.get(k).size;
        return s.x === map.xsize && s.y === map.ysize;
      };
      // GDAL lists new overviews in the order asked for; fall back to a search by size.
      let found: RasterBand | undefined = li < ovs.count() && fits(li) ? ovs.get(li) : undefined;
      for (let k = 0; found === undefined && k < ovs.count(); k++) if (fits(k)) found = ovs.get(k);
      if (!found) {
        throw new GdalError(`overview level ${map.level} of band ${b}: GDAL made no ${map.xsize}x${map.ysize} overview`, { file: ds.description });
      }
      bands.push(found);
    }
    out.push({ map, bands, strips: bands.map(() => new OverviewStrips(map, dtype)) });
  }
  return out;
}

async function writeBandMetadata(
  band: RasterBand,
  o: StatsOptions,
  nodata: number | null,
  basic: BasicStats | null,
  hist: Histogram | null,
  integerData: boolean,
): Promise<void> {
  const fresh: Record<string, string> = {};
  if (basic && !o.omitBasicStats) Object.assign(fresh, basicStatsMetadata(basic, nodata, o.approxStats));
  if (hist && !o.omitHistogram) Object.assign(fresh, histogramMetadata(hist, integerData));
  fresh.LAYER_TYPE = o.thematic ? 'thematic' : 'athematic';
  const existing = ((await band.getMetadataAsync()) ?? {}) as Record<string, string>;
  await band.setMetadataAsync(mergeStatsMetadata(existing, fresh));
}

/**
 * Read bands (0-based) block by block (one block of the file per read), calling `fn` with each
 * block's pixels. The next block is read while `fn` works on the current one; `fn` must not keep
 * the array (two buffers take turns).
 *
 * One block per read keeps GDAL 3.6's GTiff off its multi-threaded decoding path, which can
 * deadlock on a dataset created with NUM_THREADS while dirty blocks wait in the block cache
 * (a decoding job evicts a dirty block, whose compression then waits for the busy thread pool).
 */
export async function readBandsByWindow(
  ds: Dataset,
  dtype: DataType,
  bands: number[],
  fn: (band: number, data: AnyTypedArray, xoff: number, yoff: number, cols: number, rows: number) => void | Promise<void>,
): Promise<void> {
  const { x: xsize, y: ysize } = ds.rasterSize;
  const bs = ds.bands.get(1).blockSize;
  const wx = Math.max(1, Math.min(bs.x, xsize));
  const wy = Math.max(1, Math.min(bs.y, ysize));
  const handles = bands.map((b) => ds.bands.get(b + 1));
  const jobs: { i: number; xoff: number; yoff: number; cols: number; rows: number }[] = [];
  for (let yoff = 0; yoff < ysize; yoff += wy) {
    for (let xoff = 0; xoff < xsize; xoff += wx) {
      for (let i = 0; i < bands.length; i++) jobs.push({ i, xoff, yoff, cols: Math.min(wx, xsize - xoff), rows: Math.min(wy, ysize - yoff) });
    }
  }
  // Last blocks first: those written last are the likeliest to be still in GDAL's block cache.
  jobs.reverse();
  const bufs = [allocate(dtype, wx * wy), allocate(dtype, wx * wy)];
  const start = (k: number): Promise<AnyTypedArray> => {
    const j = jobs[k]!;
    const view = bufs[k % 2]!.subarray(0, j.cols * j.rows);
    return handles[j.i]!.pixels.readAsync(j.xoff, j.yoff, j.cols, j.rows, gdalArray(view) as Uint8Array).then(() => view);
  };
  let next = jobs.length > 0 ? start(0) : null;
  for (let k = 0; k < jobs.length; k++) {
    const data = await next!;
    next = k + 1 < jobs.length ? start(k + 1) : null;
    const j = jobs[k]!;
    try {
      await fn(bands[j.i]!, data, j.xoff, j.yoff, j.cols, j.rows);
    } catch (err) {
      if (next) await next.catch(() => undefined);
      throw err;
    }
  }
}
