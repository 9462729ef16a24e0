import { test } from 'node:test'
import assert from 'node:assert/strict'
import { collate } from '../../../trainer/data/batcher.ts'
import { IGNORE_INDEX } from '../../../trainer/data/tokenize-example.ts'
import { IGNORE_INDEX as GRAPH_IGNORE } from '../../../trainer/model/graphs.ts'
import { toTokenBatch } from '../../../trainer/train/token-batch.ts'

const ex = (ids: number[], promptLength: number) => ({
  inputIds: ids, labels: ids.map((t, i) => i < promptLength ? IGNORE_INDEX : t), promptLength, category: 'c', line: 1,
    shortened: false
})

test('HF-aligned labels become the engine\'s shifted labels: input s[:-1], labels s[1:], right padding kept', () => {
  assert.equal(GRAPH_IGNORE, IGNORE_INDEX)
  const b = collate([ex([1, 10, 11, 12, 2], 3), ex([1, 20, 21], 2)], [0, 1], 0)
  const t = toTokenBatch(b)
  assert.equal(t.batch, 2); assert.equal(t.seq, 4)
  assert.deepEqual([...t.inputIds].map(Number), [1, 10, 11, 12, /* row 2 */ 1, 20, 21, 0])
  // row 1: targets after positions 0..3 are 10, 11, 12, 2; the prompt (first 3 ids) has no loss -> 12 and 2 remain
  assert.deepEqual([...t.labels].map(Number), [-100, -100, 12, 2, /* row 2 */ -100, 21, -100, -100])
  assert.deepEqual([...t.attentionMask].map(Number), [1, 1, 1, 1, 1, 1, 1, 0])
  // every target the batcher counts is a label of the shifted batch
  assert.equal([...t.labels].filter((l) => l !== -100n).length, b.targetTokens)
})

test('left padding is refused', () => {
  const b = collate([ex([1, 10, 11], 1)], [0], 0)
  const left = { ...b, attentionMask: Int32Array.from([0, 1, 1]) }
  assert.throws(() => toTokenBatch(left), /left/)
})
