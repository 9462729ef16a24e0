import { test } from 'node:test'
import assert from 'node:assert/strict'
import { deltaGram, orderStatisticPass, rankWeights, trimCount,
  weightedMeanInto } from '../../../trainer/aggregate/coordinate-stats.ts'
import type { DeltaSet } from '../../../trainer/aggregate/delta-set.ts'
import { sumSquaresOfDifference, firstNonFinite } from '../../../trainer/aggregate/delta-set.ts'
import { rng } from './fixtures.ts'

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs)
// base (1, 1 | 0); updates as values (two segments)
const set = (scales = [1, 1, 1, 1, 1]): DeltaSet => ({
  base: [f32(1, 1), f32(0)],
  rows: [[f32(2, 1), f32(5)], [f32(3, 0), f32(-1)], [f32(1, 4), f32(2)], [f32(100, 1), f32(0)], [f32(-7, 2), f32(1)]],
  scales
})

test('weighted mean of deltas, added to the base', () => {
  const out = [new Float32Array(2), new Float32Array(1)]
  const s: DeltaSet = { base: [f32(1, 1), f32(0)], rows: [[f32(3, 1), f32(4)], [f32(1, 5), f32(0)]], scales: [1, 1] }
  weightedMeanInto(s, [0.75, 0.25], out)
  assert.deepEqual([...out[0]], [2.5, 2]) // 1 + 0.75*2 + 0.25*0, 1 + 0 + 0.25*4
  assert.deepEqual([...out[1]], [3])
  // clip scales act on deltas: half of update 0's delta
  weightedMeanInto({ ...s, scales: [0.5, 1] }, [0.75, 0.25], out)
  assert.deepEqual([...out[0]], [1.75, 2])
})

test('coordinate-wise median (odd and even counts) and trimmed mean', () => {
  const out = [new Float32Array(2), new Float32Array(1)]
  // deltas per coordinate: c0: 1, 2, 0, 99, -8 -> median 1; c1: 0, -1, 3, 0, 1 -> 0; c2: 5, -1, 2, 0, 1 -> 1
  orderStatisticPass(set(), { stat: { rule: 'median' }, out })
  assert.deepEqual([...out[0], ...out[1]], [2, 1, 1])
  // trimmed mean dropping 1 at each end: c0: (0+1+2)/3 = 1; c1: (0+0+1)/3; c2: (0+1+2)/3 = 1
  orderStatisticPass(set(), { stat: { rule: 'trimmed', trim: 1 }, out })
  assert.ok(Math.abs(out[0][0] - 2) < 1e-6 && Math.abs(out[0][1] - (1 + 1 / 3)) < 1e-6 &&
    Math.abs(out[1][0] - 1) < 1e-6)
  // even count: mean of the middle two
  const four: DeltaSet = { base: [f32(0)], rows: [[f32(1)], [f32(2)], [f32(10)], [f32(4)]], scales: [1, 1, 1, 1] }
  const o1 = [new Float32Array(1)]
  orderStatisticPass(four, { stat: { rule: 'median' }, out: o1 })
  assert.equal(o1[0][0], 3)
  assert.equal(trimCount(10, 0.2), 2)
  assert.equal(trimCount(8, 0.2), 1)
  assert.equal(trimCount(2, 0.4), 0)
  assert.equal(trimCount(3, 0.49), 1)
})

test('median pass reports each delta\'s inner product with the median', () => {
  const dots = new Float64Array(5)
  const sq = orderStatisticPass(set(), { stat: { rule: 'median' }, dots })
  // median deltas (1, 0, 1); deltas (1,0,5) (2,-1,-1) (0,3,2) (99,0,0) (-8,1,1)
  assert.equal(sq, 2)
  assert.deepEqual([...dots], [6, 1, 2, 99, -7])
})

test('gram of deltas matches the definition and honours scales', () => {
  const g = deltaGram(set([1, 1, 1, 0.5, 1]))
  const d = [[1, 0, 5], [2, -1, -1], [0, 3, 2], [49.5, 0, 0], [-8, 1, 1]]
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 5; j++) assert.equal(g[i * 5 + j], d[i].reduce((s, v, k) => s + v * d[j][k], 0))
  }
})

test('rank weights: median and trimmed mean as weights over ranks', () => {
  assert.deepEqual([...rankWeights(5, { rule: 'median' })], [0, 0, 1, 0, 0])
  assert.deepEqual([...rankWeights(4, { rule: 'median' })], [0, 0.5, 0.5, 0])
  assert.deepEqual([...rankWeights(5, { rule: 'trimmed', trim: 1 })], [0, 1 / 3, 1 / 3, 1 / 3, 0])
  assert.throws(() => rankWeights(4, { rule: 'trimmed', trim: 2 }), RangeError)
})

test('order statistics agree with a sort-based reference on random data, any n', () => {
  const rand = rng(7)
  for (const n of [1, 2, 3, 7, 10, 45]) { // 45 > UNROLL_MAX: the looped kernel
    const len = 300
    const base = Float32Array.from({ length: len }, () => rand())
    // with ties
    const rows = Array.from({ length: n }, () => [Float32Array.from({ length: len }, () => rand() < 0.1 ? 0.5
      : rand() * 4 - 2)])
    const s: DeltaSet = { base: [base], rows, scales: Array(n).fill(1) }
    const med = [new Float32Array(len)]; const tm = [new Float32Array(len)]
    const t = trimCount(n, 0.2)
    orderStatisticPass(s, { stat: { rule: 'median' }, out: med,
      second: { stat: { rule: 'trimmed', trim: t }, out: tm } })
    for (let k = 0; k < len; k++) {
      const v = rows.map((r) => r[0][k] - base[k]).sort((a, b) => a - b)
      const m = n % 2 === 1 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
      const kept = v.slice(t, n - t)
      assert.ok(Math.abs(med[0][k] - (base[k] + m)) < 1e-5)
      assert.ok(Math.abs(tm[0][k] - (base[k] + kept.reduce((a, b) => a + b, 0) / kept.length)) < 1e-5)
    }
  }
})

test('sum of squares is non-finite exactly when a value is', () => {
  assert.equal(sumSquaresOfDifference(f32(1, 2, 3), f32(0, 0, 1)), 9)
  assert.ok(Number.isNaN(sumSquaresOfDifference(f32(1, NaN, 3), f32(0, 0, 0))))
  assert.equal(sumSquaresOfDifference(f32(1, -Infinity), f32(0, 0)), Infinity)
  const big = Math.fround(3.4e38)
  // float64 does not overflow
  assert.equal(sumSquaresOfDifference(f32(big, big), f32(-big, 0)), (2 * big) ** 2 + big ** 2)
  assert.equal(firstNonFinite(f32(0, 1, Infinity)), 2)
  assert.equal(firstNonFinite(f32(0, 1)), -1)
})
