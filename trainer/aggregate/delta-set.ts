// A round's updates seen as deltas against the global adapter, tensor by tensor, without building them:
// delta_i[k] = scales[i] * (rows[i][s][k] - base[s][k]). Every factor-space rule reads this view, so clipping
// is a number per update and no 20M-value copy is ever made per peer.

export interface DeltaSet {
  /** the global adapter's values, one array per tensor ("segment"), in a fixed tensor order */
  readonly base: readonly Float32Array[]
  /** rows[i][s]: update i's values of segment s (same lengths as base) */
  readonly rows: readonly (readonly Float32Array[])[]
  /** per update: clip factor applied to its delta (1 = as sent) */
  readonly scales: ArrayLike<number>
}

/**
 * Sum of squares of (row - base) in float64; NaN or Infinity exactly when some value of row (or base) is not finite.
 */
export function sumSquaresOfDifference (row: Float32Array, base: Float32Array): number {
  let s0 = 0; let s1 = 0
  const n = row.length
  let k = 0
  for (; k + 1 < n; k += 2) {
    const a = row[k] - base[k]; const b = row[k + 1] - base[k + 1]
    s0 += a * a; s1 += b * b
  }
  if (k < n) { const a = row[k] - base[k]; s0 += a * a }
  return s0 + s1
}

/** Index of the first value that is NaN or infinite, or -1. */
export function firstNonFinite (data: Float32Array): number {
  for (let k = 0; k < data.length; k++) if (!Number.isFinite(data[k])) return k
  return -1
}
