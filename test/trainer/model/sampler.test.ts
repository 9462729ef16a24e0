import { test } from 'node:test'
import assert from 'node:assert/strict'
import { argmax, sampleToken, seededRandom } from '../../../trainer/model/sampler.ts'

test('greedy picks the first maximum; sampling is reproducible under a seed; top-p keeps the nucleus', () => {
  assert.equal(argmax([0.1, 3, 3, -1]), 1)
  assert.equal(sampleToken([0.1, 3, 2], { temperature: 0, topP: 1 }, seededRandom(1)), 1)
  const draw = (seed: number, topP: number): number[] => {
    const r = seededRandom(seed)
    return Array.from({ length: 50 }, () => sampleToken([2, 1.5, 1, -3], { temperature: 1, topP }, r))
  }
  assert.deepEqual(draw(7, 1), draw(7, 1))
  assert.notDeepEqual(draw(7, 1), draw(8, 1))
  // probabilities ~ [0.52, 0.32, 0.19, 0.003]: top-p 0.5 keeps only the first, 0.8 the first two
  assert.ok(draw(3, 0.5).every((i) => i === 0))
  assert.ok(draw(3, 0.8).every((i) => i <= 1))
})
