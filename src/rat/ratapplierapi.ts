/**
 * The `ratapplier` namespace riots exports (RIOS's `rios.ratapplier`): `apply`, `copyRAT`, the
 * row count methods and the types of tables, controls and state.
 */
export { apply, copyRAT, type RatApplyOptions, type RatUserFunction } from './ratapplier.js';
export {
  RatApplierState,
  RCM_EQUALS_INPUT,
  RCM_FIXED,
  RCM_INCREMENT,
  type RatApplierControls,
  type RatAssociations,
  type RatHandle,
  type RatProgress,
  type RowCountMethod,
} from './ratcontrols.js';
export type { RatColumnBlock, RatColumns } from './ratblocks.js';
