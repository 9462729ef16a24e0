// fp16 and bf16 checkpoints run with their weights kept half (read in place, cast at each use) and compute in
// float32: the same losses, gradients and greedy tokens as a float32 copy of the same weights, and ORT's
// optimised model holds no widened copy of any weight.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import onnxProto from 'onnx-proto'
import { writeRandomHf } from '../../../bench/lib/random-hf.ts'
import { loadHfCheckpoint } from '../../../trainer/checkpoint/hf.ts'
import { readWeight } from '../../../trainer/checkpoint/read-weight.ts'
import type { LlamaCheckpoint, LlamaConfig, WeightRef } from '../../../trainer/model/config.ts'
import { EvalSession, TrainSession } from '../../../trainer/model/sessions.ts'
import { Generator } from '../../../trainer/model/generate.ts'
import { buildDecodeGraph, buildTrainGraph } from '../../../trainer/model/graphs.ts'
import { createSession } from '../../../trainer/graph/session.ts'
import { initAdapter } from '../../../trainer/lora/init.ts'
import type { Adapter, LoraConfig } from '../../../trainer/lora/adapter.ts'
import { DataType } from '../../../trainer/graph/onnx-proto.ts'

// 2 layers, grouped-query heads, an untied head; q_proj 128 x 128 and the MLP (344 x 128) are above the size up to
// which LoRA is merged into the weight, so both LoRA forms and the plain cast Gemm are exercised
const C: LlamaConfig = {
  dim: 128, hiddenDim: 344, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 300, maxSeqLen: 64,
  normEps: 1e-5, ropeTheta: 10000, tiedEmbeddings: false, bosId: 1, eosId: 2
}
const LORA: LoraConfig = { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj', 'up_proj'] }

function models (dtype: 'F16' | 'BF16'): { half: LlamaCheckpoint, f32: LlamaCheckpoint } {
  const dir = join(mkdtempSync(join(tmpdir(), 'fedit-half-')), 'model')
  writeRandomHf(dir, C, dtype)
  const half = loadHfCheckpoint(dir)
  const weights = new Map<string, WeightRef>()
  for (const [n, r] of half.weights) {
    weights.set(n, { shape: r.shape, dtype: 'F32', source: { kind: 'memory', data: readWeight(r) } })
  }
  return { half, f32: { ...half, weights } }
}

/** an adapter whose B is not zero, so the LoRA branch changes the output */
function adapter (): Adapter {
  const a = initAdapter(C, LORA, 3)
  for (const [n, t] of a.tensors) {
    if (n.endsWith('lora_B.weight')) t.data.forEach((_, i) => { t.data[i] = ((i * 37) % 11 - 5) / 50 })
  }
  return a
}

const batch = (() => {
  const T = 24
  const ids = Array.from({ length: 2 * (T + 1) }, (_, i) => 3 + (i * 131) % 290)
  const rows = (off: number): bigint[] =>
    [...ids.slice(0, T).map((x) => BigInt(x + off)), ...ids.slice(T + 1, 2 * T + 1).map(BigInt)]
  return {
    batch: 2,
    seq: T,
    inputIds: BigInt64Array.from(rows(0)),
    labels: BigInt64Array.from(rows(1)),
    attentionMask: new BigInt64Array(2 * T).fill(1n)
  }
})()

const relDiff = (a: number, b: number): number => Math.abs(a - b) / Math.max(1e-12, Math.abs(b))
function cosine (a: Float32Array, b: Float32Array): number {
  let ab = 0; let aa = 0; let bb = 0
  for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]! }
  return ab / Math.sqrt(aa * bb)
}

for (const dtype of ['F16', 'BF16'] as const) {
  test(`${dtype} weights: eval, train and greedy decoding equal a float32 copy of the same weights`, async () => {
    const { half, f32 } = models(dtype)
    const ad = adapter()
    const ev = await Promise.all([half, f32].map(async (ck) => {
      const s = await EvalSession.create(ck, { threads: 1, lora: LORA })
      try { return await s.run(batch, ad) } finally { await s.release() }
    }))
    for (let b = 0; b < 2; b++) assert.ok(relDiff(ev[0]!.lossSum[b]!, ev[1]!.lossSum[b]!) < 1e-5, `eval row ${b}`)
    const tr = await Promise.all([half, f32].map(async (ck) => {
      const s = await TrainSession.create(ck, LORA, { threads: 1 })
      try { return await s.run(batch, ad) } finally { await s.release() }
    }))
    assert.ok(relDiff(tr[0]!.lossSum, tr[1]!.lossSum) < 1e-5)
    assert.ok(relDiff(tr[0]!.lossSum, ev[1]!.lossSum[0]! + ev[1]!.lossSum[1]!) < 1e-4, 'train loss = eval loss')
    for (const [n, g] of tr[1]!.grads) assert.ok(cosine(tr[0]!.grads.get(n)!.data, g.data) > 0.99999, n)
    const ids = await Promise.all([half, f32].map(async (ck) => {
      const gen = await Generator.create(ck, { threads: 1, adapter: ad })
      try { return await gen.generate([1, 5, 9, 200], { maxTokens: 12, temperature: 0, stopId: null }) } finally {
        await gen.release()
      }
    }))
    assert.deepEqual(ids[0], ids[1])
  })
}

test('ORT keeps fp16 weights half: the optimised train model holds no float32 copy of a weight matrix', async () => {
  const { half } = models('F16')
  const out = join(mkdtempSync(join(tmpdir(), 'fedit-opt-')), 'optimized.onnx')
  const graph = buildTrainGraph(half, { lora: LORA })
  assert.equal(graph.model.halfWeights, true)
  const s = await createSession(graph.model, { threads: 1, optimizedModelPath: out })
  await s.release()
  const m = onnxProto.onnx.ModelProto.decode(readFileSync(out))
  const size = (dims: unknown[]): number => dims.map(Number).reduce((a, b) => a * b, 1)
  const big = m.graph!.initializer!.filter((t) => size(t.dims ?? []) >= C.dim * C.dim)
  // per layer q, o, gate, up, down (k and v are 64 x 128), the embedding and the head
  assert.equal(big.length, 2 * 5 + 2, 'the weight matrices are in the optimised model')
  for (const t of big) assert.equal(t.dataType, DataType.FLOAT16, `${t.name} [${(t.dims ?? []).join(',')}] was widened`)
})

test('weight Casts are listed first, so that ORT (which walks the newest input first) runs each right at its Gemm',
  () => {
  const { half } = models('F16')
  const graph = buildDecodeGraph(half, {})
  const m = onnxProto.onnx.ModelProto.decode(graph.model.bytes)
  const halfInits = new Set(m.graph!.initializer!.filter((t) => t.dataType === DataType.FLOAT16).map((t) => t.name))
  const nodes = m.graph!.node!
  const casts = nodes.flatMap((n, i) => n.opType === 'Cast' && halfInits.has(n.input![0]!) ? [i] : [])
  assert.equal(casts.length, 2 * 7 + 2 * 2 + 1 + 1, 'one Cast per linear weight, per norm and for the head')
  assert.deepEqual(casts, casts.map((_, i) => i), 'the weight Casts open the node list')
})
