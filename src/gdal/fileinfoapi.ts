/**
 * The `fileinfo` namespace riots exports (RIOS's `rios.fileinfo`): imageInfo, imageFileStats,
 * ratStats.
 */
export { imageInfo, imageFileStats, ratStats, type ImageInfo, type ImageLayerStats, type ColumnStats, type RatStatsOptions } from './fileinfo.js';
