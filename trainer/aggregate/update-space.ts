// The geometry the pipeline works in. Factor space: the deltas of the A and B tensors, flattened across all
// tensors. Product space: the deltas of the (alpha/r)·B·A products, module by module. The pipeline only asks
// for norms, inner products, a robust centre and a combine, so its rules do not care which space it is.
import type { CombineSpec } from '../../protocol/aggregation-spec.ts'
import type { Adapter } from '../lora/adapter.ts'

export interface UpdateSpace {
  /** per update: the norm of its delta as sent (NaN where nonFinite says why) */
  readonly norms: Float64Array
  /** per update: why its values are unusable (a NaN or infinity, and where), or undefined */
  readonly nonFinite: readonly (string | undefined)[]
  /** m x m inner products <scales_i·delta_i, scales_j·delta_j> over the members (indices into the updates) */
  gram (members: readonly number[], scales: ArrayLike<number>): Float64Array
  /**
   * the coordinate-wise median of the members' scaled deltas, each member's inner product with it and its norm;
   * undefined in a space that cannot afford it. `next`: the combine rule likely to follow, which the space may
   * compute in the same pass and reuse if combine() is then called with the same members and scales
   */
  medianDots?: (members: readonly number[], scales: ArrayLike<number>, next?: CombineSpec) => { dots: Float64Array,
    centreNorm: number }
  /** count sketch (history.ts) of update i's delta times scale; undefined in a space without flat deltas */
  sketch?: (i: number, scale: number) => Float64Array
  /** global + the rule applied to the members' scaled deltas; weights (per member, summing to 1) are used by 'mean' */
  combine (members: readonly number[], scales: ArrayLike<number>, weights: ArrayLike<number>,
    rule: CombineSpec): Adapter
}
