/**
 * RIOS's environment variables for defaults, read as RIOS reads them, in one place. A variable
 * that is set but makes no sense is a ControlsError naming it (RIOS would stop with a Python
 * error). The overview variables are read with the other statistics options (src/stats/plan.ts).
 *
 * | variable | what it sets |
 * | --- | --- |
 * | RIOS_DFLT_BLOCKXSIZE, RIOS_DFLT_BLOCKYSIZE | windowXSize, windowYSize |
 * | RIOS_DFLT_OVERLAP | overlap |
 * | RIOS_DFLT_FOOTPRINT | footprint: RIOS's 0, 1, 2 (intersection, union, reference) or riots' names |
 * | RIOS_DFLT_DRIVER | the output driver |
 * | RIOS_DFLT_CREOPT_<driver> | that driver's creation options, blank-separated |
 * | RIOS_DFLT_DRIVEROPTIONS | (RIOS's older form) creation options of RIOS_DFLT_DRIVER's driver, blank-separated |
 * | RIOS_DFLT_AUTOCOLORTABLETYPE | autoColorTableType: the colour table thematic outputs get |
 */
import { ControlsError } from './errors.js';

export type Footprint = 'intersection' | 'union' | 'reference';
export const FOOTPRINTS: readonly Footprint[] = ['intersection', 'union', 'reference'];

/** RIOS's numbers for footprints (rios/const.py: INTERSECTION, UNION, BOUNDS_FROM_REFERENCE). */
const RIOS_FOOTPRINT_NUMBERS: readonly Footprint[] = ['intersection', 'union', 'reference'];

function value(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/** A whole number of at least `min` from `name`, or undefined when it is not set. */
export function envInt(name: string, min: number, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = value(name, env);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ControlsError(`environment variable ${name}=${v} is not a whole number of at least ${min}`);
  return n;
}

/** RIOS_DFLT_FOOTPRINT: 0, 1 or 2 as RIOS numbers them, or a riots name; undefined when not set. */
export function envFootprint(env: NodeJS.ProcessEnv = process.env): Footprint | undefined {
  const v = value('RIOS_DFLT_FOOTPRINT', env);
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v)) {
    const fp = RIOS_FOOTPRINT_NUMBERS[Number(v)];
    if (fp !== undefined) return fp;
  } else if (FOOTPRINTS.includes(v.toLowerCase() as Footprint)) return v.toLowerCase() as Footprint;
  throw new ControlsError(
    `environment variable RIOS_DFLT_FOOTPRINT=${v} must be 0 (intersection), 1 (union) or 2 (reference), or one of ${FOOTPRINTS.join(', ')}`,
  );
}

/** RIOS_DFLT_DRIVER, or undefined. */
export function envDriver(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return value('RIOS_DFLT_DRIVER', env);
}

/**
 * The default creation options of `driver` from the environment, split on blanks as RIOS splits
 * them, and the variable they came from; undefined when none applies. RIOS_DFLT_CREOPT_<driver>
 * wins over the older RIOS_DFLT_DRIVEROPTIONS, which applies to RIOS_DFLT_DRIVER's driver
 * (HFA when that is not set, as in RIOS).
 */
export function envCreationOptions(driver: string, env: NodeJS.ProcessEnv = process.env): { options: string[]; from: string } | undefined {
  const split = (s: string): string[] => s.split(/\s+/).filter((o) => o !== '');
  const own = `RIOS_DFLT_CREOPT_${driver}`;
  if (env[own] !== undefined) return { options: split(env[own]), from: own };
  const old = env.RIOS_DFLT_DRIVEROPTIONS;
  if (old !== undefined && (envDriver(env) ?? 'HFA') === driver) return { options: split(old), from: 'RIOS_DFLT_DRIVEROPTIONS' };
  return undefined;
}

/** The colour tables riots can make (RIOS's genColorTable types). */
export const AUTO_COLOR_TABLE_TYPES = ['random', 'rainbow', 'gray'] as const;
export type AutoColorTableType = (typeof AUTO_COLOR_TABLE_TYPES)[number];

/** RIOS_DFLT_AUTOCOLORTABLETYPE: the colour table thematic outputs get; undefined when not set. */
export function envAutoColorTableType(env: NodeJS.ProcessEnv = process.env): AutoColorTableType | undefined {
  const v = value('RIOS_DFLT_AUTOCOLORTABLETYPE', env);
  if (v === undefined) return undefined;
  if (!(AUTO_COLOR_TABLE_TYPES as readonly string[]).includes(v)) {
    throw new ControlsError(`environment variable RIOS_DFLT_AUTOCOLORTABLETYPE=${v} is not one of ${AUTO_COLOR_TABLE_TYPES.join(', ')}`);
  }
  return v as AutoColorTableType;
}
