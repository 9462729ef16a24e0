// The clip and filter rules as pure math over per-update numbers (norms, inner products): no tensors here, so
// they serve factor space and product space alike and are checked on hand-computed cases.
import type { ClipSpec, FilterSpec } from '../../protocol/aggregation-spec.ts'
import { DecisionKind, fmt } from './decision-kind.ts'

export interface Exclusion {
  readonly index: number // into the array the rule was given
  readonly kind: DecisionKind
  readonly reason: string
}

/** Median of a list (mean of the middle two for an even count); NaN for an empty list. */
export function median (xs: ArrayLike<number>): number {
  const a = Float64Array.from(xs).sort()
  const n = a.length
  if (n === 0) return NaN
  return (n & 1) === 1 ? a[n >> 1] : 0.5 * (a[n / 2 - 1] + a[n / 2])
}

export interface ClipOutcome {
  /** factor per update (1 = untouched) */
  readonly scales: Float64Array
  /** reason per update, for those clipped */
  readonly reasons: readonly (string | undefined)[]
}

/** 1.4826 x the median absolute deviation from med: a normal sample's standard deviation, robust to outliers. */
export function spread (xs: ArrayLike<number>, med = median(xs)): number {
  return 1.4826 * median(Float64Array.from(xs, (x) => Math.abs(x - med)))
}

/** Scale each delta down to at most the bound: fixed, or `multiple` x the median norm of these updates. */
export function clipScales (norms: ArrayLike<number>, spec: ClipSpec): ClipOutcome {
  const n = norms.length
  const scales = new Float64Array(n).fill(1)
  const reasons: (string | undefined)[] = new Array(n).fill(undefined)
  if (spec.kind === 'none' || n === 0) return { scales, reasons }
  const med = spec.kind === 'median' ? median(norms) : NaN
  let bound = spec.kind === 'fixed' ? spec.bound : spec.multiple * med
  let why = spec.kind === 'fixed' ? `fixed bound ${fmt(bound)}` : `${spec.multiple} x median ${fmt(med)}`
  if (spec.kind === 'median' && spec.mads !== undefined) {
    const sd = spread(norms, med)
    if (med + spec.mads * sd < bound) {
      bound = med + spec.mads * sd
      why = `median ${fmt(med)} + ${spec.mads} x spread ${fmt(sd)}`
    }
  }
  for (let i = 0; i < n; i++) {
    if (norms[i] > bound && norms[i] > 0) {
      scales[i] = bound / norms[i]
      reasons[i] = `clipped norm ${fmt(norms[i])} to ${fmt(bound)} (${why})`
    }
  }
  return { scales, reasons }
}

/** Drop deltas whose norm (as sent) is above multiple x median, or below minMultiple x median. */
export function normOutliers (norms: ArrayLike<number>, spec: Extract<FilterSpec, { kind: 'norm' }>): Exclusion[] {
  const med = median(norms)
  const out: Exclusion[] = []
  for (let i = 0; i < norms.length; i++) {
    if (norms[i] > spec.multiple * med) {
      out.push({ index: i, kind: DecisionKind.NormTooLarge,
        reason: `norm ${fmt(norms[i])} > ${spec.multiple} x median ${fmt(med)}` })
    } else if (spec.minMultiple !== undefined && norms[i] < spec.minMultiple * med) {
      out.push({ index: i, kind: DecisionKind.NormTooSmall,
        reason: `norm ${fmt(norms[i])} < ${spec.minMultiple} x median ${fmt(med)}` })
    }
  }
  return out
}

/**
 * Drop deltas pointing away from a robust centre: cosine distance 1 - <d_i, c> / (|d_i| |c|) > maxDistance.
 * A zero delta or a zero centre has no direction: distance 1 (orthogonal).
 */
export function cosineOutliers (dots: ArrayLike<number>, norms: ArrayLike<number>, centreNorm: number,
  spec: Extract<FilterSpec, { kind: 'cosine' }>, centreName = 'the coordinate-wise median'): Exclusion[] {
  const out: Exclusion[] = []
  const cos = Float64Array.from(dots, (d, i) => norms[i] * centreNorm > 0 ? d / (norms[i] * centreNorm) : 0)
  const med = median(cos)
  const low = spec.mads !== undefined ? med - spec.mads * spread(cos, med) : -Infinity
  for (let i = 0; i < dots.length; i++) {
    const dist = 1 - cos[i]
    if (dist > spec.maxDistance) {
      out.push({ index: i, kind: DecisionKind.CosineOutlier,
        reason: `cosine distance ${fmt(dist)} to ${centreName} > ${spec.maxDistance}` })
    } else if (cos[i] < low) {
      out.push({ index: i, kind: DecisionKind.CosineOutlier,
        reason: `cosine ${fmt(cos[i])} to ${centreName} < median ${fmt(med)} - ${spec.mads} x spread` })
    }
  }
  return out
}

/**
 * Multi-Krum (Blanchard et al. 2017): score_i = sum of squared distances to its m - f - 2 nearest others
 * (at least 1); keep the `keep` lowest scores (keep = 1 is Krum). `gram` is the m x m inner-product matrix.
 * Ties go to the smaller `order` key, so the outcome does not depend on arrival order.
 */
export function krumOutliers (gram: ArrayLike<number>, m: number, spec: Extract<FilterSpec, { kind: 'krum' }>,
  order: readonly string[]): Exclusion[] {
  if (m <= spec.keep) return []
  const neighbours = Math.min(m - 1, Math.max(1, m - spec.f - 2))
  const scores = new Float64Array(m)
  const d = new Float64Array(m - 1)
  for (let i = 0; i < m; i++) {
    let t = 0
    for (let j = 0; j < m; j++) {
      if (j === i) continue
      d[t++] = Math.max(0, gram[i * m + i] + gram[j * m + j] - 2 * gram[i * m + j])
    }
    d.sort()
    let s = 0
    for (let j = 0; j < neighbours; j++) s += d[j]
    scores[i] = s
  }
  const rank = [...Array(m).keys()].sort((a, b) => scores[a] - scores[b] ||
    (order[a] < order[b] ? -1 : order[a] > order[b] ? 1 : a - b))
  const out: Exclusion[] = []
  rank.forEach((i, pos) => {
    if (pos >= spec.keep) {
      out.push({ index: i, kind: DecisionKind.KrumRejected,
        reason: `krum score ${fmt(scores[i])} ranks ${pos + 1} of ${m} (keeping ${spec.keep}, f=${spec.f})` })
    }
  })
  return out.sort((a, b) => a.index - b.index)
}

/**
 * Near-copies: every update whose cosine similarity with another is >= maxCosine (from the m x m Gram matrix).
 * Honest peers train on different data and never agree that closely; Sybils sending one crafted update do, and
 * would otherwise outvote any trim smaller than their number. A zero delta has no direction and is never a copy.
 */
export function nearCopies (gram: ArrayLike<number>, m: number, maxCosine: number,
  order: readonly string[]): Exclusion[] {
  const out: Exclusion[] = []
  for (let i = 0; i < m; i++) {
    let best = -Infinity; let partner = -1
    for (let j = 0; j < m; j++) {
      const d = gram[i * m + i] * gram[j * m + j]
      if (j === i || !(d > 0)) continue
      const c = gram[i * m + j] / Math.sqrt(d)
      if (c > best) { best = c; partner = j }
    }
    if (partner >= 0 && best >= maxCosine) {
      out.push({ index: i, kind: DecisionKind.NearCopy,
        reason: `near-copy of ${order[partner]}'s update (cosine ${fmt(best)} >= ${maxCosine})` })
    }
  }
  return out
}
