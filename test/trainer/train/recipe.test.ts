import { test } from 'node:test'
import assert from 'node:assert/strict'
import { describeBatch, resolveRecipe } from '../../../trainer/train/recipe.ts'

test('describeBatch says how a batch splits, without the "batch 10 = 2 x micro-batch 8" arithmetic', () => {
  const d = (batchSize: number, microBatchSize: number): string => describeBatch(resolveRecipe({ batchSize,
    microBatchSize }))
  assert.equal(d(10, 8), 'batch 10 in 2 micro-batches: 1 of 8 rows, 1 of 2')
  assert.equal(d(16, 8), 'batch 16 in 2 micro-batches of 8')
  assert.equal(d(8, 8), 'batch 8 in one micro-batch')
  assert.equal(d(4, 8), 'batch 4 in one micro-batch') // the micro-batch is clamped to the batch
  assert.equal(d(32, 3), 'batch 32 in 11 micro-batches: 10 of 3 rows, 1 of 2')
})
