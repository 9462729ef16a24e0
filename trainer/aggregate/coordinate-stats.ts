// Coordinate-wise rules over a DeltaSet: weighted mean, median, trimmed mean, the inner-product (Gram) matrix,
// and the coordinate-wise median's inner products with each delta (for the cosine filter).
// 20M coordinates x 10 updates is the working size: each pass walks every tensor once in blocks of CHUNK
// coordinates, gathering the n deltas into reused typed arrays (no allocation, no boxed numbers); order
// statistics rank each coordinate's n values branch-free (rank-kernel.ts).
import type { DeltaSet } from './delta-set.ts'
import { rankKernel, sortKeys } from './rank-kernel.ts'

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

/** A coordinate-wise order statistic as weights over ranks 0..n-1. */
export type OrderRule = { readonly rule: 'median' } | { readonly rule: 'trimmed', readonly trim: number }

/** Weight of the value of each rank: the median (mean of the middle two for even n), or the trimmed mean. */
export function rankWeights (n: number, r: OrderRule): Float64Array {
  const w = new Float64Array(n)
  if (r.rule === 'median') {
    if ((n & 1) === 1) w[n >> 1] = 1
    else { w[n / 2 - 1] = 0.5; w[n / 2] = 0.5 }
    return w
  }
  if (!(r.trim >= 0 && 2 * r.trim < n)) throw new RangeError(`cannot trim ${r.trim} at each end of ${n} values`)
  w.fill(1 / (n - 2 * r.trim), r.trim, n - r.trim)
  return w
}

export interface OrderStatisticOptions {
  readonly stat: OrderRule
  /** where to write base + statistic (one array per segment); omit to only collect `dots` */
  readonly out?: Float32Array[]
  /** when given (length n), receives sum_k delta_i[k] * stat[k] for each i */
  readonly dots?: Float64Array
  /** a second statistic from the same ranks (e.g. the combine rule while the cosine filter needs the median) */
  readonly second?: { readonly stat: OrderRule, readonly out: Float32Array[] }
}

/**
 * One pass computing a coordinate-wise order statistic of the deltas (median or trimmed mean), written as
 * base + statistic, optionally a second one from the same ranks, and optionally every delta's inner product
 * with the first. Returns the squared norm of the first statistic.
 */
export function orderStatisticPass (set: DeltaSet, opts: OrderStatisticOptions): number {
  const n = set.rows.length
  if (n === 0) throw new RangeError('orderStatisticPass: no updates')
  const w1 = rankWeights(n, opts.stat)
  const w2 = opts.second !== undefined ? rankWeights(n, opts.second.stat) : w1
  const kernel = rankKernel(n)
  const C = CHUNK
  const blk = new Float64Array(C * n); const f32 = new Float32Array(C * n); const bits = new Int32Array(f32.buffer)
  const key = new Int32Array(C * n); const res1 = new Float64Array(C); const res2 = new Float64Array(C)
  const dots = opts.dots
  if (dots !== undefined) dots.fill(0)
  let statSq = 0
  for (let s = 0; s < set.base.length; s++) {
    const base = set.base[s]
    const out1 = opts.out?.[s]; const out2 = opts.second?.out[s]
    for (let k0 = 0; k0 < base.length; k0 += C) {
      const len = Math.min(C, base.length - k0)
      // gather: blk[k*n + i] = delta_i at coordinate k0 + k (float64), and its float32 copy for the keys
      for (let i = 0; i < n; i++) {
        const row = set.rows[i][s]; const sc = set.scales[i]
        for (let k = 0; k < len; k++) {
          const v = (row[k0 + k] - base[k0 + k]) * sc
          blk[k * n + i] = v
          f32[k * n + i] = v
        }
      }
      sortKeys(bits, key, len * n)
      kernel(blk, key, len, w1, res1, w2, res2)
      if (out1 !== undefined) for (let k = 0; k < len; k++) out1[k0 + k] = base[k0 + k] + res1[k]
      if (out2 !== undefined) for (let k = 0; k < len; k++) out2[k0 + k] = base[k0 + k] + res2[k]
      if (dots !== undefined) {
        for (let k = 0; k < len; k++) statSq += res1[k] * res1[k]
        for (let i = 0; i < n; i++) {
          let t = 0
          for (let k = 0; k < len; k++) t += blk[k * n + i] * res1[k]
          dots[i] += t
        }
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
          for (; k + 1 < len; k += 2) {
            t0 += block[oi + k] * block[oj + k]
            t1 += block[oi + k + 1] * block[oj + k + 1]
          }
          if (k < len) t0 += block[oi + k] * block[oj + k]
          gram[i * n + j] += t0 + t1
        }
      }
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) gram[i * n + j] = gram[j * n + i]
  return gram
}
