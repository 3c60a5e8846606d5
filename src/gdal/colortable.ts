/**
 * Colour tables of thematic bands, as RIOS's `rat.getColorTable` / `setColorTable` /
 * `genColorTable` handle them: rows of [value, red, green, blue, alpha] (0–255), values ascending;
 * rows of 4 (red, green, blue, alpha) stand for values 0, 1, 2, …. Values not given are
 * transparent black, and a Byte band's table always has 256 entries (as RIOS writes it, for the
 * viewers that expect it). Part of the `rat` module.
 */
import { InputMissingError, RatError } from '../errors.js';
import { existsSync } from 'node:fs';
import { gdal } from './index.js';
import { getRowCount, setRowCount } from './rat.js';
import { AUTO_COLOR_TABLE_TYPES, type AutoColorTableType } from '../riosenv.js';

/** [value, red, green, blue, alpha], or [red, green, blue, alpha] for value = row index. */
export type ColorRow = [number, number, number, number, number] | [number, number, number, number];

/** The colour ramps `genColorTable` makes, by RIOS's names. */
export const COLOR_TABLE_TYPES = AUTO_COLOR_TABLE_TYPES;
export type ColorTableType = AutoColorTableType;

function band(ds: gdal.Dataset, file: string, b: number | undefined): gdal.RasterBand {
  const n = b ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > ds.bands.count())
    throw new RatError(`${file}: there is no band ${String(b)} (the file has ${ds.bands.count()})`, { file });
  return ds.bands.get(n);
}

/**
 * The band's colour table as rows of [value, red, green, blue, alpha].
 * @throws {RatError} when the band has none.
 */
export async function getColorTable(file: string, opts: { band?: number } = {}): Promise<[number, number, number, number, number][]> {
  if (!existsSync(file)) throw new InputMissingError(`${file}: no such file`, { file });
  const ds = await gdal.openAsync(file);
  try {
    const ct = band(ds, file, opts.band).colorTable;
    if (!ct) throw new RatError(`${file} band ${opts.band ?? 1}: has no colour table`, { file });
    const out: [number, number, number, number, number][] = [];
    for (let i = 0; i < ct.count(); i++) {
      const c = ct.get(i);
      out.push([i, c.c1, c.c2, c.c3, c.c4]);
    }
    return out;
  } finally {
    ds.close();
  }
}

/** The 5-column form of `rows`, checked: whole values 0–255, pixel values ascending and not negative. */
function fiveColumns(rows: readonly ColorRow[], file: string): [number, number, number, number, number][] {
  const out = rows.map((r, i) => {
    if (!Array.isArray(r) || (r.length !== 4 && r.length !== 5))
      throw new RatError(`${file}: colour table row ${i} must have 4 or 5 values (got ${JSON.stringify(r)})`, { file });
    const five: [number, number, number, number, number] = r.length === 4 ? [i, r[0], r[1], r[2], r[3]] : [r[0], r[1], r[2], r[3], r[4]];
    return five;
  });
  for (const [i, r] of out.entries()) {
    if (!r.every((v) => Number.isInteger(v)))
      throw new RatError(`${file}: colour table row ${i} holds a value that is not a whole number: ${JSON.stringify(r)}`, { file });
    if (r[0] < 0 || (i > 0 && r[0] <= out[i - 1]![0])) throw new RatError(`${file}: colour table values must ascend from 0 (row ${i}: ${r[0]})`, { file });
    if (r.slice(1).some((v) => v < 0 || v > 255))
      throw new RatError(`${file}: colour table row ${i}: colours and alpha are 0–255 (got ${JSON.stringify(r)})`, { file });
  }
  return out;
}

/**
 * Set the band's colour table: every value from 0 to the largest given (to 255 for a Byte band),
 * transparent black where no row gives one.
 * @throws {RatError} for rows that are not colours, or values that do not ascend.
 */
export async function setColorTable(file: string, rows: readonly ColorRow[], opts: { band?: number } = {}): Promise<void> {
  if (!existsSync(file)) throw new InputMissingError(`${file}: no such file`, { file });
  const five = fiveColumns(rows, file);
  // HFA keeps the colour table in the band's attribute table and writes no more entries than it
  // has rows (the histogram's, for a file with statistics): grow the table first
  const entries = Math.max(five.at(-1)?.[0] ?? 0, 0) + 1;
  const probe = await gdal.openAsync(file);
  let isHfa: boolean;
  let byteBand: boolean;
  try {
    isHfa = probe.driver.description === 'HFA';
    byteBand = band(probe, file, opts.band).dataType === 'Byte';
  } finally {
    probe.close();
  }
  const want = Math.max(entries, byteBand ? 256 : 0);
  if (isHfa && (await getRowCount(file, opts)) < want) await setRowCount(file, want, opts);
  const ds = await gdal.openAsync(file, 'r+');
  try {
    const b = band(ds, file, opts.band);
    const last = Math.max(b.dataType === 'Byte' ? 255 : 0, five.at(-1)?.[0] ?? 0);
    const ct = new gdal.ColorTable(gdal.GPI_RGB);
    let k = 0;
    for (let v = 0; v <= last; v++) {
      const r = five[k]?.[0] === v ? five[k++] : undefined;
      ct.set(v, r ? { c1: r[1], c2: r[2], c3: r[3], c4: r[4] } : { c1: 0, c2: 0, c3: 0, c4: 0 });
    }
    try {
      b.colorTable = ct;
      await ds.flushAsync();
    } catch (cause) {
      throw new RatError(`${file} band ${opts.band ?? 1}: GDAL cannot store a colour table there: ${(cause as Error).message}`, { file, cause });
    }
  } finally {
    ds.close();
  }
}

/** A small deterministic generator (mulberry32) for random tables that come out the same each time. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A colour table of `n` entries, as rows of [value, red, green, blue, alpha] for values 0..n-1:
 * `random` (opaque random colours, the same for the same `seed`), `rainbow` (hue from red through
 * the spectrum to violet) or `gray` (black to white).
 */
export function genColorTable(n: number, type: ColorTableType, opts: { seed?: number } = {}): [number, number, number, number, number][] {
  if (!Number.isInteger(n) || n < 1) throw new RatError(`genColorTable: the number of entries must be a whole number from 1 (got ${String(n)})`);
  if (!COLOR_TABLE_TYPES.includes(type)) throw new RatError(`genColorTable: type must be one of ${COLOR_TABLE_TYPES.join(', ')} (got ${String(type)})`);
  const next = random(opts.seed ?? 1);
  return Array.from({ length: n }, (_, i): [number, number, number, number, number] => {
    if (type === 'random') return [i, Math.floor(next() * 256), Math.floor(next() * 256), Math.floor(next() * 256), 255];
    const t = n === 1 ? 0 : i / (n - 1);
    if (type === 'gray') {
      const g = Math.round(t * 255);
      return [i, g, g, g, 255];
    }
    // hue 0 (red) to 270 degrees (violet), full saturation and value
    const h = (t * 270) / 60;
    const x = 1 - Math.abs((h % 2) - 1);
    const [r, g, b] = h < 1 ? [1, x, 0] : h < 2 ? [x, 1, 0] : h < 3 ? [0, 1, x] : h < 4 ? [0, x, 1] : [x, 0, 1];
    return [i, Math.round(r * 255), Math.round(g * 255), Math.round(b * 255), 255];
  });
}
