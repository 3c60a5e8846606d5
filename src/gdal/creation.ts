/**
 * Output driver and creation options: riots' defaults, RIOS's environment variables, per-image
 * overrides, and tile sizes that fit the window.
 */
import { ControlsError } from '../errors.js';
import { envCreationOptions } from '../riosenv.js';

/** riots' default creation options per driver (used when neither controls nor env give any). */
export const DEFAULT_CREATION_OPTIONS: Record<string, string[]> = {
  GTiff: ['TILED=YES', 'COMPRESS=DEFLATE', 'INTERLEAVE=BAND', 'BIGTIFF=IF_SAFER', 'NUM_THREADS=ALL_CPUS'],
  KEA: [],
  HFA: ['COMPRESSED=YES', 'IGNOREUTM=TRUE'],
};

/** Creation options from RIOS's variables (RIOS_DFLT_CREOPT_<driver>, blank-separated, as RIOS reads them), or riots' defaults. */
export function defaultCreationOptions(driver: string): string[] {
  return envCreationOptions(driver)?.options ?? [...(DEFAULT_CREATION_OPTIONS[driver] ?? [])];
}

function optValue(opts: string[], key: string): string | undefined {
  const k = key.toUpperCase() + '=';
  const hit = opts.find((o) => o.toUpperCase().startsWith(k));
  return hit === undefined ? undefined : hit.slice(k.length);
}

/** Largest multiple of 16, at most `max`, that divides `window`; undefined if none. */
export function tileSizeFor(window: number, max = 512): number | undefined {
  for (let t = Math.min(max, window - (window % 16)); t >= 16; t -= 16) {
    if (window % t === 0) return t;
  }
  return undefined;
}

/**
 * Final creation options for an output: tiled GTiff outputs get a tile size that divides the
 * window, so that each block write fills whole tiles and compression happens once per tile.
 * @throws {ControlsError} when the user's own tile size does not divide the window, or no
 *   GTiff tile size can.
 */
export function resolveCreationOptions(
  driver: string,
  userOptions: string[] | undefined,
  windowXSize: number,
  windowYSize: number,
  imageName: string,
): string[] {
  const opts = userOptions ? [...userOptions] : defaultCreationOptions(driver);
  if (driver !== 'GTiff') return opts;
  const tiled = (optValue(opts, 'TILED') ?? 'NO').toUpperCase();
  if (!['YES', 'TRUE', 'ON', '1'].includes(tiled)) return opts;
  const fix = (key: 'BLOCKXSIZE' | 'BLOCKYSIZE', window: number, wname: string): void => {
    const given = optValue(opts, key);
    if (given !== undefined) {
      const t = Number(given);
      if (!(Number.isInteger(t) && t > 0 && window % t === 0)) {
        throw new ControlsError(`output '${imageName}': ${key}=${given} does not divide ${wname}=${window}; the window must be a multiple of the tile size`, {
          imageName,
        });
      }
      return;
    }
    const t = tileSizeFor(window);
    if (t === undefined) {
      throw new ControlsError(
        `output '${imageName}': no GTiff tile size (a multiple of 16) divides ${wname}=${window}; ` +
          `use a window that is a multiple of 16, or set creationOptions without TILED=YES`,
        { imageName },
      );
    }
    opts.push(`${key}=${t}`);
  };
  fix('BLOCKXSIZE', windowXSize, 'windowXSize');
  fix('BLOCKYSIZE', windowYSize, 'windowYSize');
  return opts;
}
