// How a job's aggregator combines the round's updates: a pipeline validate -> clip -> filter -> combine.
// Pure data, part of the job spec (so every peer agrees on it and it is covered by the job id).

export type ClipSpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'fixed', readonly bound: number } // scale each update delta to norm <= bound
  | { readonly kind: 'median', readonly multiple: number } // bound = multiple x median norm of the round

export type FilterSpec =
  // drop deltas with norm > multiple x median norm, and (when set) norm < minMultiple x median norm (free riders
  // sending nothing). Judges the norm as sent, before clipping (a clip at the same multiple would otherwise hide
  // every outlier).
  | { readonly kind: 'norm', readonly multiple: number, readonly minMultiple?: number }
  // drop deltas with cosine distance to the coordinate-wise median > maxDistance
  | { readonly kind: 'cosine', readonly maxDistance: number }
  // Multi-Krum: keep the `keep` best (keep = 1 is Krum), assuming f byzantine
  | { readonly kind: 'krum', readonly f: number, readonly keep: number }

export type CombineSpec =
  | { readonly kind: 'mean' } // sample-weighted mean (FedAvg)
  | { readonly kind: 'median' } // coordinate-wise median
  | { readonly kind: 'trimmed-mean', readonly beta: number } // drop the beta fraction at each end, per coordinate

export interface AggregationSpec {
  /**
   * 'factors': average A and B separately (the paper's FedAvg); 'product': average B·A and re-factor to rank r
   * by truncated SVD. 'product' supports clip, the norm and krum filters and the mean combine (median, trimmed
   * mean and cosine need every coordinate of the dense [out, in] deltas, which is what product space avoids
   * building).
   */
  readonly space: 'factors' | 'product'
  readonly clip: ClipSpec
  readonly filters: readonly FilterSpec[]
  readonly combine: CombineSpec
  /** peers may train adapters of different ranks (only with space 'product'; the result has the job's rank) */
  readonly allowMixedRanks: boolean
}

/** The paper's rule, for reproducing FedIT. */
export const FEDAVG: AggregationSpec = {
  space: 'factors', clip: { kind: 'none' }, filters: [], combine: { kind: 'mean' }, allowMixedRanks: false
}

/**
 * The default for open networks: clip to 3x the median norm, drop norm outliers (above 3x or below 0.1x the
 * median), drop updates pointing away from the coordinate-wise median (cosine distance > 1), trimmed mean
 * dropping 20% at each end.
 */
export const ROBUST_DEFAULT: AggregationSpec = {
  space: 'factors',
  clip: { kind: 'median', multiple: 3 },
  filters: [{ kind: 'norm', multiple: 3, minMultiple: 0.1 }, { kind: 'cosine', maxDistance: 1 }],
  combine: { kind: 'trimmed-mean', beta: 0.2 },
  allowMixedRanks: false
}
