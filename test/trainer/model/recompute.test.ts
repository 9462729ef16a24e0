// Per-layer activation recomputation changes where the backward gets its activations, not what it computes: the
// same loss and LoRA gradients on the real stories260K, with LoRA merged, as a low-rank branch and with dropout.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import onnxProto from 'onnx-proto'
import { TrainSession } from '../../../trainer/model/sessions.ts'
import { buildTrainGraph } from '../../../trainer/model/graphs.ts'
import { initAdapter } from '../../../trainer/lora/init.ts'
import type { LoraConfig } from '../../../trainer/lora/adapter.ts'
import { toTokenBatch } from '../../../trainer/train/token-batch.ts'
import { microBatches } from '../../../trainer/train/step-plan.ts'
import { ckpt, LORA, trainExamples } from '../train/fixture.ts'

function cosine (a: Float32Array, b: Float32Array): number {
  let ab = 0; let aa = 0; let bb = 0
  for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]! }
  return ab / Math.sqrt(aa * bb)
}

const cases: Array<[string, LoraConfig]> = [
  ['LoRA merged into the weights', LORA],
  ['LoRA as a low-rank branch with dropout 0.2', { ...LORA, dropout: 0.2 }]
]
for (const [what, lora] of cases) {
  test(`recomputed layers give the same loss and LoRA gradients (${what})`, async () => {
    const ad = initAdapter(ckpt.config, lora, 2)
    for (const [n, t] of ad.tensors) {
      if (n.endsWith('lora_B.weight')) t.data.forEach((_, i) => { t.data[i] = ((i * 37) % 11 - 5) / 50 })
    }
    const batch = toTokenBatch(microBatches(trainExamples, [0, 1, 2, 3], 4)[0]!)
    const [plain, again] = await Promise.all([false, true].map(async (recompute) => {
      const s = await TrainSession.create(ckpt, lora, { threads: 1, recompute })
      try { return await s.run(batch, ad, 7) } finally { await s.release() }
    }))
    assert.ok(Math.abs(again!.lossSum - plain!.lossSum) <= 1e-5 * Math.abs(plain!.lossSum), 'loss')
    for (const [n, g] of plain!.grads) {
      const h = again!.grads.get(n)!.data
      let worst = 0; let scale = 0
      for (let i = 0; i < h.length; i++) {
        worst = Math.max(worst, Math.abs(h[i]! - g.data[i]!))
        scale = Math.max(scale, Math.abs(g.data[i]!))
      }
      assert.ok(cosine(h, g.data) >= 0.9999, `${n}: cosine ${cosine(h, g.data)}`)
      assert.ok(worst <= 1e-4 * scale, `${n}: max abs diff ${worst} (largest ${scale})`)
    }
  })
}

test('a recomputed train graph runs each layer\'s attention twice (forward, then again in the backward)', () => {
  const attentions = (recompute: boolean): number => onnxProto.onnx.ModelProto
    .decode(buildTrainGraph(ckpt, { lora: LORA, recompute }).model.bytes).graph!.node!
    .filter((n) => n.opType === 'Attention').length
  const once = attentions(false)
  assert.ok(once > 0)
  assert.equal(attentions(true), 2 * once)
})
