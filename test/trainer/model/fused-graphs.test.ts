// The eval and decode graphs built from ONNX opset-23 fused forward ops (RMSNormalization, RotaryEmbedding,
// Attention) compute what the standard-op graphs compute (the train graph differentiates the latter).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import ort from 'onnxruntime-node'
import { loadLlama2c } from '../../../trainer/checkpoint/llama2c.ts'
import { createSession } from '../../../trainer/graph/session.ts'
import { buildDecodeGraph, buildEvalGraph, pastName, presentName } from '../../../trainer/model/graphs.ts'

const ckpt = loadLlama2c('assets/stories260K/stories260K.bin')
const c = ckpt.config
const hd = c.dim / c.nHeads
const i64 = (xs: number[]): BigInt64Array => BigInt64Array.from(xs, BigInt)
const maxRelDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0
  let m = 1e-6
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)) }
  return d / m
}

test('fused eval graph, whole square or in query blocks, = standard-op eval graph (right and left padding)',
  async () => {
  const t = (xs: number[]): ort.Tensor => new ort.Tensor('int64', i64(xs), [3, 5])
  const feeds = {
    input_ids: t([1, 403, 407, 261, 378, 1, 383, 286, 0, 0, 0, 0, 1, 383, 286]),
    labels: t([403, 407, 261, 378, 432, 383, 286, 261, -100, -100, -100, -100, 383, 286, 261]),
    attention_mask: t([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1])
  }
  const out = []
  // 4 blocks of 5 rows: three of one row, one of two; 1 block: the whole square
  for (const o of [{ fused: true, attentionChunks: 4 }, { fused: true, attentionChunks: 1 }, { fused: false }]) {
    const g = buildEvalGraph(ckpt, o)
    assert.equal(g.minSeq, o.fused ? o.attentionChunks : 1)
    const s = await createSession(g.model, { threads: 1 })
    out.push(await s.run(feeds))
    await s.release()
  }
  const [blocks, whole, p] = out as Array<ort.InferenceSession.ReturnType>
  for (const f of [blocks!, whole!]) {
    assert.deepEqual(Array.from(f.token_count!.data as Float32Array), [5, 3, 3])
    assert.ok(maxRelDiff(f.loss_sum!.data as Float32Array, p!.loss_sum!.data as Float32Array) < 1e-5)
    // left padding gives query rows whose keys are all masked: they must not turn into NaN (NaN * 0 = NaN)
    assert.ok((f.loss_sum!.data as Float32Array).every(Number.isFinite))
  }
})

test('fused decode graph = standard-op decode graph (prefill, then a step with the KV cache)', async () => {
  const results: Array<{ logits: Float32Array[], present: Float32Array }> = []
  for (const fused of [true, false]) {
    const s = await createSession(buildDecodeGraph(ckpt, { fused }).model, { threads: 1 })
    const past: Record<string, ort.Tensor> = {}
    for (let l = 0; l < c.nLayers; l++) {
      for (const part of ['key', 'value'] as const) {
        past[pastName(l, part)] = new ort.Tensor('float32', new Float32Array(0), [1, c.nKvHeads, 0, hd])
      }
    }
    const r1 = await s.run({ ...past, input_ids: new ort.Tensor('int64', i64([1, 403, 407]), [1, 3]),
      attention_mask: new ort.Tensor('int64', i64([1, 1, 1]), [1, 3]) })
    for (let l = 0; l < c.nLayers; l++) {
      for (const part of ['key', 'value'] as const) past[pastName(l, part)] = r1[presentName(l, part)]!
    }
    const r2 = await s.run({ ...past, input_ids: new ort.Tensor('int64', i64([261]), [1, 1]),
      attention_mask: new ort.Tensor('int64', i64([1, 1, 1, 1]), [1, 4]) })
    assert.deepEqual(r2[presentName(c.nLayers - 1, 'value')]!.dims, [1, c.nKvHeads, 4, hd])
    results.push({ logits: [r1.logits!.data as Float32Array, r2.logits!.data as Float32Array],
      present: r2[presentName(0, 'key')]!.data as Float32Array })
    await s.release()
  }
  const [f, p] = results as [typeof results[0], typeof results[0]]
  assert.ok(maxRelDiff(f.logits[0]!, p.logits[0]!) < 1e-5)
  assert.ok(maxRelDiff(f.logits[1]!, p.logits[1]!) < 1e-5)
  assert.ok(maxRelDiff(f.present, p.present) < 1e-5) // same cache layout [B, nKv, S, hd]
})
