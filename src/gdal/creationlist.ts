/**
 * Creation options checked against the driver's own list (GDAL publishes it as the driver's
 * DMD_CREATIONOPTIONLIST, an XML fragment). GDAL itself only warns about an option it does not
 * know, or a value outside a list, and then writes the file without it: `COMPRES=ZSTD` gives an
 * uncompressed file. riots refuses such options before any output is created.
 */
import { ControlsError } from '../errors.js';
import { didYouMean } from '../settings.js';
import { gdal } from './index.js';

/** One option of a driver's creation option list. */
export interface CreationOptionSpec {
  /** Upper case, with its aliases. */
  names: string[];
  /** GDAL's type: string-select, int, integer, unsigned int, float, boolean, string. */
  type: string;
  /** For string-select: the allowed values and their aliases, as GDAL spells them. */
  values: string[];
  min: number | undefined;
  max: number | undefined;
}

function attrs(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(/([A-Za-z_]+)\s*=\s*(?:'([^']*)'|"([^"]*)")/g)) out.set(m[1]!.toLowerCase(), m[2] ?? m[3] ?? '');
  return out;
}

const finite = (s: string | undefined): number | undefined => (s !== undefined && s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : undefined);

/** The options of a DMD_CREATIONOPTIONLIST fragment (an empty list for an empty fragment). */
export function parseCreationOptionList(xml: string): CreationOptionSpec[] {
  const specs: CreationOptionSpec[] = [];
  for (const m of xml.matchAll(/<Option\b([^>]*?)(?:\/>|>([\s\S]*?)<\/Option>)/g)) {
    const a = attrs(m[1]!);
    const name = a.get('name');
    if (!name) continue;
    const values: string[] = [];
    for (const v of (m[2] ?? '').matchAll(/<Value\b([^>]*)>([^<]*)<\/Value>/g)) {
      values.push(v[2]!.trim());
      const alias = attrs(v[1]!).get('alias');
      if (alias) values.push(alias);
    }
    const aliases = (a.get('alias') ?? '').split(/[ ,]+/).filter((s) => s !== '');
    specs.push({
      names: [name, ...aliases].map((s) => s.toUpperCase()),
      type: (a.get('type') ?? 'string').toLowerCase(),
      values,
      min: finite(a.get('min')),
      max: finite(a.get('max')),
    });
  }
  return specs;
}

const BOOLEAN = ['YES', 'NO', 'TRUE', 'FALSE', 'ON', 'OFF', '1', '0'];

/** Why `value` does not suit `spec`, or undefined when it does. */
function badValue(spec: CreationOptionSpec, value: string): string | undefined {
  const t = spec.type;
  if (t === 'string-select') {
    if (spec.values.length === 0 || spec.values.some((v) => v.toUpperCase() === value.toUpperCase())) return undefined;
    return `one of ${spec.values.join(', ')}`;
  }
  if (t === 'boolean') return BOOLEAN.includes(value.toUpperCase()) ? undefined : `a boolean (${BOOLEAN.join(', ')})`;
  let n: number | undefined;
  let want: string;
  if (t === 'int' || t === 'integer' || t === 'unsigned int') {
    n = /^[-+]?\d+$/.test(value.trim()) ? Number(value) : undefined;
    want = t === 'unsigned int' ? 'a whole number ≥ 0' : 'a whole number';
    if (n !== undefined && t === 'unsigned int' && n < 0) n = undefined;
  } else if (t === 'float') {
    n = finite(value);
    want = 'a number';
  } else {
    return undefined;
  }
  const range = spec.min !== undefined || spec.max !== undefined ? ` from ${spec.min ?? '-∞'} to ${spec.max ?? '∞'}` : '';
  if (n === undefined || (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) return want + range;
  return undefined;
}

/**
 * Refuse creation options the driver's list does not accept.
 * @param where what the options belong to, for the message: "output 'o' (out.tif): creationOptions".
 * @throws {ControlsError} naming the option, the driver, and the valid names or values.
 */
export function checkCreationOptionsAgainst(specs: CreationOptionSpec[], driver: string, options: readonly string[], where: string): void {
  for (const opt of options) {
    const eq = opt.indexOf('=');
    if (eq <= 0) throw new ControlsError(`${where}: '${opt}' is not NAME=VALUE`);
    const name = opt.slice(0, eq).trim().toUpperCase();
    const value = opt.slice(eq + 1);
    const spec = specs.find((s) => s.names.includes(name));
    if (!spec) {
      const known = specs.map((s) => s.names[0]!);
      const hint = didYouMean(name, known);
      throw new ControlsError(
        `${where}: driver ${driver} has no creation option ${name}${hint ? ` (did you mean ${hint}?)` : ''}; its options are ${known.join(', ')}`,
      );
    }
    const why = badValue(spec, value);
    if (why !== undefined) throw new ControlsError(`${where}: ${spec.names[0]}=${value} is not valid for driver ${driver}: ${spec.names[0]} must be ${why}`);
  }
}

const cache = new Map<string, CreationOptionSpec[] | null>();

/**
 * Refuse creation options the driver `driver` of this GDAL does not accept. A driver that
 * publishes no list is not checked beyond NAME=VALUE.
 * @throws {ControlsError} as {@link checkCreationOptionsAgainst}.
 */
export function checkCreationOptions(driver: string, options: readonly string[], where: string): void {
  let specs = cache.get(driver);
  if (specs === undefined) {
    let xml = '';
    try {
      xml = `${(gdal.drivers.get(driver).getMetadata() as Record<string, string | undefined>).DMD_CREATIONOPTIONLIST ?? ''}`;
    } catch {
      // an unknown driver is the writer's error to report
    }
    specs = xml.trim() === '' ? null : parseCreationOptionList(xml);
    cache.set(driver, specs);
  }
  if (specs === null) {
    for (const opt of options) if (opt.indexOf('=') <= 0) throw new ControlsError(`${where}: '${opt}' is not NAME=VALUE`);
    return;
  }
  checkCreationOptionsAgainst(specs, driver, options, where);
}
