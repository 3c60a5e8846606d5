/**
 * The working grid: the one pixel grid every input is read onto, chosen with RIOS's rules.
 *
 * - The reference (controls.referencePixgrid, or controls.referenceImage: an input's name or a
 *   raster's filename) gives the projection, pixel size and alignment. Without one, every raster
 *   input must already share one grid lattice, which then is the reference.
 * - controls.footprint gives the extent: the intersection or union of the extents of the inputs
 *   (or of controls.filesForExtent), each reprojected onto the reference lattice and snapped
 *   outward, or the reference's own extent ('reference').
 * - Vector inputs never define the grid.
 */
import { ControlsError, GridError, GridMismatchError, InputError, ReferenceImageError } from '../errors.js';
import {
  boundsIntersection,
  boundsUnion,
  describeDifference,
  gridBounds,
  gridForBounds,
  gridReproject,
  isComparable,
  PixelGrid,
  type PixelGridSpec,
} from '../grid.js';
import { probeFile } from '../gdal/gridio.js';
import { parseSrs, toWkt } from '../gdal/srs.js';
import { FOOTPRINTS, envFootprint, type Footprint } from '../riosenv.js';

export interface WorkingGridInput {
  name: string;
  /** Position in a list of files under one name; null for a single file. */
  listIndex: number | null;
  path: string;
  /** The raster's grid; null for a vector input. */
  grid: PixelGridSpec | null;
}

export interface WorkingGridControls {
  /** An input's name (`name` or `name[i]` for lists) or a raster's filename. */
  referenceImage?: string | undefined;
  referencePixgrid?: PixelGridSpec | undefined;
  /** Default: env RIOS_DFLT_FOOTPRINT, else 'intersection'. */
  footprint?: Footprint | undefined;
  /** Input names or filenames whose extents make the footprint (default: every raster input). */
  filesForExtent?: string[] | undefined;
}

export interface WorkingGrid {
  grid: PixelGrid;
  /** For each raster input's path: true when it is not on the working grid's lattice and must be resampled. */
  needsResample: Map<string, boolean>;
}

function label(i: { name: string; listIndex: number | null }): string {
  return i.listIndex === null ? i.name : `${i.name}[${i.listIndex}]`;
}

function footprintOf(controls: WorkingGridControls): Footprint {
  if (controls.footprint === undefined) return envFootprint() ?? 'intersection';
  const fp = String(controls.footprint).toLowerCase() as Footprint;
  if (!FOOTPRINTS.includes(fp)) throw new ControlsError(`footprint must be one of ${FOOTPRINTS.join(', ')} (got '${String(controls.footprint)}')`);
  return fp;
}

/** An extent source: its label for messages and its grid. */
interface Named {
  what: string;
  path: string;
  grid: PixelGridSpec;
}

/** Inputs matching a name (`name`, every element of a list, or `name[i]`) or a filename. */
function matchInputs(inputs: WorkingGridInput[], key: string): WorkingGridInput[] {
  const m = /^(.*)\[(\d+)\]$/.exec(key);
  const byName = inputs.filter((i) => i.name === key || (m !== null && i.name === m[1] && i.listIndex === Number(m[2])));
  if (byName.length > 0) return byName;
  return inputs.filter((i) => i.path === key);
}

/** A raster's grid by input name or filename (probing files that are not inputs). */
async function resolveRaster(inputs: WorkingGridInput[], key: string, role: 'referenceImage' | 'filesForExtent'): Promise<Named[]> {
  const Err = role === 'referenceImage' ? ReferenceImageError : ControlsError;
  const found = matchInputs(inputs, key);
  if (found.length > 0) {
    return found.map((i) => {
      if (!i.grid)
        throw new Err(`${role} '${key}' is the vector input '${label(i)}' (${i.path}); vectors never define the working grid`, {
          imageName: i.name,
          file: i.path,
        });
      return { what: `'${label(i)}' (${i.path})`, path: i.path, grid: i.grid };
    });
  }
  const probe = await probeFile(key);
  if (probe.kind === 'raster') return [{ what: key, path: key, grid: probe.grid }];
  if (probe.kind === 'vector') throw new Err(`${role} ${key} is a vector file; vectors never define the working grid`, { file: key });
  throw new Err(`${role} '${key}' is neither the name of an input nor a readable raster: ${probe.reason}`, { file: key });
}

function pixgridSpec(p: PixelGridSpec): PixelGrid {
  let projection = p.projection;
  // "EPSG:32755", PROJ strings etc. become WKT, as GDAL writes into files
  if (projection !== '' && !/^\s*[A-Z_]+\[/i.test(projection)) {
    if (!parseSrs(projection)) throw new ReferenceImageError(`referencePixgrid: cannot parse the projection "${projection.slice(0, 200)}"`);
    projection = toWkt(projection);
  }
  try {
    return new PixelGrid({ ...p, projection });
  } catch (cause) {
    throw new ReferenceImageError(`referencePixgrid is not a usable grid: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Choose the working grid.
 * @throws {ControlsError} bad footprint, both references given, footprint 'reference' without one,
 *   a filesForExtent entry that is not a raster.
 * @throws {ReferenceImageError} a reference that is neither an input nor a readable raster, or is a vector.
 * @throws {GridMismatchError} rasters on different grids with no reference (names the files and how they differ).
 * @throws {GridError} an empty footprint (names the files); an input to resample with no projection.
 */
export async function computeWorkingGrid(inputs: WorkingGridInput[], controls: WorkingGridControls): Promise<WorkingGrid> {
  const footprint = footprintOf(controls);
  const rasters: Named[] = inputs.filter((i) => i.grid !== null).map((i) => ({ what: `'${label(i)}' (${i.path})`, path: i.path, grid: i.grid! }));
  if (controls.referenceImage !== undefined && controls.referencePixgrid !== undefined) {
    throw new ControlsError('give referenceImage or referencePixgrid, not both');
  }

  let ref: PixelGridSpec;
  if (controls.referencePixgrid !== undefined) {
    ref = pixgridSpec(controls.referencePixgrid);
  } else if (controls.referenceImage !== undefined) {
    ref = (await resolveRaster(inputs, controls.referenceImage, 'referenceImage'))[0]!.grid;
  } else {
    if (rasters.length === 0) throw new InputError('there is no raster input to define the working grid (vector inputs never do)');
    const first = rasters[0]!;
    for (const r of rasters.slice(1)) {
      if (!isComparable(first.grid, r.grid)) {
        throw new GridMismatchError(
          `inputs ${first.what} and ${r.what} are not on the same grid: ${describeDifference(first.grid, r.grid).join('; ')}. ` +
            'Set referenceImage or referencePixgrid to resample them onto one grid.',
          { file: r.path },
        );
      }
    }
    ref = first.grid;
  }

  // the working grid is on ref's lattice: what is not comparable with ref gets resampled
  for (const r of rasters) {
    if (!isComparable(ref, r.grid) && (r.grid.projection === '' || ref.projection === '')) {
      throw new GridError(
        `input ${r.what} must be resampled onto the working grid, but ${r.grid.projection === '' ? 'it' : 'the reference'} has no projection`,
        { file: r.path },
      );
    }
  }

  let grid: PixelGridSpec;
  if (footprint === 'reference') {
    if (controls.referencePixgrid === undefined && controls.referenceImage === undefined) {
      throw new ControlsError("footprint 'reference' needs referenceImage or referencePixgrid");
    }
    grid = ref;
  } else {
    let extent: Named[];
    if (controls.filesForExtent !== undefined) {
      if (controls.filesForExtent.length === 0) throw new ControlsError('filesForExtent is empty');
      extent = (await Promise.all(controls.filesForExtent.map((k) => resolveRaster(inputs, k, 'filesForExtent')))).flat();
    } else {
      extent = rasters;
    }
    if (extent.length === 0) extent = [{ what: 'the reference', path: '', grid: ref }];
    const onRef = extent.map((e) => gridBounds(isComparable(ref, e.grid) ? e.grid : gridReproject(e.grid, ref)));
    grid = gridForBounds(ref, footprint === 'union' ? boundsUnion(onRef) : boundsIntersection(onRef), 'nearest');
    if (grid.cols === 0 || grid.rows === 0) {
      throw new GridError(`the ${footprint} of the extents of ${extent.map((e) => e.what).join(', ')} is empty: they do not overlap`);
    }
  }
  const working = new PixelGrid(grid);
  const needsResample = new Map<string, boolean>();
  for (const r of rasters) needsResample.set(r.path, !isComparable(working, r.grid));
  return { grid: working, needsResample };
}
