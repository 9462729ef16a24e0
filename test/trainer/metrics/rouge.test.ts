import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rougeL, lcsLength } from '../../../trainer/metrics/rouge.ts'

test('ROUGE-L on hand-computed cases', () => {
  assert.equal(lcsLength(['a', 'b', 'c', 'd'], ['a', 'c', 'd', 'b']), 3)
  // "the cat sat on the mat" vs "the cat is on the mat": LCS 5 of 6 and 6
  const r = rougeL('The cat sat on the mat.', 'the cat is on the mat')
  assert.ok(Math.abs(r.f - 5 / 6) < 1e-12)
  assert.deepEqual(rougeL('', 'x'), { precision: 0, recall: 0, f: 0 })
  assert.equal(rougeL('Paris', 'paris').f, 1)
})
