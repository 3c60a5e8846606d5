/**
 * Controls: one interface, one defaults object, checked on construction.
 *
 * Global settings sit at the top level. Settings that make sense per image (driver, statsIgnore,
 * resampleMethod, ...) may be given at the top level as the default for every image, and
 * overridden for one image under `images[name]`, where `name` is the image's key in `infiles`
 * or `outfiles`.
 */
import { ControlsError } from './errors.js';
import { checkKnownKeys, custom, flag, oneOf, opaque, parseSettings, text, type Setting, type SettingsTable } from './settings.js';
import { isDataType, type DataType } from './dtypes.js';
import type { PixelGridSpec } from './grid.js';
import type { ConcurrencyStyleInit } from './concurrency.js';

import {
  AUTO_COLOR_TABLE_TYPES,
  FOOTPRINTS,
  envAutoColorTableType,
  envDriver,
  envFootprint,
  envInt,
  type AutoColorTableType,
  type Footprint,
} from './riosenv.js';
export { FOOTPRINTS, type Footprint };

export type ResampleMethod = 'near' | 'bilinear' | 'cubic' | 'cubicspline' | 'lanczos' | 'average' | 'mode' | 'min' | 'max' | 'med' | 'q1' | 'q3';
export const RESAMPLE_METHODS: readonly ResampleMethod[] = [
  'near',
  'bilinear',
  'cubic',
  'cubicspline',
  'lanczos',
  'average',
  'mode',
  'min',
  'max',
  'med',
  'q1',
  'q3',
];

/** What `callBeforeClose` is told about the output it is called for. */
export interface BeforeCloseInfo {
  /** The output's file, complete (pixels, statistics, pyramids, histogram column) and closed, still under its temporary name: open it, or give it to `rat.*`. */
  file: string;
  /** Where it goes when the function returns. */
  finalPath: string;
  imageName: string;
  /** Index within a list output, or null. */
  listIndex: number | null;
}
/** RIOS's callBeforeClose: its arguments are the closure's; may be async. A throw fails the run and leaves nothing at the final path. */
export type BeforeClose = (output: BeforeCloseInfo) => void | Promise<void>;

/** Settings that may differ per image. */
export interface ImageControls {
  /** GDAL driver of an output: RIOS_DFLT_DRIVER, else the output's extension, else GTiff (src/gdal/drivers.ts). */
  driver: string | undefined;
  /** Creation options of an output; default from env RIOS_DFLT_CREOPT_<driver> or riots' defaults. */
  creationOptions: string[] | undefined;
  /** Output nodata and the value statistics ignore. RIOS's default is 0; null means none. */
  statsIgnore: number | null;
  /** Band descriptions of an output. */
  layerNames: string[] | undefined;
  /** Mark an output thematic (LAYER_TYPE=thematic). */
  thematic: boolean;
  /** A colour table for a thematic output: random, rainbow or gray; null for none. Default RIOS_DFLT_AUTOCOLORTABLETYPE, else none. */
  autoColorTableType: AutoColorTableType | null;
  /** Called with the output (closed, under its temporary name) before it moves to its final name: add RAT columns, metadata. */
  callBeforeClose: BeforeClose | undefined;
  omitBasicStats: boolean;
  omitHistogram: boolean;
  omitPyramids: boolean;
  /** Statistics and histogram from a pyramid level, after writing (RIOS's approxStats). */
  approxStats: boolean;
  /** false: NEAREST pyramids built after writing (RIOS's singlePassPyramids). */
  singlePassPyramids: boolean;
  /** false: basic statistics from reading the output back after writing (RIOS's singlePassBasicStats). */
  singlePassBasicStats: boolean;
  /** false: the histogram from reading the output back after writing (RIOS's singlePassHistogram). */
  singlePassHistogram: boolean;
  /** False: no statistics, histogram or pyramids at all. */
  calcStats: boolean;
  overviewLevels: number[] | undefined;
  overviewMinDim: number | undefined;
  overviewAggregationType: string | undefined;
  /** Resampling of an input onto the working grid. */
  resampleMethod: ResampleMethod;
  /** Override an input's nodata: one value for all bands, or one per band. */
  inputNoData: number | (number | null)[] | null | undefined;
  /** 1-based bands to read from an input. */
  layerSelection: number[] | undefined;
  // vector inputs
  burnValue: number;
  burnAttribute: string | undefined;
  vectorNull: number;
  filterSQL: string | undefined;
  allTouched: boolean;
  vectorDatatype: DataType;
  vectorLayer: string | number | undefined;
}

export interface GlobalControls {
  windowXSize: number;
  windowYSize: number;
  overlap: number;
  footprint: Footprint;
  referenceImage: string | undefined;
  referencePixgrid: PixelGridSpec | undefined;
  filesForExtent: string[] | undefined;
  allowOverviewsGdalwarp: boolean;
  /** Show progress on stderr: a bar on a TTY, percentage lines otherwise. */
  progress: boolean;
  /** Write the run report here (an HTML file; its events go beside it as .json), after the run, whether it succeeded or failed. */
  report: string | undefined;
  /** Concurrency: read-ahead and compute workers. */
  concurrency: ConcurrencyStyleInit | undefined;
  /** Folder for temporary files (default: beside each output). */
  tempdir: string | undefined;
  /** A name for the run, in the names of its worker jobs and tasks (RIOS's jobName). */
  jobName: string | undefined;
}

/** Controls as the user gives them; `N` is the image names of the run (apply() infers them). */
export type ControlsInput<N extends string = string> = Partial<GlobalControls> &
  Partial<ImageControls> & {
    /** Per-image overrides keyed by the image's name in infiles/outfiles. */
    images?: Partial<Record<N, Partial<ImageControls>>>;
  };

const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
const stringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** A setting whose default is read when the controls are made (RIOS's environment variables). */
function withDefault<T>(type: string, defaultText: string, meaning: string, dflt: () => T, check: (v: unknown, bad: (e: string) => never) => T): Setting<T> {
  return { type, default: defaultText, meaning, parse: (v, bad) => (v === undefined ? dflt() : check(v, bad)) };
}

/** The global controls, declared once: parsed, documented and checked from this table. */
export const GLOBAL_SETTINGS = {
  windowXSize: withDefault(
    'a positive whole number',
    '256 (`RIOS_DFLT_BLOCKXSIZE`)',
    'block width in pixels',
    () => envInt('RIOS_DFLT_BLOCKXSIZE', 1) ?? 256,
    (v, bad) => (isPosInt(v) ? v : bad('a positive whole number')),
  ),
  windowYSize: withDefault(
    'a positive whole number',
    '256 (`RIOS_DFLT_BLOCKYSIZE`)',
    'block height in pixels',
    () => envInt('RIOS_DFLT_BLOCKYSIZE', 1) ?? 256,
    (v, bad) => (isPosInt(v) ? v : bad('a positive whole number')),
  ),
  overlap: withDefault(
    'a whole number, 0 or more',
    '0 (`RIOS_DFLT_OVERLAP`)',
    'a margin of this many pixels on every input block',
    () => envInt('RIOS_DFLT_OVERLAP', 0) ?? 0,
    (v, bad) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : bad('a whole number, 0 or more')),
  ),
  footprint: withDefault<Footprint>(
    `one of ${FOOTPRINTS.join(', ')}`,
    '`intersection` (`RIOS_DFLT_FOOTPRINT`: 0, 1, 2 as in RIOS, or a name)',
    'the extent of the working grid',
    () => envFootprint() ?? 'intersection',
    (v, bad) => (FOOTPRINTS.includes(v as Footprint) ? (v as Footprint) : bad(`one of ${FOOTPRINTS.join(', ')}`)),
  ),
  referenceImage: text({ meaning: 'the input (name or filename) whose projection and pixel lattice the working grid takes' }),
  referencePixgrid: custom<PixelGridSpec>('a pixel grid', { meaning: 'a grid whose projection and pixel lattice the working grid takes' }, (v, bad) => {
    const g = v as Partial<PixelGridSpec> | null;
    const ok =
      typeof g === 'object' &&
      g !== null &&
      typeof g.projection === 'string' &&
      Array.isArray(g.transform) &&
      g.transform.length === 6 &&
      g.transform.every((x) => typeof x === 'number' && Number.isFinite(x)) &&
      Number.isInteger(g.rows) &&
      Number.isInteger(g.cols);
    return ok ? (g as PixelGridSpec) : bad('a pixel grid { projection, transform (6 numbers), rows, cols }');
  }),
  filesForExtent: custom<string[]>('a list of image names or filenames', { meaning: 'the inputs whose extents make the working grid' }, (v, bad) =>
    stringList(v) ? v : bad('a list of image names or filenames'),
  ),
  allowOverviewsGdalwarp: flag(false, 'let the warper read from an input overview (gdalwarp without -ovr NONE)'),
  progress: flag(false, 'show progress on stderr: a bar on a TTY, percentage lines otherwise'),
  report: custom<string>(
    'a path ending in .html',
    { meaning: 'the run report: a self-contained HTML page (timeline, phases, quicklooks), written after the run with its events as JSON beside it' },
    (v, bad) => (typeof v === 'string' && /\.html?$/i.test(v) ? v : bad('a path ending in .html')),
  ),
  concurrency: opaque({ meaning: 'read-ahead and compute workers (a ConcurrencyStyle or its settings; checked there)' }) as Setting<
    ConcurrencyStyleInit | undefined
  >,
  tempdir: text({ default: 'beside each output', meaning: 'folder for temporary files' }),
  // at most 12: the run id riots-<jobName>-<time>-<hex> is ECS's startedBy, which takes 36 characters
  jobName: custom<string>(
    'letters, digits, - and _ (at most 12)',
    { meaning: 'a name for the run, in the names of its worker jobs and tasks (RIOS’s jobName): riots-<jobName>-…' },
    (v, bad) => (typeof v === 'string' && /^[A-Za-z0-9_-]{1,12}$/.test(v) ? v : bad('letters, digits, - and _ (at most 12)')),
  ),
} satisfies SettingsTable;

const numberOr = (what: string, allowNull: boolean, dflt: number | null): Setting<number | null> =>
  withDefault(
    what,
    String(dflt),
    '',
    () => dflt,
    (v, bad) => (typeof v === 'number' || (allowNull && v === null) ? v : bad(what)),
  );

/** The per-image controls, declared once; each may be set for all images or under images[name]. */
export const IMAGE_SETTINGS = {
  driver: withDefault<string | undefined>(
    'a GDAL driver name',
    "`RIOS_DFLT_DRIVER`, else the output's extension (GDAL's own list), else `GTiff`",
    'GDAL driver of an output',
    () => envDriver(),
    (v, bad) => (typeof v === 'string' && v !== '' ? v : bad('a GDAL driver name')),
  ),
  creationOptions: custom<string[]>(
    'a list of NAME=VALUE strings',
    { default: "`RIOS_DFLT_CREOPT_<driver>`, else riots' defaults", meaning: 'creation options of an output' },
    (v, bad) => (Array.isArray(v) && v.every((x) => typeof x === 'string' && x.includes('=')) ? (v as string[]) : bad('a list of NAME=VALUE strings')),
  ),
  statsIgnore: { ...numberOr('a number or null', true, 0), meaning: 'output nodata, and the value statistics ignore; null: none' },
  layerNames: custom<string[]>('a list of strings', { meaning: 'band descriptions of an output' }, (v, bad) => (stringList(v) ? v : bad('a list of strings'))),
  thematic: flag(false, 'mark an output thematic (LAYER_TYPE=thematic)'),
  autoColorTableType: withDefault<AutoColorTableType | null>(
    `one of ${AUTO_COLOR_TABLE_TYPES.join(', ')}, or null`,
    'none (`RIOS_DFLT_AUTOCOLORTABLETYPE`)',
    'a colour table written for a thematic output (one entry per value up to its maximum)',
    () => envAutoColorTableType() ?? null,
    (v, bad) =>
      v === null || (AUTO_COLOR_TABLE_TYPES as readonly unknown[]).includes(v)
        ? (v as AutoColorTableType | null)
        : bad(`one of ${AUTO_COLOR_TABLE_TYPES.join(', ')}, or null`),
  ),
  callBeforeClose: custom<BeforeClose>(
    'a function',
    { meaning: "called with each output's file before it takes its final name, to add RAT columns or metadata (RIOS's setCallBeforeClose)" },
    (v, bad) => (typeof v === 'function' ? (v as BeforeClose) : bad('a function')),
  ),
  approxStats: flag(
    false,
    "statistics and histogram from the pyramid level GDAL samples for approximate statistics, after writing (RIOS's approxStats; STATISTICS_APPROXIMATE=YES)",
  ),
  singlePassPyramids: flag(true, 'false: NEAREST pyramids are built by GDAL after writing instead of block by block (RIOS’s singlePassPyramids)'),
  singlePassBasicStats: flag(true, 'false: basic statistics come from reading the output back after writing (RIOS’s singlePassBasicStats)'),
  singlePassHistogram: flag(true, 'false: the histogram comes from reading the output back after writing (RIOS’s singlePassHistogram)'),
  omitBasicStats: flag(false, 'no basic statistics on an output'),
  omitHistogram: flag(false, 'no histogram on an output'),
  omitPyramids: flag(false, 'no pyramids on an output'),
  calcStats: flag(true, 'false: no statistics, histogram or pyramids at all'),
  overviewLevels: custom<number[]>('a list of positive whole numbers', { meaning: 'pyramid levels' }, (v, bad) =>
    Array.isArray(v) && v.every(isPosInt) ? v : bad('a list of positive whole numbers'),
  ),
  overviewMinDim: custom<number>(
    'a whole number, 0 or more',
    { meaning: 'pyramid levels are kept while floor(smallest side / level) is above this' },
    (v, bad) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : bad('a whole number, 0 or more')),
  ),
  overviewAggregationType: custom<string>('a GDAL overview resampling name', { meaning: 'how pyramid levels are made (NEAREST, AVERAGE, …)' }, (v, bad) =>
    typeof v === 'string' ? v : bad('a GDAL overview resampling name such as NEAREST or AVERAGE'),
  ),
  resampleMethod: oneOf(RESAMPLE_METHODS, 'near', 'resampling of an input onto the working grid'),
  inputNoData: custom<number | (number | null)[] | null>(
    'a number, null, or a list with one value per band',
    { default: "the file's", meaning: "override an input's nodata" },
    (v, bad) =>
      v === null || typeof v === 'number' || (Array.isArray(v) && v.every((x) => x === null || typeof x === 'number'))
        ? (v as number | (number | null)[] | null)
        : bad('a number, null, or a list with one value per band'),
  ),
  layerSelection: custom<number[]>('a non-empty list of 1-based band numbers', { default: 'every band', meaning: 'bands to read from an input' }, (v, bad) =>
    Array.isArray(v) && v.length > 0 && v.every(isPosInt) ? v : bad('a non-empty list of 1-based band numbers'),
  ),
  burnValue: { ...(numberOr('a number', false, 1) as Setting<number>), meaning: 'value burnt inside features of a vector input' },
  burnAttribute: custom<string>('a string', { meaning: 'attribute whose value is burnt instead' }, (v, bad) => (typeof v === 'string' ? v : bad('a string'))),
  vectorNull: { ...(numberOr('a number', false, 0) as Setting<number>), meaning: 'value outside every feature' },
  filterSQL: custom<string>('a string', { meaning: 'an SQL WHERE clause selecting the features to burn' }, (v, bad) =>
    typeof v === 'string' ? v : bad('a string'),
  ),
  allTouched: flag(false, 'burn every pixel a feature touches'),
  vectorDatatype: withDefault<DataType>(
    'a GDAL data type name',
    '`Byte`',
    'data type of a rasterized vector',
    () => 'Byte',
    (v, bad) => (isDataType(v) ? v : bad('a GDAL data type name such as Byte or Int32')),
  ),
  vectorLayer: custom<string | number>('a layer name or a 0-based index', { default: 'the first', meaning: 'the layer of a vector input' }, (v, bad) =>
    typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v) && v >= 0) ? v : bad('a layer name or a 0-based index'),
  ),
} satisfies SettingsTable;

/** Defaults, with RIOS's environment variables applied (read at call time). */
export function defaultGlobalControls(): GlobalControls {
  return parseSettings(GLOBAL_SETTINGS, {}, 'controls');
}

export function defaultImageControls(): ImageControls {
  return parseSettings(IMAGE_SETTINGS, {}, 'controls');
}

const GLOBAL_KEYS = new Set(Object.keys(GLOBAL_SETTINGS));
const IMAGE_KEYS = new Set(Object.keys(IMAGE_SETTINGS));

/** The given keys of `given` that `keys` has. */
function pick(given: Record<string, unknown>, keys: Set<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(given).filter(([k]) => keys.has(k)));
}

/** Resolved controls: the global settings plus a per-image lookup. */
export class ApplierControls {
  readonly global: Readonly<GlobalControls>;
  private readonly imageDefaults: Readonly<ImageControls>;
  private readonly perImage: ReadonlyMap<string, Partial<ImageControls>>;

  constructor(input: ControlsInput = {}) {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ControlsError('controls must be an object');
    const { images, ...rest } = input as Record<string, unknown>;
    checkKnownKeys(rest, [...GLOBAL_KEYS, ...IMAGE_KEYS, 'images'], 'controls', 'controls');
    const g = parseSettings(GLOBAL_SETTINGS, pick(rest, GLOBAL_KEYS), 'controls', { strict: false });
    const im = parseSettings(IMAGE_SETTINGS, pick(rest, IMAGE_KEYS), 'controls', { strict: false });
    const perImage = new Map<string, Partial<ImageControls>>();
    if (images !== undefined) {
      if (images === null || typeof images !== 'object' || Array.isArray(images))
        throw new ControlsError('controls.images must be an object keyed by image name');
      for (const [name, o] of Object.entries(images as Record<string, unknown>)) {
        if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new ControlsError(`controls.images.${name} must be an object`);
        for (const ik of Object.keys(o)) {
          if (GLOBAL_KEYS.has(ik))
            throw new ControlsError(`controls.images.${name}.${ik}: ${ik} is the same for every image; set it at the top of controls, not per image`);
        }
        checkKnownKeys(o, [...IMAGE_KEYS], `controls.images.${name}`, 'per-image controls');
        // only what is given: the rest comes from the top-level defaults
        const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
        const table = Object.fromEntries(Object.keys(given).map((k) => [k, IMAGE_SETTINGS[k as keyof typeof IMAGE_SETTINGS]])) as SettingsTable;
        perImage.set(name, parseSettings(table, given, `controls.images.${name}`));
      }
    }
    checkGlobal(g);
    this.global = Object.freeze(g);
    this.imageDefaults = Object.freeze(im);
    this.perImage = perImage;
  }

  static from(c: ApplierControls | ControlsInput | undefined): ApplierControls {
    return c instanceof ApplierControls ? c : new ApplierControls(c ?? {});
  }

  /** The value of a per-image control for one image. */
  get<K extends keyof ImageControls>(key: K, imageName: string): ImageControls[K] {
    const o = this.perImage.get(imageName);
    if (o && Object.prototype.hasOwnProperty.call(o, key) && o[key] !== undefined) return o[key];
    // an explicit null for statsIgnore / inputNoData under images[name] must win over the default
    if (o && Object.prototype.hasOwnProperty.call(o, key) && o[key] === null) return null as ImageControls[K];
    return this.imageDefaults[key];
  }

  /** Every setting for one image, resolved. */
  forImage(imageName: string): ImageControls {
    const out = { ...this.imageDefaults };
    const o = this.perImage.get(imageName);
    if (o) for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
    return out;
  }

  /** Names used under `images` (for checking against infiles/outfiles). */
  imageNames(): string[] {
    return [...this.perImage.keys()];
  }

  /** Plain data, for shipping to workers. */
  toJSON(): ControlsInput {
    const images: Record<string, Partial<ImageControls>> = {};
    // callBeforeClose runs in the main process only: a function does not travel to workers
    const plain = ({ callBeforeClose: _, ...rest }: Partial<ImageControls>): Partial<ImageControls> => rest;
    for (const [k, v] of this.perImage) images[k] = plain(v);
    const g = { ...this.global } as Partial<GlobalControls>;
    return { ...g, ...plain(this.imageDefaults), images };
  }
}

/** What no single setting can check: combinations. */
function checkGlobal(g: GlobalControls): void {
  if (g.footprint === 'reference' && g.referenceImage === undefined && g.referencePixgrid === undefined) {
    throw new ControlsError("footprint 'reference' needs referenceImage or referencePixgrid");
  }
  if (g.referenceImage !== undefined && g.referencePixgrid !== undefined) {
    throw new ControlsError('give referenceImage or referencePixgrid, not both');
  }
}
