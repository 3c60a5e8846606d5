/**
 * Which GDAL driver writes an output: the one the user named (controls `driver`, or RIOS's
 * RIOS_DFLT_DRIVER), else the one whose file extensions hold the output's (GDAL's own
 * DMD_EXTENSIONS, among the drivers that can create a raster), else GTiff. `out.img` is written
 * as HFA and `out.kea` as KEA where this GDAL has it; `.vrt` is refused, since a VRT holds no
 * pixels of its own.
 */
import path from 'node:path';
import { ControlsError } from '../errors.js';
import { gdal } from './index.js';

/** What riots writes when neither the user nor the file name says. */
export const DEFAULT_DRIVER = 'GTiff';

let byExtension: Map<string, string[]> | undefined;

/** Extension (lower case, no dot) -> the drivers that create rasters with it, in GDAL's order. */
function creatorsByExtension(): Map<string, string[]> {
  if (byExtension) return byExtension;
  const map = new Map<string, string[]>();
  for (const d of gdal.drivers) {
    const m = d.getMetadata() as Record<string, string | undefined>;
    if (m.DCAP_RASTER !== 'YES' || m.DCAP_CREATE !== 'YES') continue;
    for (const e of `${m.DMD_EXTENSIONS ?? m.DMD_EXTENSION ?? ''}`.toLowerCase().split(/\s+/)) {
      if (e === '') continue;
      map.set(e, [...(map.get(e) ?? []), d.description]);
    }
  }
  byExtension = map;
  return map;
}

/**
 * The driver of an output.
 * @param given the user's choice (controls driver, else RIOS_DFLT_DRIVER), if any.
 * @throws {ControlsError} for a `.vrt` output, or an extension several drivers claim, naming them.
 */
export function outputDriver(given: string | undefined, file: string, label: string): string {
  if (given !== undefined) return given;
  const ext = path.extname(file).slice(1).toLowerCase();
  const drivers = ext === '' ? [] : (creatorsByExtension().get(ext) ?? []);
  if (drivers.length === 0 || drivers.includes(DEFAULT_DRIVER)) return DEFAULT_DRIVER;
  if (drivers.includes('VRT')) {
    throw new ControlsError(
      `output '${label}' (${file}): riots does not write .vrt outputs: a VRT holds no pixels, only references to other files; write a GeoTIFF and make a VRT of it with gdalbuildvrt, or set controls driver`,
      { file },
    );
  }
  if (drivers.length > 1) {
    throw new ControlsError(
      `output '${label}' (${file}): .${ext} is the extension of several GDAL drivers (${drivers.join(', ')}); set controls driver for it`,
      { file },
    );
  }
  return drivers[0]!;
}
