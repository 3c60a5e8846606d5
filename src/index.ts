/**
 * riots: raster block processing for TypeScript, in the model of RIOS.
 * The public API only; a test snapshots these names.
 */
export { apply, type ApplyOptions, type ApplierReturn } from './applier/apply.js';
export { WORKER_EVENTS, type WorkerEvent } from './workers/pool/events.js';
export { ReaderInfo, type InfoContext } from './readerinfo.js';
export type { FilenameAssociations } from './reader/inputs.js';
export { Timings, formatTimingsReport } from './timings.js';
export { Block, isBigIntBlock, type AnyBlock, type BlockAssociations } from './block.js';
export { ApplierControls, type ControlsInput, type ImageControls, type GlobalControls, type Footprint, type ResampleMethod } from './controls.js';
export { DATA_TYPES, type DataType, type NumberDataType, type BigIntDataType, type TypedArrayFor } from './dtypes.js';
export { PixelGrid, type PixelGridSpec, type GeoTransform, type Bounds } from './grid.js';
export { pixelGridFromFile } from './gdal/gridio.js';
export * as rat from './gdal/ratapi.js';
export * as ratapplier from './rat/ratapplierapi.js';
export * as fileinfo from './gdal/fileinfoapi.js';
export { calcClassStats, CLASS_STATS, type ClassStats, type ClassStatsOptions, type ClassStatName } from './rat/classstats.js';
export {
  ConcurrencyStyle,
  type ConcurrencyStyleInit,
  type ComputeWorkerKind,
  CW_NONE,
  CW_THREADS,
  CW_SUBPROC,
  CW_AWSBATCH,
  CW_ECS,
  CW_SLURM,
  CW_PBS,
} from './concurrency.js';
export { makeExtraParamsFargate, makeExtraParamsPrivateCluster, type FargateOptions, type PrivateClusterOptions } from './workers/kinds/ecshelpers.js';
export { defineUserFunction, isComputeWorker, computeWorkerId, type UserFunction, type UserFunctionRef, type UserFunctionSpec } from './userfunction.js';
export * from './errors.js';
