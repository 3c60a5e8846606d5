/**
 * What every channel worker is sent once connected (the `setup` message): the user function's
 * bundle, its export name when the main can tell, otherArgs, the run's settings (the working
 * grid's ReaderInfo context, controls, outputs, where inputs come from) and, when workers read,
 * the input files.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlsError } from '../../errors.js';
import type { RunDescription } from '../backend.js';
import type { BundleImports, JsonObject, SetupMessage, ShippedFile } from '../channel/protocol.js';
import type { WorkerSettings } from '../worker/computeworker.js';
import type { UserFunctionSpec } from '../../userfunction.js';
import { bundleUserModule, userFunctionExportName } from './bundle.js';
import { publish } from './events.js';

/** The parts of the setup made once per run. */
export interface SetupData {
  bundle: Uint8Array;
  bundleImports: BundleImports;
  /** '' when the main could not tell: the worker resolves the function from the spec in settings. */
  exportName: string;
  settings: JsonObject;
  /** defineUserFunction's `files`, read once. */
  files: ShippedFile[];
}

/**
 * The files the user asked to ship beside the bundle, read from beside their module.
 * @throws {ControlsError} naming a file that cannot be read.
 */
async function readShippedFiles(spec: UserFunctionSpec): Promise<ShippedFile[]> {
  const dir = path.dirname(fileURLToPath(spec.moduleUrl));
  return Promise.all(
    (spec.files ?? []).map(async (rel) => {
      const file = path.join(dir, rel);
      try {
        return { path: rel, data: new Uint8Array(await readFile(file)) };
      } catch (cause) {
        throw new ControlsError(`defineUserFunction files: cannot read '${rel}' beside the module (${file}): ${(cause as Error).message}`, { file, cause });
      }
    }),
  );
}

/** Make the bundle, find the export name (when the main can tell) and the settings every worker gets; waits for the run's layout. */
export async function prepareSetup(run: RunDescription, spec: UserFunctionSpec): Promise<SetupData> {
  const [exportName, bundle, files, layout] = await Promise.all([
    userFunctionExportName(run.userFunction, spec),
    bundleUserModule(spec.moduleUrl),
    readShippedFiles(spec),
    run.layout,
  ]);
  publish({ event: 'bundled', files: bundle.inputs, packages: bundle.packages, bytes: bundle.code.byteLength });
  const settings: WorkerSettings = {
    infoContext: layout.infoContext,
    controls: run.controls.toJSON(),
    readAhead: run.concurrency.computeWorkersRead ? run.concurrency.numReadWorkers : 0,
    outRefs: run.outRefs,
    inputs: layout.sources.map((s) => ({ name: s.ref.name, listIndex: s.ref.listIndex, path: s.ref.path, nodata: s.nodata })),
    userFunction: { ...spec },
  };
  return {
    bundle: bundle.code,
    bundleImports: bundle.imports,
    exportName: exportName ?? '',
    settings: JSON.parse(JSON.stringify(settings)) as JsonObject,
    files,
  };
}

/** The setup message for one worker. */
export function setupMessage(st: SetupData, run: RunDescription): SetupMessage {
  const read = run.concurrency.computeWorkersRead;
  return {
    type: 'setup',
    bundle: st.bundle,
    bundleImports: st.bundleImports,
    exportName: st.exportName,
    otherArgs: run.otherArgs,
    settings: st.settings,
    computeWorkersRead: read,
    inputFiles: read ? run.inRefs.map((r) => ({ name: r.name, listIndex: r.listIndex, path: absoluteInputPath(r.path) })) : [],
    files: st.files,
  };
}

/**
 * Workers run in another folder (CW_SUBPROC: an empty one; remote: another machine with a shared
 * filesystem), so a relative input path is made absolute. GDAL virtual paths, URLs and
 * driver-prefixed names are left as they are.
 */
export function absoluteInputPath(p: string): string {
  if (p.startsWith('/vsi') || /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || /^[A-Z][A-Z0-9_]*:/.test(p)) return p;
  return path.resolve(p);
}
