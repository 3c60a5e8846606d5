/**
 * Outputs never replace inputs. An output is renamed into place at the end of a run, so an output
 * that is an input (or one of an input's sidecars, which GDAL reads with it) would silently
 * destroy it; two outputs at one path would lose one. All of this is refused before anything is
 * opened for writing. Paths are compared as the files they name: `./a.tif`, `a.tif`, `/x/../a.tif`
 * and a symbolic link to it are one file. GDAL virtual paths and URLs are compared as written.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { ControlsError } from '../errors.js';
import { refLabel, type ImageRef } from '../reader/inputs.js';

/** Files GDAL reads beside a raster: PAM metadata, overviews, masks, world files, HFA's own. */
function sidecarsOf(file: string): string[] {
  const ext = path.extname(file);
  const stem = file.slice(0, file.length - ext.length);
  const world = ext.length >= 3 ? `${ext[1]}${ext[ext.length - 1]}w` : '';
  return [
    `${file}.aux.xml`,
    `${file}.ovr`,
    `${file}.msk`,
    `${stem}.aux`,
    `${stem}.rrd`,
    `${stem}.ige`,
    `${stem}.prj`,
    `${stem}.wld`,
    ...(world ? [`${stem}.${world}`] : []),
  ];
}

/** The file a path names: links and `..` resolved as far as the path exists. */
export function canonicalPath(p: string): string {
  if (p.startsWith('/vsi') || /^[a-z][a-z0-9+.-]*:\/\//i.test(p)) return p;
  const abs = path.resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    // not there yet: its folder's real path, and its own name
    try {
      return path.join(realpathSync(path.dirname(abs)), path.basename(abs));
    } catch {
      return abs;
    }
  }
}

/**
 * @throws {ControlsError} naming both images when an output is an input, a sidecar of an input,
 *   or another output.
 */
export function checkOutputPaths(inRefs: readonly ImageRef[], outRefs: readonly ImageRef[]): void {
  const inputs = new Map<string, ImageRef>();
  const sidecars = new Map<string, ImageRef>();
  for (const r of inRefs) {
    const c = canonicalPath(r.path);
    inputs.set(c, r);
    for (const s of sidecarsOf(c)) sidecars.set(s, r);
  }
  const outputs = new Map<string, ImageRef>();
  for (const o of outRefs) {
    const c = canonicalPath(o.path);
    const input = inputs.get(c);
    if (input) {
      throw new ControlsError(
        `output '${refLabel(o)}' (${o.path}) is the same file as input '${refLabel(input)}' (${input.path}): writing it would destroy the input; choose another output path`,
        { imageName: o.name, file: o.path },
      );
    }
    const owner = sidecars.get(c);
    if (owner) {
      throw new ControlsError(
        `output '${refLabel(o)}' (${o.path}) is a file GDAL reads with input '${refLabel(owner)}' (${owner.path}): writing it would change that input; choose another output path`,
        { imageName: o.name, file: o.path },
      );
    }
    const other = outputs.get(c);
    if (other) {
      throw new ControlsError(`outputs '${refLabel(other)}' and '${refLabel(o)}' are the same file (${o.path}): one would be lost`, {
        imageName: o.name,
        file: o.path,
      });
    }
    outputs.set(c, o);
  }
}
