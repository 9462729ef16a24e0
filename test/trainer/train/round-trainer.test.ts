// A round trainer gives back the sessions it holds when it closes, with LoRA dropout too (a trainer worker that
// serves peers one after another must not keep every closed peer's sessions), and a round trained by helper
// threads equals one trained by a single session. `fedit peer --recompute` and `--quantize` reach the round's
// sessions.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { onnx } from '../../../trainer/graph/onnx-proto.ts'
import { initAdapter } from '../../../trainer/lora/init.ts'
import { SessionPool } from '../../../trainer/train/session-pool.ts'
import { RoundTrainer } from '../../../trainer/train/round-trainer.ts'
import { LORA, MODEL, local } from './fixture.ts'

test('closing round trainers releases their train and eval sessions (with and without dropout)', async () => {
  const pool = new SessionPool()
  const open = async (dropout: number): Promise<RoundTrainer> => await RoundTrainer.open(pool, {
    modelPath: MODEL,
    records: local.train.slice(0, 8),
    evalRecords: local.test.slice(0, 4),
    lora: { ...LORA, dropout },
    recipe: { batchSize: 4, length: { steps: 1 } },
    tokenize: { maxLength: 160 },
    threads: 1
  })
  const a = await open(0.05)
  const b = await open(0.05) // shares a's sessions
  const c = await open(0)
  assert.equal(pool.sessions, 4)
  await a.close()
  assert.equal(pool.sessions, 4)
  await b.close()
  assert.equal(pool.sessions, 2, 'the dropout sessions outlived their last trainer')
  await c.close()
  assert.equal(pool.sessions, 0)
})

test('a round trained by helper threads (workers 2, helpers nested in the trainer worker) equals one session\'s',
  async () => {
  const { createWorkerTrainer } = await import('../../../trainer/train/worker-trainer.ts')
  const { encodeSafetensors } = await import('../../../trainer/safetensors.ts')
  const common = {
    modelPath: MODEL, records: local.train.slice(0, 24), lora: { ...LORA, dropout: 0.05 }, maxLength: 160,
    recipe: { batchSize: 8, length: { steps: 2 }, learningRate: 5e-3 }, microBatch: 4, threads: 1
  }
  const one = await createWorkerTrainer({ ...common, workers: 1 })
  const two = await createWorkerTrainer({ ...common, workers: 2 })
  try {
    assert.deepEqual([one.workers, two.workers], [1, 2])
    const base = one.initialAdapter(3)
    const [a, b] = [await one.train({ round: 1, base, seed: 11 }), await two.train({ round: 1, base, seed: 11 })]
    assert.equal(a.trainLoss, b.trainLoss)
    assert.ok(Buffer.from(encodeSafetensors(a.adapter.tensors))
      .equals(Buffer.from(encodeSafetensors(b.adapter.tensors))), 'the adapters differ')
  } finally {
    await Promise.all([one.close(), two.close()])
  }
})

test('recompute (fedit peer --recompute) reaches the round\'s train session, not its eval session; same round',
  async () => {
  const pool = new SessionPool()
  const spec = {
    modelPath: MODEL, records: local.train.slice(0, 8), evalRecords: local.test.slice(0, 4), lora: LORA,
    recipe: { batchSize: 4, length: { steps: 2 }, learningRate: 5e-3 }, tokenize: { maxLength: 160 }, threads: 1
  }
  const plain = await RoundTrainer.open(pool, spec)
  const again = await RoundTrainer.open(pool, { ...spec, recompute: true })
  try {
    assert.equal(pool.sessions, 3, 'a train session each, one eval session shared')
    // the recomputing graph builds each layer's attention twice (forward, and again in the backward)
    const attentions = async (recompute: boolean): Promise<number> => {
      const s = await pool.acquireTrain(MODEL, LORA, { threads: 1, recompute })
      await pool.releaseTrain(MODEL, LORA, { threads: 1, recompute })
      return onnx.ModelProto.decode(s.graph.model.bytes).graph!.node!.filter((n) => n.opType === 'Attention').length
    }
    const [a, b] = [await attentions(false), await attentions(true)]
    assert.ok(a > 0 && b === 2 * a, `Attention nodes: ${a} plain, ${b} recomputed`)
    const base = initAdapter(plain.modelConfig, LORA, 3)
    const [r1, r2] = [await plain.train({ round: 1, base, seed: 7 }), await again.train({ round: 1, base, seed: 7 })]
    assert.ok(Math.abs(r1.trainLoss - r2.trainLoss) <= 1e-5 * Math.abs(r1.trainLoss), `${r1.trainLoss} ${r2.trainLoss}`)
  } finally {
    await Promise.all([plain.close(), again.close()])
  }
  assert.equal(pool.sessions, 0)
})

test('quantize (fedit peer --quantize int8) reaches the round\'s train and eval sessions', async () => {
  const pool = new SessionPool()
  const quantize = { bits: 8 as const, blockSize: 32 }
  const spec = {
    modelPath: MODEL, records: local.train.slice(0, 8), evalRecords: local.test.slice(0, 4), lora: LORA,
    recipe: { batchSize: 4, length: { steps: 1 }, learningRate: 5e-3 }, tokenize: { maxLength: 160 }, threads: 1
  }
  const plain = await RoundTrainer.open(pool, spec)
  const quantized = await RoundTrainer.open(pool, { ...spec, quantize })
  try {
    assert.equal(pool.sessions, 4)
    const ops = async (kind: 'train' | 'eval'): Promise<string[]> => {
      const s = { threads: 1, quantize }
      const session = kind === 'train'
        ? await pool.acquireTrain(MODEL, LORA, s)
        : await pool.acquireEval(MODEL, LORA, s)
      await (kind === 'train' ? pool.releaseTrain(MODEL, LORA, s) : pool.releaseEval(MODEL, LORA, s))
      return onnx.ModelProto.decode(session.graph.model.bytes).graph!.node!.map((n) => n.opType!)
    }
    // stories260K's weights are small: LoRA merged into each, so each reads its codes dequantized
    for (const kind of ['train', 'eval'] as const) assert.ok((await ops(kind)).includes('DequantizeLinear'), kind)
    const base = initAdapter(plain.modelConfig, LORA, 3)
    const r1 = await plain.train({ round: 1, base, seed: 7 })
    const r2 = await quantized.train({ round: 1, base, seed: 7 })
    assert.notEqual(r1.trainLoss, r2.trainLoss)
    assert.ok(Math.abs(r1.trainLoss - r2.trainLoss) < 1e-2 * r1.trainLoss, `${r1.trainLoss} ${r2.trainLoss}`)
    const [e1, e2] = [await plain.evaluate(base), await quantized.evaluate(base)]
    assert.ok(Math.abs(e1.evalLoss - e2.evalLoss) < 1e-2 * e1.evalLoss, `${e1.evalLoss} ${e2.evalLoss}`)
  } finally {
    await Promise.all([plain.close(), quantized.close()])
  }
})
