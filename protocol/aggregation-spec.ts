// How a job's aggregator combines the round's updates: a pipeline validate -> clip -> filter -> combine.
// Pure data, part of the job spec (so every peer agrees on it and it is covered by the job id).

export type ClipSpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'fixed', readonly bound: number } // scale each update delta to norm <= bound
  | { readonly kind: 'median', readonly multiple: number } // bound = multiple x median norm of the round

export type FilterSpec =
  | { readonly kind: 'norm', readonly multiple: number } // drop deltas with norm > multiple x median norm
  | { readonly kind: 'cosine', readonly maxDistance: number } // drop deltas with cosine distance to the coordinate-wise median > maxDistance
  | { readonly kind: 'krum', readonly f: number, readonly keep: number } // Multi-Krum: keep the `keep` best (keep = 1 is Krum), assuming f byzantine

export type CombineSpec =
  | { readonly kind: 'mean' } // sample-weighted mean (FedAvg)
  | { readonly kind: 'median' } // coordinate-wise median
  | { readonly kind: 'trimmed-mean', readonly beta: number } // drop the beta fraction at each end, per coordinate

export interface AggregationSpec {
  /** 'factors': average A and B separately (the paper's FedAvg); 'product': average B·A and re-factor to rank r by truncated SVD */
  readonly space: 'factors' | 'product'
  readonly clip: ClipSpec
  readonly filters: readonly FilterSpec[]
  readonly combine: CombineSpec
  /** peers may train adapters of different ranks (only with space 'product') */
  readonly allowMixedRanks: boolean
}

/** The paper's rule, for reproducing FedIT. */
export const FEDAVG: AggregationSpec = { space: 'factors', clip: { kind: 'none' }, filters: [], combine: { kind: 'mean' }, allowMixedRanks: false }

/** The default for open networks: clip to 3x the median norm, drop norm and direction outliers, trimmed mean. */
export const ROBUST_DEFAULT: AggregationSpec = {
  space: 'factors',
  clip: { kind: 'median', multiple: 3 },
  filters: [{ kind: 'norm', multiple: 3 }, { kind: 'cosine', maxDistance: 1 }],
  combine: { kind: 'trimmed-mean', beta: 0.2 },
  allowMixedRanks: false
}
