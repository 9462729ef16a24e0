// Default intra-op threads: one for small models, ORT's default for large ones, an explicit count always wins.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadLlama2c } from '../../../trainer/checkpoint/llama2c.ts'
import type { LlamaConfig } from '../../../trainer/model/config.ts'
import { defaultThreads, weightCount } from '../../../trainer/model/threads.ts'

const llama7b: LlamaConfig = {
  dim: 4096, hiddenDim: 11008, nLayers: 32, nHeads: 32, nKvHeads: 32, vocabSize: 32000, maxSeqLen: 4096,
  normEps: 1e-5, ropeTheta: 10000, tiedEmbeddings: false, bosId: 1, eosId: 2
}

test('thread defaults by model size', () => {
  const small = loadLlama2c('assets/stories260K/stories260K.bin').config
  assert.ok(Math.abs(weightCount(llama7b) - 6.74e9) < 0.01e9) // LLaMA-7B's 6.74 B weights (norms aside)
  assert.equal(defaultThreads(small, 'decode', undefined), 1)
  assert.equal(defaultThreads(small, 'batch', undefined), 1)
  assert.equal(defaultThreads(llama7b, 'decode', undefined), undefined)
  assert.equal(defaultThreads(llama7b, 'batch', undefined), undefined)
  assert.equal(defaultThreads(small, 'batch', 2), 2)
})
