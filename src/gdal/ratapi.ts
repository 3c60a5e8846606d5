/**
 * The `rat` namespace riots exports (RIOS's `rios.rat`): raster attribute table columns
 * (rat.ts) and colour tables (colortable.ts).
 */
export * from './rat.js';
export { COLOR_TABLE_TYPES, genColorTable, getColorTable, setColorTable, type ColorRow, type ColorTableType } from './colortable.js';
