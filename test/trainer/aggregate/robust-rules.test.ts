import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clipScales, cosineOutliers, krumOutliers, median,
  normOutliers } from '../../../trainer/aggregate/robust-rules.ts'
import { DecisionKind, fmt } from '../../../trainer/aggregate/decision-kind.ts'

test('median of odd and even counts', () => {
  assert.equal(median([3, 1, 2]), 2)
  assert.equal(median([4, 1, 3, 2]), 2.5)
  assert.ok(Number.isNaN(median([])))
})

test('fmt keeps reasons readable', () => {
  assert.equal(fmt(41.234), '41.2')
  assert.equal(fmt(3.1), '3.1')
  assert.equal(fmt(0), '0')
  assert.equal(fmt(1234567), '1.23e+6')
})

test('clip to a fixed bound and to a multiple of the median norm', () => {
  const fixed = clipScales([1, 4, 10], { kind: 'fixed', bound: 5 })
  assert.deepEqual([...fixed.scales], [1, 1, 0.5])
  assert.equal(fixed.reasons[2], 'clipped norm 10 to 5 (fixed bound 5)')
  assert.equal(fixed.reasons[0], undefined)
  // median 2, bound 3 x 2 = 6
  const med = clipScales([1, 2, 12], { kind: 'median', multiple: 3 })
  assert.deepEqual([...med.scales], [1, 1, 0.5])
  assert.equal(med.reasons[2], 'clipped norm 12 to 6 (3 x median 2)')
  assert.deepEqual([...clipScales([1, 100], { kind: 'none' }).scales], [1, 1])
})

test('norm filter: above multiple x median, and below minMultiple x median', () => {
  const ex = normOutliers([3.1, 3, 41.2, 3.2, 0], { kind: 'norm', multiple: 3, minMultiple: 0.1 })
  assert.deepEqual(ex, [
    { index: 2, kind: DecisionKind.NormTooLarge, reason: 'norm 41.2 > 3 x median 3.1' },
    { index: 4, kind: DecisionKind.NormTooSmall, reason: 'norm 0 < 0.1 x median 3.1' }
  ])
  assert.deepEqual(normOutliers([1, 0], { kind: 'norm', multiple: 3 }), [])
})

test('cosine filter: distance 1 - cos to the centre', () => {
  // centre (1, 0); deltas (2, 0): cos 1; (0, 3): cos 0; (-1, 0): cos -1; (0, 0): no direction
  const ex = cosineOutliers([2, 0, -1, 0], [2, 3, 1, 0], 1, { kind: 'cosine', maxDistance: 1 })
  assert.deepEqual(ex, [{ index: 2, kind: DecisionKind.CosineOutlier,
    reason: 'cosine distance 2 to the coordinate-wise median > 1' }])
  assert.deepEqual(cosineOutliers([2, 0, -1], [2, 3, 1], 1, { kind: 'cosine', maxDistance: 0.5 }).map((e) => e.index),
    [1, 2])
})

test('krum scores by the m - f - 2 nearest squared distances', () => {
  // points on a line: 0, 1, 2, 10 (as 1-D vectors) -> gram = x_i x_j
  const xs = [0, 1, 2, 10]
  const gram = xs.flatMap((a) => xs.map((b) => a * b))
  // m = 4, f = 1: 1 neighbour. scores: 0 -> 1, 1 -> 1, 2 -> 1, 10 -> 64
  const ex = krumOutliers(gram, 4, { kind: 'krum', f: 1, keep: 3 }, ['a', 'b', 'c', 'd'])
  assert.deepEqual(ex, [{ index: 3, kind: DecisionKind.KrumRejected,
    reason: 'krum score 64 ranks 4 of 4 (keeping 3, f=1)' }])
  // Krum (keep 1) with ties broken by the order key: a, b, c tie at 1 -> 'a' is kept
  assert.deepEqual(krumOutliers(gram, 4, { kind: 'krum', f: 1, keep: 1 }, ['a', 'b', 'c', 'd']).map((e) => e.index),
    [1, 2, 3])
  assert.deepEqual(krumOutliers(gram, 4, { kind: 'krum', f: 1, keep: 1 }, ['z', 'b', 'c', 'd']).map((e) => e.index),
    [0, 2, 3])
  assert.deepEqual(krumOutliers(gram, 4, { kind: 'krum', f: 1, keep: 4 }, ['a', 'b', 'c', 'd']), [])
})
