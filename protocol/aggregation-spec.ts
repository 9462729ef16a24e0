// How a job's aggregator combines the round's updates: a pipeline validate -> clip -> filter -> combine.
// Pure data, part of the job spec (so every peer agrees on it and it is covered by the job id).

export type ClipSpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'fixed', readonly bound: number } // scale each update delta to norm <= bound
  // bound = multiple x median norm of the round; with mads, at most median + mads x the norms' spread (1.4826 MAD,
  // the standard deviation of a normal sample): honest norms cluster, so the bound follows them instead of 3x
  | { readonly kind: 'median', readonly multiple: number, readonly mads?: number }

export type FilterSpec =
  // drop deltas with norm > multiple x median norm, and (when set) norm < minMultiple x median norm (free riders
  // sending nothing). Judges the norm as sent, before clipping (a clip at the same multiple would otherwise hide
  // every outlier).
  | { readonly kind: 'norm', readonly multiple: number, readonly minMultiple?: number }
  // drop deltas with cosine distance to the coordinate-wise median > maxDistance, and (with mads) cosine below the
  // round's median cosine - mads x the cosines' spread (1.4826 MAD)
  | { readonly kind: 'cosine', readonly maxDistance: number, readonly mads?: number }
  // Multi-Krum: keep the `keep` best (keep = 1 is Krum), assuming f byzantine
  | { readonly kind: 'krum', readonly f: number, readonly keep: number }
  // drop every update of a group whose pairwise cosine similarity is >= maxCosine: honest peers train on different
  // data and never send near-copies, Sybils copying one crafted update do
  | { readonly kind: 'duplicate', readonly maxCosine: number }
  // FoolsGold-style, across rounds: drop peers whose residuals (delta - the round's median), summed over the job's
  // earlier rounds, point the same way as another peer's (cosine >= maxCosine after minRounds): a bias repeated
  // every round by colluders. Needs the history the aggregator keeps for the job (AggregationContext.history).
  | { readonly kind: 'history', readonly maxCosine: number, readonly minRounds: number }

export type CombineSpec =
  | { readonly kind: 'mean' } // sample-weighted mean (FedAvg)
  | { readonly kind: 'median' } // coordinate-wise median
  | { readonly kind: 'trimmed-mean', readonly beta: number } // drop the beta fraction at each end, per coordinate

export interface AggregationSpec {
  /** 'factors': average A and B separately (the paper's FedAvg); 'product': average B·A and re-factor to rank r by
   * truncated SVD.
   * 'product' supports clip, the norm and krum filters and the mean combine (median, trimmed mean and cosine need every
   * coordinate of the dense [out, in] deltas, which is what product space avoids building). */
  readonly space: 'factors' | 'product'
  readonly clip: ClipSpec
  readonly filters: readonly FilterSpec[]
  readonly combine: CombineSpec
  /** peers may train adapters of different ranks (only with space 'product'; the result has the job's rank) */
  readonly allowMixedRanks: boolean
  /** the threat: the fraction of a round's trainers that may be Byzantine (absent: 0). The order statistics trim
   * at least ceil(f·n) per side, Krum assumes at least ceil(f·n), mean weights are clamped to the round's median
   * sample claim, and a job needs at least 2·ceil(f·peersPerRound) + 1 trainers per round. */
  readonly f?: number
}

/** How many of n updates a spec with threat fraction f must assume hostile. */
export function byzantineCount (n: number, f: number | undefined): number {
  return f === undefined || f <= 0 ? 0 : Math.ceil(f * n - 1e-9)
}

/** Why a round of `perRound` trainers cannot hold the spec's threat, or undefined when it can. */
export function threatUnholdable (spec: AggregationSpec, perRound: number): string | undefined {
  const b = byzantineCount(perRound, spec.f)
  if (b === 0 || perRound >= 2 * b + 1) return undefined
  return `tolerating f = ${spec.f} (${b} hostile of ${perRound}) needs at least ${2 * b + 1} trainers per round: ` +
    `${perRound === 2 ? 'two disagreeing updates exclude each other and the round fails' : 'the hostile could tie or ' +
      'outnumber the honest'}`
}

/** The paper's rule, for reproducing FedIT. */
export const FEDAVG: AggregationSpec = { space: 'factors', clip: { kind: 'none' }, filters: [],
  combine: { kind: 'mean' }, allowMixedRanks: false }

/** The default for open networks, tolerating a quarter of each round's trainers hostile (f 0.25; chosen by
 * measurement, see docs/performance.md): drop norm outliers (above 3x or below 0.1x the median); drop near-copies
 * (cosine >= 0.99; after the norm filter, so a scaled copy of an honest update does not take the original with it);
 * drop updates pointing away from the coordinate-wise median (cosine distance > 1; a bound at the round's median
 * cosine - 3 spreads also exists, but excluded 10% of honest peers on the category split); drop colluders whose
 * residuals agree across rounds (cosine >= 0.3: a drift must spread thinner than under 0.5, and a backdoor's
 * poisoned training is caught; honest peers sharing a data category reached 0.22, so 0.2 is only for IID jobs);
 * clip to the smaller of 3x the median norm and median + 3 spreads; trimmed mean dropping at least ceil(f·n) at
 * each end. */
export const ROBUST_DEFAULT: AggregationSpec = {
  space: 'factors',
  clip: { kind: 'median', multiple: 3, mads: 3 },
  filters: [
    { kind: 'norm', multiple: 3, minMultiple: 0.1 }, { kind: 'duplicate', maxCosine: 0.99 },
      { kind: 'cosine', maxDistance: 1 },
    { kind: 'history', maxCosine: 0.3, minRounds: 1 }
  ],
  combine: { kind: 'trimmed-mean', beta: 0.2 },
  allowMixedRanks: false,
  f: 0.25
}
