// Coordinate-wise rules over a DeltaSet: weighted mean, median, trimmed mean, the inner-product (Gram) matrix,
// and the coordinate-wise median's inner products with each delta (for the cosine filter).
// 20M coordinates x 10 updates is the working size: per coordinate the n values go into a reused Float64Array
// by insertion sort (n is small, no allocation, no boxed numbers), and every pass walks each tensor once.
import type { DeltaSet } from './delta-set.ts'

const CHUNK = 2048 // coordinates per block in the blocked passes (n x CHUNK float64 stays in L1/L2)

/** out[s] = base[s] + sum_i weights[i] * delta_i[s]; weights should sum to 1 (they are used as given). */
export function weightedMeanInto (set: DeltaSet, weights: ArrayLike<number>, out: Float32Array[]): void {
  const n = set.rows.length
  const coef = new Float64Array(n)
  let coefBase = 1
  for (let i = 0; i < n; i++) { coef[i] = weights[i] * set.scales[i]; coefBase -= coef[i] }
  const acc = new Float64Array(CHUNK)
  for (let s = 0; s < set.base.length; s++) {
    const base = set.base[s]; const o = out[s]
    for (let k0 = 0; k0 < base.length; k0 += CHUNK) {
      const len = Math.min(CHUNK, base.length - k0)
      for (let k = 0; k < len; k++) acc[k] = coefBase * base[k0 + k]
      for (let i = 0; i < n; i++) {
        const row = set.rows[i][s]; const c = coef[i]
        if (c === 0) continue
        for (let k = 0; k < len; k++) acc[k] += c * row[k0 + k]
      }
      for (let k = 0; k < len; k++) o[k0 + k] = acc[k]
    }
  }
}

/** How many values a trimmed mean drops at each end: floor(beta * n), but always keeping at least one value. */
export function trimCount (n: number, beta: number): number {
  return Math.min(Math.floor(beta * n + 1e-9), Math.floor((n - 1) / 2))
}

export interface OrderStatisticOptions {
  /** 'median', or 'trimmed' with `trim` values dropped at each end */
  readonly rule: 'median' | 'trimmed'
  readonly trim?: number
  /** where to write base + statistic (one array per segment); omit to only collect `dots` */
  readonly out?: Float32Array[]
  /** when given (length n), receives sum_k delta_i[k] * stat[k] for each i; returns sum_k stat[k]^2 */
  readonly dots?: Float64Array
}

/**
 * One pass computing a coordinate-wise order statistic of the deltas (median or trimmed mean), written as
 * base + statistic, and optionally every delta's inner product with it. Returns the squared norm of the statistic.
 */
export function orderStatisticPass (set: DeltaSet, opts: OrderStatisticOptions): number {
  const n = set.rows.length
  if (n === 0) throw new RangeError('orderStatisticPass: no updates')
  const trim = opts.rule === 'median' ? 0 : (opts.trim ?? 0)
  if (trim < 0 || 2 * trim >= n) throw new RangeError(`orderStatisticPass: cannot trim ${trim} at each end of ${n} values`)
  const sorted = new Float64Array(n)
  const vals = new Float64Array(n)
  const sc = Float64Array.from({ length: n }, (_, i) => set.scales[i])
  const dots = opts.dots
  if (dots !== undefined) dots.fill(0)
  const lo = trim; const hi = n - trim; const inv = 1 / (hi - lo)
  const mid = n >> 1; const even = (n & 1) === 0
  let statSq = 0
  for (let s = 0; s < set.base.length; s++) {
    const base = set.base[s]
    const rows = set.rows.map((r) => r[s])
    const out = opts.out?.[s]
    for (let k = 0; k < base.length; k++) {
      const b = base[k]
      // insertion sort of the n deltas at this coordinate into `sorted`
      for (let i = 0; i < n; i++) {
        const v = (rows[i][k] - b) * sc[i]
        vals[i] = v
        let j = i
        while (j > 0 && sorted[j - 1] > v) { sorted[j] = sorted[j - 1]; j-- }
        sorted[j] = v
      }
      let stat: number
      if (opts.rule === 'median') {
        stat = even ? 0.5 * (sorted[mid - 1] + sorted[mid]) : sorted[mid]
      } else {
        let t = 0
        for (let i = lo; i < hi; i++) t += sorted[i]
        stat = t * inv
      }
      if (out !== undefined) out[k] = b + stat
      if (dots !== undefined) {
        statSq += stat * stat
        for (let i = 0; i < n; i++) dots[i] += vals[i] * stat
      }
    }
  }
  return statSq
}

/** The n x n matrix of inner products <delta_i, delta_j> (row-major, symmetric), in float64, blocked by CHUNK. */
export function deltaGram (set: DeltaSet): Float64Array {
  const n = set.rows.length
  const gram = new Float64Array(n * n)
  const block = new Float64Array(n * CHUNK)
  for (let s = 0; s < set.base.length; s++) {
    const base = set.base[s]
    for (let k0 = 0; k0 < base.length; k0 += CHUNK) {
      const len = Math.min(CHUNK, base.length - k0)
      for (let i = 0; i < n; i++) {
        const row = set.rows[i][s]; const c = set.scales[i]; const o = i * CHUNK
        for (let k = 0; k < len; k++) block[o + k] = (row[k0 + k] - base[k0 + k]) * c
      }
      for (let i = 0; i < n; i++) {
        const oi = i * CHUNK
        for (let j = i; j < n; j++) {
          const oj = j * CHUNK
          let t0 = 0; let t1 = 0; let k = 0
          for (; k + 1 < len; k += 2) { t0 += block[oi + k] * block[oj + k]; t1 += block[oi + k + 1] * block[oj + k + 1] }
          if (k < len) t0 += block[oi + k] * block[oj + k]
          gram[i * n + j] += t0 + t1
        }
      }
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) gram[i * n + j] = gram[j * n + i]
  return gram
}
