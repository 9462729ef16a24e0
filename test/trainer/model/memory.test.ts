// The memory estimate a command checks before building sessions, on LLaMA-2-7B's shape (fp16 in a file).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { llama2_7b } from '../../../bench/lib/random-hf.ts'
import { expectedWeightShapes } from '../../../trainer/checkpoint/weight-shapes.ts'
import type { LlamaCheckpoint, WeightRef } from '../../../trainer/model/config.ts'
import { estimateMemory, memoryProblem } from '../../../trainer/model/memory.ts'

const GB = 1024 ** 3
const c = llama2_7b()
const weights = new Map<string, WeightRef>([...expectedWeightShapes(c)].map(([n, shape]) =>
  [n, { shape, dtype: 'F16', source: { kind: 'file', path: '/nonexistent', offset: 0, byteLength: 0 } }]))
const ck: LlamaCheckpoint = { config: c, weights, origin: '7b' }
const lora = { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj' as const, 'v_proj' as const] }

test('7B fp16: weights counted once as stored; a 1 x 128 LoRA step fits 16 GB, 8 x 512 does not fit 24', () => {
  const step = estimateMemory(ck, { kind: 'train', microBatch: 1, seq: 128, lora })
  assert.ok(Math.abs(step.weightsBytes / GB - 12.55) < 0.1, `weights ${step.weightsBytes / GB}`)
  assert.ok(step.totalBytes < 16 * GB && step.totalBytes > 13 * GB, `step ${step.totalBytes / GB}`)
  assert.equal(memoryProblem(step, 16 * GB, 'this machine', '--micro-batch'), undefined)
  const big = estimateMemory(ck, { kind: 'train', microBatch: 8, seq: 512, lora })
  const msg = memoryProblem(big, 24 * GB, 'this machine', '--micro-batch or --max-length')
  assert.match(msg ?? '', /^this run needs about \d+\.\d GB of memory \(weights 12\.\d GB, activations \d+\.\d GB\), /)
  assert.match(msg!, /more than the 24\.0 GB of this machine; lower --micro-batch or --max-length/)
  // recomputation keeps one input per layer and one layer's activations: 8 x 512 then fits 24 GB
  const again = estimateMemory(ck, { kind: 'train', microBatch: 8, seq: 512, lora, recompute: true })
  assert.ok(again.activationsBytes < big.activationsBytes / 4, `recomputed ${again.activationsBytes / GB}`)
  assert.equal(memoryProblem(again, 24 * GB, 'this machine', '--micro-batch'), undefined)
  // the pair shares the weights: less than two runs
  const pair = estimateMemory(ck, { kind: 'train', pair: true, microBatch: 1, seq: 128, lora })
  assert.ok(pair.totalBytes < step.totalBytes + 2 * GB)
  // generation: the KV cache grows with the length
  const gen = estimateMemory(ck, { kind: 'generate', microBatch: 1, seq: 4096 })
  assert.equal(gen.kvCacheBytes, 2 * 32 * 4096 * 4096 * 4)
})
