/**
 * GDAL's C API for raster attribute tables, which gdal-async does not expose, reached through
 * koffi in the very libgdal gdal-async has loaded (found in the process's own mappings, so that
 * both use one GDAL: one driver registry, one block cache, one error state).
 *
 * Why an FFI and not an addon or `.aux.xml` edits: see DESIGN.md (raster attribute tables). The
 * signatures below are GDAL's (gdal.h, stable since GDAL 1.11) and are pinned: a wrong one
 * crashes the process instead of failing, so test/integration/gdal/rat.test.ts exercises every
 * one of them. Handles are plain pointers owned by GDAL; strings GDAL returns stay GDAL's (only
 * the per-value calls are used for strings, which return pointers into the table).
 */
import { readFileSync } from 'node:fs';
import { GdalError } from '../errors.js';
import { loadGdal } from './index.js';
import { requireKoffi } from './koffi.js';

/** Opaque GDAL handles (GDALDatasetH, GDALRasterBandH, GDALRasterAttributeTableH). */
export type Handle = unknown;

/** GDAL's C functions riots calls, with their pinned signatures. */
export interface RatApi {
  GDALOpenEx(path: string, flags: number, drivers: null, options: null, siblings: null): Handle | null;
  GDALClose(ds: Handle): void;
  GDALGetRasterCount(ds: Handle): number;
  GDALGetRasterBand(ds: Handle, band: number): Handle | null;
  GDALGetDescription(obj: Handle): string;
  GDALSetDescription(obj: Handle, description: string): void;
  GDALGetDatasetDriver(ds: Handle): Handle;
  GDALGetRasterDataType(band: Handle): number;
  GDALGetRasterNoDataValue(band: Handle, success: Int32Array): number;
  GDALGetDriverShortName(driver: Handle): string;
  GDALGetDefaultRAT(band: Handle): Handle | null;
  GDALSetDefaultRAT(band: Handle, rat: Handle | null): number;
  GDALCreateRasterAttributeTable(): Handle;
  GDALDestroyRasterAttributeTable(rat: Handle): void;
  GDALRATClone(rat: Handle): Handle;
  GDALRATGetColumnCount(rat: Handle): number;
  GDALRATGetNameOfCol(rat: Handle, col: number): string;
  GDALRATGetUsageOfCol(rat: Handle, col: number): number;
  GDALRATGetTypeOfCol(rat: Handle, col: number): number;
  GDALRATGetRowCount(rat: Handle): number;
  GDALRATSetRowCount(rat: Handle, rows: number): void;
  GDALRATCreateColumn(rat: Handle, name: string, type: number, usage: number): number;
  GDALRATChangesAreWrittenToFile(rat: Handle): number;
  GDALRATSetLinearBinning(rat: Handle, row0Min: number, binSize: number): number;
  GDALRATGetLinearBinning(rat: Handle, row0Min: Float64Array, binSize: Float64Array): number;
  GDALRATValuesIOAsDouble(rat: Handle, rw: number, col: number, start: number, length: number, data: Float64Array): number;
  GDALRATValuesIOAsInteger(rat: Handle, rw: number, col: number, start: number, length: number, data: Int32Array): number;
  GDALRATGetValueAsString(rat: Handle, row: number, col: number): string;
  GDALRATSetValueAsString(rat: Handle, row: number, col: number, value: string): void;
  CPLGetLastErrorMsg(): string;
  CPLErrorReset(): void;
}

const SIGNATURES: Record<keyof RatApi, string> = {
  GDALOpenEx: 'void *GDALOpenEx(const char *pszFilename, unsigned int nOpenFlags, void *papszAllowedDrivers, void *papszOpenOptions, void *papszSiblingFiles)',
  GDALClose: 'void GDALClose(void *hDS)',
  GDALGetRasterCount: 'int GDALGetRasterCount(void *hDS)',
  GDALGetRasterBand: 'void *GDALGetRasterBand(void *hDS, int nBandId)',
  GDALGetDescription: 'const char *GDALGetDescription(void *hObject)',
  GDALSetDescription: 'void GDALSetDescription(void *hObject, const char *pszNewDesc)',
  GDALGetDatasetDriver: 'void *GDALGetDatasetDriver(void *hDS)',
  GDALGetRasterDataType: 'int GDALGetRasterDataType(void *hBand)',
  GDALGetRasterNoDataValue: 'double GDALGetRasterNoDataValue(void *hBand, _Out_ int *pbSuccess)',
  GDALGetDriverShortName: 'const char *GDALGetDriverShortName(void *hDriver)',
  GDALGetDefaultRAT: 'void *GDALGetDefaultRAT(void *hBand)',
  GDALSetDefaultRAT: 'int GDALSetDefaultRAT(void *hBand, void *hRAT)',
  GDALCreateRasterAttributeTable: 'void *GDALCreateRasterAttributeTable()',
  GDALDestroyRasterAttributeTable: 'void GDALDestroyRasterAttributeTable(void *hRAT)',
  GDALRATClone: 'void *GDALRATClone(void *hRAT)',
  GDALRATGetColumnCount: 'int GDALRATGetColumnCount(void *hRAT)',
  GDALRATGetNameOfCol: 'const char *GDALRATGetNameOfCol(void *hRAT, int iCol)',
  GDALRATGetUsageOfCol: 'int GDALRATGetUsageOfCol(void *hRAT, int iCol)',
  GDALRATGetTypeOfCol: 'int GDALRATGetTypeOfCol(void *hRAT, int iCol)',
  GDALRATGetRowCount: 'int GDALRATGetRowCount(void *hRAT)',
  GDALRATSetRowCount: 'void GDALRATSetRowCount(void *hRAT, int nNewCount)',
  GDALRATCreateColumn: 'int GDALRATCreateColumn(void *hRAT, const char *pszFieldName, int eFieldType, int eFieldUsage)',
  GDALRATChangesAreWrittenToFile: 'int GDALRATChangesAreWrittenToFile(void *hRAT)',
  GDALRATSetLinearBinning: 'int GDALRATSetLinearBinning(void *hRAT, double dfRow0Min, double dfBinSize)',
  GDALRATGetLinearBinning: 'int GDALRATGetLinearBinning(void *hRAT, _Out_ double *pdfRow0Min, _Out_ double *pdfBinSize)',
  GDALRATValuesIOAsDouble: 'int GDALRATValuesIOAsDouble(void *hRAT, int eRWFlag, int iField, int iStartRow, int iLength, _Inout_ double *pdfData)',
  GDALRATValuesIOAsInteger: 'int GDALRATValuesIOAsInteger(void *hRAT, int eRWFlag, int iField, int iStartRow, int iLength, _Inout_ int *pnData)',
  GDALRATGetValueAsString: 'const char *GDALRATGetValueAsString(void *hRAT, int iRow, int iField)',
  GDALRATSetValueAsString: 'void GDALRATSetValueAsString(void *hRAT, int iRow, int iField, const char *pszValue)',
  CPLGetLastErrorMsg: 'const char *CPLGetLastErrorMsg()',
  CPLErrorReset: 'void CPLErrorReset()',
};

/** GDALOpenEx flags (gdal.h). */
export const GDAL_OF = { READONLY: 0x00, UPDATE: 0x01, RASTER: 0x02, VERBOSE_ERROR: 0x40 } as const;
/** GDALRWFlag. */
export const GF_READ = 0;
export const GF_WRITE = 1;
/** CPLErr: CE_None. */
export const CE_NONE = 0;

/**
 * The libgdal this process has loaded (gdal-async's, when built against the system GDAL).
 * @throws {GdalError} when gdal-async carries a GDAL of its own inside its addon: there is no
 * shared library to bind, and a second GDAL would not see the first's open files.
 */
export function loadedLibgdal(maps = readFileSync('/proc/self/maps', 'utf8')): string {
  const paths = new Set(
    maps
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[5])
      .filter((p): p is string => p !== undefined && /\/libgdal\.so(\.\d+)*$/.test(p)),
  );
  if (paths.size === 0) {
    throw new GdalError(
      'raster attribute tables need the shared libgdal that gdal-async uses, and none is loaded: this gdal-async carries a GDAL of its own. ' +
        'Reinstall it built against the system GDAL: npm_config_build_from_source=true npm_config_shared_gdal=true npm rebuild gdal-async',
    );
  }
  if (paths.size > 1) throw new GdalError(`more than one libgdal is loaded in this process (${[...paths].join(', ')}): cannot tell which gdal-async uses`);
  return [...paths][0]!;
}

let api: RatApi | undefined;

/** The bound functions (gdal-async loaded first, so that its libgdal is the one bound). */
export function ratApi(): RatApi {
  if (api) return api;
  loadGdal();
  const lib = requireKoffi().load(loadedLibgdal());
  const bound: Record<string, unknown> = {};
  for (const [name, sig] of Object.entries(SIGNATURES)) bound[name] = lib.func(sig);
  api = bound as unknown as RatApi;
  return api;
}
