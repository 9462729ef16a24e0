import { test } from 'node:test'
import assert from 'node:assert/strict'
import { collate, makeBatches } from '../../../trainer/data/batcher.ts'
import { IGNORE_INDEX } from '../../../trainer/data/tokenize-example.ts'
import type { TokenizedExample } from '../../../trainer/data/tokenize-example.ts'
import { createRng } from '../../../trainer/rng.ts'

const rng = createRng(9)
const examples: TokenizedExample[] = Array.from({ length: 203 }, (_, i) => {
  const len = 5 + Math.floor(rng.next() * 200)
  const inputIds = Array.from({ length: len }, (_, t) => 3 + ((i + t) % 500))
  const promptLength = Math.floor(len / 2)
  return { inputIds, labels: inputIds.map((x, t) => t < promptLength ? IGNORE_INDEX : x), promptLength, category: 'c',
    line: i + 81, shortened: false }
})

test('collate pads right: pad id, mask 0 and labels -100 on padding', () => {
  const b = collate(examples, [0, 1], 0, 8)
  assert.equal(b.seqLen % 8, 0)
  assert.equal(b.seqLen >= Math.max(examples[0]!.inputIds.length, examples[1]!.inputIds.length), true)
  for (let row = 0; row < 2; row++) {
    const e = examples[row]!
    for (let t = 0; t < b.seqLen; t++) {
      const k = row * b.seqLen + t
      if (t < e.inputIds.length) { assert.equal(b.inputIds[k], e.inputIds[t]); assert.equal(b.attentionMask[k], 1);
        assert.equal(b.labels[k], e.labels[t]) } else { assert.equal(b.inputIds[k], 0);
        assert.equal(b.attentionMask[k], 0); assert.equal(b.labels[k], IGNORE_INDEX) }
    }
  }
  assert.equal(b.targetTokens, [0, 1].reduce((n, i) => n + examples[i]!.labels.slice(1)
    .filter((l) => l !== IGNORE_INDEX).length, 0))
})

test('one epoch uses each example once, is seeded, and bucketing saves padding', () => {
  const a = makeBatches(examples, { microBatchSize: 8, seed: 5 })
  assert.deepEqual(a.flatMap((b) => b.indices).sort((x, y) => x - y), examples.map((_, i) => i))
  assert.ok(a.every((b) => b.batchSize <= 8))
  assert.deepEqual(makeBatches(examples, { microBatchSize: 8, seed: 5 }).map((b) => b.indices), a.map((b) => b.indices))
  assert.notDeepEqual(makeBatches(examples, { microBatchSize: 8, seed: 5, epoch: 1 }).map((b) => b.indices),
    a.map((b) => b.indices))
  const padded = (bs: ReturnType<typeof makeBatches>): number => bs.reduce((n, b) => n + b.batchSize * b.seqLen, 0)
  const plain = makeBatches(examples, { microBatchSize: 8, seed: 5, bucketWindow: 1 })
  assert.ok(padded(a) < 0.8 * padded(plain), `${padded(a)} vs ${padded(plain)}`)
})
