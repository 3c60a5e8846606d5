/**
 * Output files: created on the first block (data type and band count come from it), written
 * block by block, statistics accumulated on the way, and renamed into place only after a
 * successful close. A failed run leaves nothing at the final path.
 */
import { accessSync, constants, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { gdal, type Dataset } from './index.js';
import { noteBlockLayout, writeWindow } from './window.js';
import { allocate } from '../dtypes.js';
import { gdalHasInt8 } from './arrays.js';
import { writeHistogramColumn } from './thematic.js';
import { genColorTable, setColorTable } from './colortable.js';
import { setBandDescriptions } from './descriptions.js';
import { outputDriver } from './drivers.js';
import { resolveCreationOptions } from './creation.js';
import { ControlsError, OutputBlockError, OutputDirError, OutputError, describeBlock, type BlockCoords } from '../errors.js';
import type { Block } from '../block.js';
import type { ImageControls } from '../controls.js';
import type { PixelGridSpec } from '../grid.js';
import type { Timings } from '../timings.js';
import { OutputStatsWriter } from './stats.js';
import { statsOptionsFromEnv } from '../stats/plan.js';
import { cleanUpAtExit } from '../exitcleanup.js';
import { checkCreationOptions } from './creationlist.js';
import { envCreationOptions } from '../riosenv.js';

/** Sidecar suffixes GDAL may write beside a file; renamed with it and cleared from the final path. */
const SIDECARS = ['.aux.xml', '.ovr', '.ovr.aux.xml', '.msk', '.msk.aux.xml'];

export interface OutputTarget {
  imageName: string;
  /** Index within a list output, or null. */
  listIndex: number | null;
  path: string;
  controls: ImageControls;
}

/** Check, before anything runs, that an output's folder exists and is writable. */
export function checkOutputFolder(target: OutputTarget): void {
  const dir = path.dirname(path.resolve(target.path));
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new OutputDirError(`output '${label(target)}': folder ${dir} does not exist`, { file: target.path, imageName: target.imageName });
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch (cause) {
    throw new OutputDirError(`output '${label(target)}': folder ${dir} is not writable`, { file: target.path, imageName: target.imageName, cause });
  }
}

/**
 * The creation options of an output, with tile sizes fitted to the window, checked against what
 * its driver accepts.
 * @throws {OutputError} when this GDAL has no such driver; {@link ControlsError} for an option the driver refuses.
 */
function creationOptionsOf(target: OutputTarget, driverName: string, windowXSize: number, windowYSize: number): string[] {
  let meta: Record<string, string | undefined>;
  try {
    meta = gdal.drivers.get(driverName).getMetadata() as Record<string, string | undefined>;
  } catch (cause) {
    throw new OutputError(`output '${label(target)}': GDAL has no driver '${driverName}'`, { imageName: target.imageName, file: target.path, cause });
  }
  if (meta.DCAP_RASTER !== 'YES' || meta.DCAP_CREATE !== 'YES') {
    // COG, PNG, JPEG...: GDAL writes them only as a copy of a finished raster
    throw new ControlsError(
      `output '${label(target)}' (${target.path}): GDAL's ${driverName} driver cannot write a raster block by block (it has no Create, only CreateCopy); ` +
        `write a GeoTIFF and convert it afterwards, e.g. gdal_translate -of ${driverName} out.tif out.${driverName.toLowerCase()}`,
      { imageName: target.imageName, file: target.path },
    );
  }
  const given = target.controls.creationOptions;
  const options = resolveCreationOptions(driverName, given, windowXSize, windowYSize, target.imageName);
  const from = given !== undefined ? 'creationOptions' : (envCreationOptions(driverName)?.from ?? "riots' default creation options");
  checkCreationOptions(driverName, options, `output '${label(target)}' (${target.path}): ${from}`);
  return options;
}

function label(t: OutputTarget): string {
  return t.listIndex === null ? t.imageName : `${t.imageName}[${t.listIndex}]`;
}

export class OutputFile {
  readonly target: OutputTarget;
  private readonly grid: PixelGridSpec;
  private readonly timings: Timings;
  private readonly tmpPath: string;
  /** The GDAL driver that writes it (src/gdal/drivers.ts). */
  private readonly driverName: string;
  /** Checked against the driver's list when the output is set up, before any block. */
  private readonly creationOptions: string[];
  private ds: Dataset | undefined;
  private stats: OutputStatsWriter | undefined;
  private dtype: Block['dtype'] | undefined;
  private bands = 0;
  private closed = false;
  /** Statistics, pyramids and GDAL close done; the file is still under its temporary name. */
  private finalized = false;
  private scratch: Block['data'] | undefined;
  /** Unregisters the removal of the temporary files at process exit (see exitcleanup.ts). */
  private readonly keepAtExit: () => void;

  constructor(target: OutputTarget, grid: PixelGridSpec, windowXSize: number, windowYSize: number, timings: Timings) {
    this.target = target;
    this.grid = grid;
    this.timings = timings;
    const abs = path.resolve(target.path);
    const ext = path.extname(abs);
    const stem = abs.slice(0, abs.length - ext.length);
    this.tmpPath = `${stem}.riots-tmp-${process.pid}-${randomBytes(4).toString('hex')}${ext}`;
    this.driverName = outputDriver(target.controls.driver, target.path, label(target));
    this.creationOptions = creationOptionsOf(target, this.driverName, windowXSize, windowYSize);
    this.keepAtExit = cleanUpAtExit(() => this.removeTempFiles());
  }

  get label(): string {
    return label(this.target);
  }

  private async create(block: Block, coords: BlockCoords): Promise<void> {
    const c = this.target.controls;
    const driverName = this.driverName;
    const driver = gdal.drivers.get(driverName);
    const options = this.creationOptions;
    if (block.dtype === 'Int8' && !gdalHasInt8()) {
      throw new OutputError(
        `output '${this.label}': an Int8 block needs GDAL 3.7 or later, which added the Int8 type; this is GDAL ${gdal.version}: use Int16 (or Byte)`,
        { imageName: this.target.imageName, file: this.target.path, block: coords },
      );
    }
    try {
      this.ds = await driver.createAsync(this.tmpPath, this.grid.cols, this.grid.rows, block.bands, block.dtype, options);
    } catch (cause) {
      throw new OutputError(`output '${this.label}': cannot create ${this.target.path} with driver ${driverName}: ${(cause as Error).message}`, {
        imageName: this.target.imageName,
        file: this.target.path,
        block: coords,
        cause,
      });
    }
    this.dtype = block.dtype;
    this.bands = block.bands;
    const ds = this.ds;
    {
      // whole blocks of a band-interleaved GeoTIFF go to GDAL's block write (src/gdal/window.ts)
      const bs = ds.bands.get(1).blockSize;
      const interleave = options
        .find((o) => /^INTERLEAVE=/i.test(o))
        ?.split('=')[1]
        ?.toUpperCase();
      const bandUnits = driverName.toUpperCase() === 'GTIFF' && (block.bands === 1 || interleave === 'BAND');
      const pad = c.statsIgnore ?? 0; // what GDAL fills the rest of a new edge block with
      noteBlockLayout(ds, bs.x, bs.y, block.dtype, bandUnits, { cols: this.grid.cols, rows: this.grid.rows, pad });
    }
    if (this.grid.projection) ds.srs = gdal.SpatialReference.fromWKT(this.grid.projection);
    ds.geoTransform = [...this.grid.transform];
    for (let b = 1; b <= block.bands; b++) {
      const band = ds.bands.get(b);
      if (c.statsIgnore !== null && c.statsIgnore !== undefined) band.noDataValue = c.statsIgnore;
      if (c.thematic) band.setMetadata({ LAYER_TYPE: 'thematic' });
    }
    if (c.calcStats) {
      const opts = statsOptionsFromEnv({
        omitBasicStats: c.omitBasicStats,
        omitHistogram: c.omitHistogram,
        omitPyramids: c.omitPyramids,
        calcStats: c.calcStats,
        thematic: c.thematic,
        approxStats: c.approxStats,
        singlePassPyramids: c.singlePassPyramids,
        singlePassBasicStats: c.singlePassBasicStats,
        singlePassHistogram: c.singlePassHistogram,
        nodata: c.statsIgnore,
        ...(c.overviewLevels ? { overviewLevels: c.overviewLevels } : {}),
        ...(c.overviewMinDim !== undefined ? { overviewMinDim: c.overviewMinDim } : {}),
        ...(c.overviewAggregationType !== undefined ? { overviewAggregationType: c.overviewAggregationType, overviewAggregationGiven: true } : {}),
      });
      this.stats = await OutputStatsWriter.begin(ds, block.dtype, opts, this.timings, { scratchPrefix: this.tmpPath });
    }
  }

  /**
   * Write one block. `margin` is the overlap: the block has that many extra pixels on each
   * side, which are not written.
   */
  async writeBlock(block: Block, coords: BlockCoords, margin: number): Promise<void> {
    const expRows = coords.ysize + 2 * margin;
    const expCols = coords.xsize + 2 * margin;
    if (block.rows !== expRows || block.cols !== expCols) {
      throw new OutputBlockError(
        `output '${this.label}', ${describeBlock(coords)}: block is ${block.rows}x${block.cols} (rows x cols) but the input blocks are ${expRows}x${expCols}`,
        { imageName: this.target.imageName, file: this.target.path, block: coords },
      );
    }
    if (this.ds === undefined) {
      await this.create(block, coords);
    } else if (block.dtype !== this.dtype || block.bands !== this.bands) {
      throw new OutputBlockError(
        `output '${this.label}', ${describeBlock(coords)}: block is ${block.bands} band(s) of ${block.dtype}, but earlier blocks were ${this.bands} band(s) of ${this.dtype}`,
        { imageName: this.target.imageName, file: this.target.path, block: coords },
      );
    }
    const ds = this.ds!;
    const t0 = performance.now();
    // GDAL copies the block on a libuv thread while the statistics below are accumulated here;
    // both only read the block.
    const writing = writeWindow(
      ds,
      block.data,
      block.bands,
      block.rows,
      block.cols,
      margin,
      coords.xoff,
      coords.yoff,
      coords.xsize,
      coords.ysize,
      block.dtype,
    ).then(() => this.timings.add('writing', (performance.now() - t0) / 1000));
    writing.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    try {
      await this.accumulate(block, coords, margin);
    } catch (err) {
      await writing.catch(() => undefined);
      throw err;
    }
    await writing;
  }

  /** Feed the core window of every band of a written block to the statistics. */
  private async accumulate(block: Block, coords: BlockCoords, margin: number): Promise<void> {
    if (this.stats) {
      const n = coords.xsize * coords.ysize;
      for (let b = 0; b < block.bands; b++) {
        let core: Block['data'];
        if (margin === 0) {
          core = block.band(b);
        } else {
          if (!this.scratch || this.scratch.length < n) this.scratch = allocate(block.dtype, n);
          core = this.scratch.subarray(0, n);
          const src = block.band(b);
          for (let r = 0; r < coords.ysize; r++) {
            const s = (r + margin) * block.cols + margin;
            core.set(src.subarray(s, s + coords.xsize), r * coords.xsize);
          }
        }
        await this.stats.addBlock(b, core, coords.xoff, coords.yoff, coords.xsize, coords.ysize);
      }
    }
  }

  /** True once the first block has created the file. */
  get created(): boolean {
    return this.ds !== undefined;
  }

  /** Finish statistics and pyramids, close, and move the file and its sidecars into place. */
  async close(): Promise<void> {
    await this.finalize();
    this.commit();
  }

  /**
   * Finish statistics and pyramids and close the file, still under its temporary name (the
   * applier does this while the compute workers shut down, and commits once they have).
   * @throws {OutputError} after removing the temporary file and its sidecars.
   */
  async finalize(): Promise<void> {
    if (this.closed || this.finalized) return;
    if (!this.ds) {
      this.closed = true;
      return;
    }
    try {
      if (this.stats) await this.stats.finish();
      const t0 = performance.now();
      await this.ds.flushAsync();
      this.ds.close();
      this.ds = undefined;
      this.writeLayerNames();
      if (this.target.controls.thematic) {
        // the histogram first, with as many rows as the colour table will have: HFA keeps both in
        // one table, and its colour-table writer does not cope with a table grown under it
        await this.writeHistogramColumns();
      }
      await this.callBeforeClose();
      if (this.target.controls.thematic) await this.writeAutoColorTables();
      this.timings.add('closing', (performance.now() - t0) / 1000);
      this.finalized = true;
    } catch (cause) {
      await this.abort();
      throw this.closeError(cause);
    }
  }

  /**
   * A thematic output's histogram also goes to its raster attribute table, as a PixelCount column
   * `Histogram` with one row per value (linear binning from the histogram's first value), which is
   * where GDAL's tools and RIOS users look for it. Written to the closed temporary file, before it
   * moves into place.
   */
  private async writeHistogramColumns(): Promise<void> {
    const hists = this.stats?.histograms ?? [];
    // as many rows as the colour table to come (autoColorTableType), zeros beyond the histogram
    for (const [i, h] of hists.entries()) if (h) await writeHistogramColumn(this.tmpPath, i + 1, h, this.colorTableRows(i + 1));
  }

  /**
   * autoColorTableType: a generated colour table on every band of a thematic output, one entry per
   * value up to the band's largest (256 for Byte, as RIOS's tables). GeoTIFF keeps a colour table
   * on band 1 only: the other bands get none, and a warning says so.
   */
  private async writeAutoColorTables(): Promise<void> {
    const type = this.target.controls.autoColorTableType;
    if (type === null) return;
    for (let b = 1; b <= this.bands; b++) {
      if (b > 1 && this.driverName === 'GTiff') {
        process.emitWarning(`output '${this.label}': GeoTIFF keeps a colour table on band 1 only; bands 2..${this.bands} get none (autoColorTableType)`, {
          code: 'RIOTS_COLOR_TABLE_BANDS',
        });
        break;
      }
      const entries = this.colorTableEntries(b);
      if (entries === undefined) {
        throw new OutputError(`output '${this.label}': autoColorTableType needs the largest value of band ${b}, which comes with its statistics (calcStats)`, {
          imageName: this.target.imageName,
          file: this.target.path,
        });
      }
      if (entries === 0) continue; // no class from 0 to colour
      await setColorTable(this.tmpPath, genColorTable(entries, type), { band: b });
    }
  }

  /**
   * Colours of band `b`'s automatic colour table: one per value from 0 to its largest (0 for none,
   * or without autoColorTableType); undefined without statistics to tell the largest.
   */
  private colorTableEntries(b: number): number | undefined {
    if (this.target.controls.autoColorTableType === null) return 0;
    const h = this.stats?.histograms[b - 1];
    return h ? Math.max(0, Math.floor(h.histMax) + 1) : undefined;
  }

  /** Rows the automatic colour table will take: its colours, or 256 for Byte (setColorTable pads to it). */
  private colorTableRows(b: number): number {
    const n = this.colorTableEntries(b) ?? 0;
    return n > 0 && this.dtype === 'Byte' ? 256 : n;
  }

  /** Move a finalized file and its sidecars into place. */
  commit(): void {
    if (this.closed) return;
    if (!this.finalized) throw new Error(`output '${this.label}': commit() before finalize()`);
    try {
      this.moveIntoPlace();
      this.closed = true;
      this.keepAtExit();
    } catch (cause) {
      this.removeTempFiles();
      this.closed = true;
      this.keepAtExit();
      throw this.closeError(cause);
    }
  }

  /** The user's callBeforeClose, on the closed temporary file (RIOS calls it before the colour table too). */
  private async callBeforeClose(): Promise<void> {
    const fn = this.target.controls.callBeforeClose;
    if (!fn) return;
    const t = this.target;
    try {
      await fn({ file: this.tmpPath, finalPath: t.path, imageName: t.imageName, listIndex: t.listIndex });
    } catch (cause) {
      throw new OutputError(`output '${this.label}': callBeforeClose failed: ${(cause as Error).message ?? String(cause)}`, {
        imageName: t.imageName,
        file: t.path,
        cause,
      });
    }
  }

  private closeError(cause: unknown): OutputError {
    if (cause instanceof OutputError) return cause;
    return new OutputError(`output '${this.label}': closing ${this.target.path} failed: ${(cause as Error).message}`, {
      imageName: this.target.imageName,
      file: this.target.path,
      cause,
    });
  }

  /** Close without keeping anything: the temporary file and its sidecars are removed. */
  async abort(): Promise<void> {
    this.closed = true;
    await this.stats?.dispose().catch(() => undefined);
    if (this.ds) {
      try {
        this.ds.close();
      } catch {
        // the file is being discarded anyway
      }
      this.ds = undefined;
    }
    this.removeTempFiles();
    this.keepAtExit();
  }

  private removeTempFiles(): void {
    for (const f of this.tempFiles()) rmSync(f, { force: true });
  }

  /** The temporary file and every sidecar that GDAL wrote beside it. */
  private tempFiles(): string[] {
    const dir = path.dirname(this.tmpPath);
    const ext = path.extname(this.tmpPath);
    const stem = path.basename(this.tmpPath).slice(0, path.basename(this.tmpPath).length - ext.length);
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.startsWith(stem));
    } catch {
      names = [];
    }
    return names.map((n) => path.join(dir, n));
  }

  /** Band names, as the driver keeps them (HFA layer names; PAM descriptions elsewhere). */
  private writeLayerNames(): void {
    const names = this.target.controls.layerNames;
    if (!names || names.length === 0) return;
    setBandDescriptions(this.tmpPath, names.slice(0, this.bands));
  }

  private moveIntoPlace(): void {
    const finalPath = path.resolve(this.target.path);
    for (const s of SIDECARS) rmSync(finalPath + s, { force: true });
    const ext = path.extname(this.tmpPath);
    const tmpStem = path.basename(this.tmpPath).slice(0, path.basename(this.tmpPath).length - ext.length);
    const finalExt = path.extname(finalPath);
    const finalStem = finalPath.slice(0, finalPath.length - finalExt.length);
    const files = this.tempFiles().filter((f) => f !== this.tmpPath);
    // sidecars first, the main file last: a file at the final path is complete with its sidecars
    for (const f of files) {
      const rest = path.basename(f).slice(tmpStem.length);
      renameSync(f, finalStem + rest);
    }
    renameSync(this.tmpPath, finalPath);
  }
}
