/**
 * Controls: one interface, one defaults object, checked on construction.
 *
 * Global settings sit at the top level. Settings that make sense per image (driver, statsIgnore,
 * resampleMethod, ...) may be given at the top level as the default for every image, and
 * overridden for one image under `images[name]`, where `name` is the image's key in `infiles`
 * or `outfiles`.
 */
import { ControlsError } from './errors.js';
import { checkKnownKeys } from './settings.js';
import { isDataType, type DataType } from './dtypes.js';
import type { PixelGridSpec } from './grid.js';
import type { ConcurrencyStyleInit } from './concurrency.js';

export type Footprint = 'intersection' | 'union' | 'reference';
export const FOOTPRINTS: readonly Footprint[] = ['intersection', 'union', 'reference'];

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

/** Settings that may differ per image. */
export interface ImageControls {
  /** GDAL driver of an output (default GTiff, env RIOS_DFLT_DRIVER). */
  driver: string;
  /** Creation options of an output; default from env RIOS_DFLT_CREOPT_<driver> or riots' defaults. */
  creationOptions: string[] | undefined;
  /** Output nodata and the value statistics ignore. RIOS's default is 0; null means none. */
  statsIgnore: number | null;
  /** Band descriptions of an output. */
  layerNames: string[] | undefined;
  /** Mark an output thematic (LAYER_TYPE=thematic). */
  thematic: boolean;
  omitBasicStats: boolean;
  omitHistogram: boolean;
  omitPyramids: boolean;
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
  /** Concurrency: read-ahead and compute workers. */
  concurrency: ConcurrencyStyleInit | undefined;
  /** Folder for temporary files (default: beside each output). */
  tempdir: string | undefined;
}

export type ControlsInput = Partial<GlobalControls> &
  Partial<ImageControls> & {
    /** Per-image overrides keyed by the image's name in infiles/outfiles. */
    images?: Record<string, Partial<ImageControls>>;
  };

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new ControlsError(`environment variable ${name}=${v} is not a positive integer`);
  return n;
}

/** Defaults, with RIOS's environment variables applied (read at call time). */
export function defaultGlobalControls(): GlobalControls {
  const fp = process.env.RIOS_DFLT_FOOTPRINT;
  return {
    windowXSize: envInt('RIOS_DFLT_BLOCKXSIZE') ?? 256,
    windowYSize: envInt('RIOS_DFLT_BLOCKYSIZE') ?? 256,
    overlap: 0,
    footprint: fp ? (fp.toLowerCase() as Footprint) : 'intersection',
    referenceImage: undefined,
    referencePixgrid: undefined,
    filesForExtent: undefined,
    allowOverviewsGdalwarp: false,
    progress: false,
    concurrency: undefined,
    tempdir: undefined,
  };
}

export function defaultImageControls(): ImageControls {
  return {
    driver: process.env.RIOS_DFLT_DRIVER || 'GTiff',
    creationOptions: undefined,
    statsIgnore: 0,
    layerNames: undefined,
    thematic: false,
    omitBasicStats: false,
    omitHistogram: false,
    omitPyramids: false,
    calcStats: true,
    overviewLevels: undefined,
    overviewMinDim: undefined,
    overviewAggregationType: undefined,
    resampleMethod: 'near',
    inputNoData: undefined,
    layerSelection: undefined,
    burnValue: 1,
    burnAttribute: undefined,
    vectorNull: 0,
    filterSQL: undefined,
    allTouched: false,
    vectorDatatype: 'Byte',
    vectorLayer: undefined,
  };
}

const GLOBAL_KEYS = new Set(Object.keys(defaultGlobalControls()));
const IMAGE_KEYS = new Set(Object.keys(defaultImageControls()));

/** Resolved controls: the global settings plus a per-image lookup. */
export class ApplierControls {
  readonly global: Readonly<GlobalControls>;
  private readonly imageDefaults: Readonly<ImageControls>;
  private readonly perImage: ReadonlyMap<string, Partial<ImageControls>>;

  constructor(input: ControlsInput = {}) {
    if (input === null || typeof input !== 'object') throw new ControlsError('controls must be an object');
    const g = defaultGlobalControls();
    const im = defaultImageControls();
    const perImage = new Map<string, Partial<ImageControls>>();
    for (const [k, v] of Object.entries(input)) {
      if (v === undefined) continue;
      if (k === 'images') {
        if (v === null || typeof v !== 'object') throw new ControlsError('controls.images must be an object keyed by image name');
        for (const [name, o] of Object.entries(v as Record<string, unknown>)) {
          if (o === null || typeof o !== 'object') throw new ControlsError(`controls.images.${name} must be an object`);
          for (const ik of Object.keys(o)) {
            if (GLOBAL_KEYS.has(ik))
              throw new ControlsError(`controls.images.${name}.${ik}: ${ik} is the same for every image; set it at the top of controls, not per image`);
          }
          checkKnownKeys(o, [...IMAGE_KEYS], `controls.images.${name}`, 'per-image controls');
          for (const [ik, iv] of Object.entries(o as Record<string, unknown>)) {
            checkImageControl(ik as keyof ImageControls, iv, `controls.images.${name}.${ik}`);
          }
          perImage.set(name, { ...(o as Partial<ImageControls>) });
        }
      } else if (GLOBAL_KEYS.has(k)) {
        (g as unknown as Record<string, unknown>)[k] = v;
      } else if (IMAGE_KEYS.has(k)) {
        checkImageControl(k as keyof ImageControls, v, `controls.${k}`);
        (im as unknown as Record<string, unknown>)[k] = v;
      } else {
        checkKnownKeys({ [k]: v }, [...GLOBAL_KEYS, ...IMAGE_KEYS, 'images'], 'controls', 'controls');
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
    for (const [k, v] of this.perImage) images[k] = v;
    const g = { ...this.global } as Partial<GlobalControls>;
    return { ...g, ...this.imageDefaults, images };
  }
}

function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function checkGlobal(g: GlobalControls): void {
  if (!isPosInt(g.windowXSize)) throw new ControlsError(`windowXSize must be a positive integer (got ${String(g.windowXSize)})`);
  if (!isPosInt(g.windowYSize)) throw new ControlsError(`windowYSize must be a positive integer (got ${String(g.windowYSize)})`);
  if (!(Number.isInteger(g.overlap) && g.overlap >= 0)) throw new ControlsError(`overlap must be a non-negative integer (got ${String(g.overlap)})`);
  if (!FOOTPRINTS.includes(g.footprint)) {
    throw new ControlsError(`footprint must be one of ${FOOTPRINTS.join(', ')} (got ${String(g.footprint)}; check RIOS_DFLT_FOOTPRINT)`);
  }
  if (g.referenceImage !== undefined && typeof g.referenceImage !== 'string') throw new ControlsError('referenceImage must be an image name or a filename');
  if (g.filesForExtent !== undefined && !(Array.isArray(g.filesForExtent) && g.filesForExtent.every((s) => typeof s === 'string'))) {
    throw new ControlsError('filesForExtent must be a list of image names or filenames');
  }
  if (g.footprint === 'reference' && g.referenceImage === undefined && g.referencePixgrid === undefined) {
    throw new ControlsError("footprint 'reference' needs referenceImage or referencePixgrid");
  }
  if (g.referenceImage !== undefined && g.referencePixgrid !== undefined) {
    throw new ControlsError('give referenceImage or referencePixgrid, not both');
  }
}

function checkImageControl(k: keyof ImageControls, v: unknown, where: string): void {
  const bad = (what: string): never => {
    throw new ControlsError(`${where} must be ${what} (got ${JSON.stringify(v)})`);
  };
  switch (k) {
    case 'driver':
      if (typeof v !== 'string' || v === '') bad('a GDAL driver name');
      break;
    case 'creationOptions':
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s.includes('='))) bad('a list of NAME=VALUE strings');
      break;
    case 'statsIgnore':
    case 'vectorNull':
    case 'burnValue':
      if (v !== null && typeof v !== 'number') bad('a number' + (k === 'statsIgnore' ? ' or null' : ''));
      if (v === null && k !== 'statsIgnore') bad('a number');
      break;
    case 'thematic':
    case 'omitBasicStats':
    case 'omitHistogram':
    case 'omitPyramids':
    case 'calcStats':
    case 'allTouched':
      if (typeof v !== 'boolean') bad('true or false');
      break;
    case 'layerNames':
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) bad('a list of strings');
      break;
    case 'overviewLevels':
      if (!Array.isArray(v) || !v.every(isPosInt)) bad('a list of positive integers');
      break;
    case 'overviewMinDim':
      if (!isPosInt(v)) bad('a positive integer');
      break;
    case 'overviewAggregationType':
      if (typeof v !== 'string') bad('a GDAL overview resampling name such as NEAREST or AVERAGE');
      break;
    case 'resampleMethod':
      if (!RESAMPLE_METHODS.includes(v as ResampleMethod)) bad(`one of ${RESAMPLE_METHODS.join(', ')}`);
      break;
    case 'inputNoData':
      if (!(v === null || typeof v === 'number' || (Array.isArray(v) && v.every((x) => x === null || typeof x === 'number')))) {
        bad('a number, null, or a list with one value per band');
      }
      break;
    case 'layerSelection':
      if (!Array.isArray(v) || v.length === 0 || !v.every(isPosInt)) bad('a non-empty list of 1-based band numbers');
      break;
    case 'burnAttribute':
    case 'filterSQL':
      if (typeof v !== 'string') bad('a string');
      break;
    case 'vectorDatatype':
      if (!isDataType(v)) bad('a GDAL data type name such as Byte or Int32');
      break;
    case 'vectorLayer':
      if (!(typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v) && v >= 0))) bad('a layer name or a 0-based index');
      break;
  }
}
