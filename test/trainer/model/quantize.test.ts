// Block-quantized base weights (--quantize int8|int4): the quantizer's layout and error bound, then the graphs on
// the real stories260K and on a random Hugging Face LLaMA against fp32: train loss, LoRA gradients, eval loss and
// greedy tokens, with MatMulNBits really in the graphs. Tolerances (measured, with margin): int8 moves the loss by
// ~0.1 %, int4 by a few % on these tiny models (64- and 128-wide rows: int4's 16 levels cost them more than 7B's).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeRandomHf } from '../../../bench/lib/random-hf.ts'
import { loadHfCheckpoint } from '../../../trainer/checkpoint/hf.ts'
import type { LlamaCheckpoint, LlamaConfig } from '../../../trainer/model/config.ts'
import { EvalSession, TrainSession } from '../../../trainer/model/sessions.ts'
import { Generator } from '../../../trainer/model/generate.ts'
import { buildDecodeGraph, buildTrainGraph } from '../../../trainer/model/graphs.ts'
import { onnx } from '../../../trainer/graph/onnx-proto.ts'
import { estimateMemory } from '../../../trainer/model/memory.ts'
import { quantizeCacheDir } from '../../../trainer/model/quantized-weights.ts'
import type { QuantBits } from '../../../trainer/model/quantize.ts'
import { dequantizeMatrix, parseQuantize, quantizeMatrix, QuantizeError } from '../../../trainer/model/quantize.ts'
import { initAdapter } from '../../../trainer/lora/init.ts'
import type { Adapter, LoraConfig } from '../../../trainer/lora/adapter.ts'
import type { TokenBatch } from '../../../trainer/model/feeds.ts'
import { toTokenBatch } from '../../../trainer/train/token-batch.ts'
import { microBatches } from '../../../trainer/train/step-plan.ts'
import { ckpt, LORA, trainExamples, twoRowBatch } from '../train/fixture.ts'

const relDiff = (a: number, b: number): number => Math.abs(a - b) / Math.max(1e-12, Math.abs(b))
function cosine (a: Float32Array, b: Float32Array): number {
  let ab = 0; let aa = 0; let bb = 0
  for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]! }
  return ab / Math.sqrt(aa * bb)
}

test('quantizeMatrix: codes within half a step of each value, padded last block, low nibble first', () => {
  const rows = 3
  const cols = 45 // one full block of 32 and a padded one
  const w = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)))
  for (const bits of [8, 4] as const) {
    const q = quantizeMatrix(w, rows, cols, bits, 32)
    assert.equal(q.codes.length, rows * 2 * 32 * bits / 8)
    assert.equal(q.scales.length, rows * 2)
    const back = dequantizeMatrix(q)
    for (let i = 0; i < w.length; i++) {
      const s = q.scales[Math.floor(i / cols) * 2 + Math.floor((i % cols) / 32)]!
      assert.ok(Math.abs(back[i]! - w[i]!) <= s / 2 + 1e-6, `${bits} bits, value ${i}: ${back[i]} for ${w[i]}`)
    }
    // each block's largest magnitude is exact (the scale is max |w| / (2^(bits-1) - 1))
    const zero = 1 << (bits - 1)
    const first = bits === 8 ? q.codes[0]! : q.codes[0]! & 15
    assert.equal(first, Math.round(w[0]! / q.scales[0]!) + zero)
    // the padded tail of row 0's second block holds the zero code
    const tail = bits === 8 ? q.codes[32 + 31]! : q.codes[16 + 15]! >> 4
    assert.equal(tail, zero)
  }
  const bad = Float32Array.from(w)
  bad[50] = NaN
  assert.throws(() => quantizeMatrix(bad, rows, cols, 8, 32, 'layer.w'), /^QuantizeError: layer.w: non-finite value at row 1$/)
  assert.equal(parseQuantize('int4'), 4)
  assert.equal(parseQuantize(undefined), undefined)
  assert.throws(() => parseQuantize('int3'), QuantizeError)
})

/** an adapter whose B is not zero, so that every LoRA tensor gets a gradient */
function adapter (c: LlamaConfig, lora: LoraConfig): Adapter {
  const a = initAdapter(c, lora, 3)
  for (const [n, t] of a.tensors) {
    if (n.endsWith('lora_B.weight')) t.data.forEach((_, i) => { t.data[i] = ((i * 37) % 11 - 5) / 50 })
  }
  return a
}

const opsOf = (bytes: Uint8Array): string[] => onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType!)

interface Run { loss: number, evalLoss: number, grads: Map<string, Float32Array>, ids: number[] }
async function runAll (model: LlamaCheckpoint, lora: LoraConfig, batch: TokenBatch, bits?: QuantBits): Promise<Run> {
  const quantize = bits !== undefined ? { bits, blockSize: 32 } : undefined
  const ad = adapter(model.config, lora)
  const s = await TrainSession.create(model, lora, { threads: 1, quantize })
  const r = await s.run(batch, ad).finally(async () => await s.release())
  const e = await EvalSession.create(model, { threads: 1, quantize, lora })
  const er = await e.run(batch, ad).finally(async () => await e.release())
  const g = await Generator.create(model, { threads: 1, quantize, adapter: ad })
  const ids = await g.generate([model.config.bosId, 5, 9], { maxTokens: 24, temperature: 0, stopId: null })
    .finally(async () => await g.release())
  return { loss: r.lossSum / r.tokens, evalLoss: er.lossSum.reduce((a, b) => a + b) / er.tokens.reduce((a, b) => a + b),
    grads: new Map([...r.grads].map(([n, t]) => [n, t.data])), ids }
}

async function compare (model: LlamaCheckpoint, lora: LoraConfig, batch: TokenBatch,
  tol: Record<QuantBits, { loss: number, cosine: number, sameTokens: number }>): Promise<void> {
  const base = await runAll(model, lora, batch)
  for (const bits of [8, 4] as const) {
    const q = await runAll(model, lora, batch, bits)
    const t = tol[bits]
    assert.ok(relDiff(q.loss, base.loss) < t.loss, `int${bits}: train loss ${q.loss} against ${base.loss}`)
    assert.notEqual(q.loss, base.loss, `int${bits}: the weights were quantized`)
    assert.ok(relDiff(q.evalLoss, base.evalLoss) < t.loss,
      `int${bits}: eval loss ${q.evalLoss} against ${base.evalLoss}`)
    const cosines = [...base.grads].map(([n, g]) => cosine(q.grads.get(n)!, g))
    const mean = cosines.reduce((a, b) => a + b) / cosines.length
    assert.ok(mean >= t.cosine, `int${bits}: mean LoRA gradient cosine ${mean}`)
    assert.deepEqual(q.ids.slice(0, t.sameTokens), base.ids.slice(0, t.sameTokens), `int${bits}: greedy tokens`)
  }
}

test('stories260K: int8 and int4 base weights against fp32 (loss, gradients, greedy tokens)', async () => {
  const batch = toTokenBatch(microBatches(trainExamples, [0, 1, 2, 3], 4)[0]!)
  await compare(ckpt, LORA, batch, {
    8: { loss: 5e-3, cosine: 0.99, sameTokens: 24 },
    4: { loss: 0.1, cosine: 0.5, sameTokens: 0 }
  })
})

// 2 layers, grouped-query heads, fp16 weights; the MLP's 344 columns end in a padded block; LoRA on q and v only,
// so the other linear layers run MatMulNBits forward and (on the transposed codes) backward
const C: LlamaConfig = {
  dim: 128, hiddenDim: 344, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 300, maxSeqLen: 64,
  normEps: 1e-5, ropeTheta: 10000, tiedEmbeddings: false, bosId: 1, eosId: 2
}

test('a random fp16 HF LLaMA: int8 and int4 against fp32, MatMulNBits forward and backward; codes cached', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'fedit-quantize-'))
  process.env.FEDIT_CACHE = join(tmp, 'cache')
  const dir = join(tmp, 'model')
  writeRandomHf(dir, C, 'F16')
  const model = loadHfCheckpoint(dir)
  const T = 24
  const batch = twoRowBatch(T)
  const lora: LoraConfig = { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj'] }
  const quantize = { bits: 4 as const, blockSize: 32 }
  // train: forward codes for the 5 untargeted linear layers a block and the lm_head, the transposed codes for their
  // backward but layer 0's k_proj (nothing trainable before it: its input needs no gradient)
  const train = opsOf(buildTrainGraph(model, { lora, quantize }).model.bytes)
  assert.equal(train.filter((o) => o === 'MatMulNBits').length, 2 * (2 * 5 + 1) - 1)
  const decode = opsOf(buildDecodeGraph(model, { lora, quantize }).model.bytes)
  assert.equal(decode.filter((o) => o === 'MatMulNBits').length, 2 * 5 + 1)
  // q and v (small: LoRA merged into the weight, read whole) dequantize their codes
  assert.equal(decode.filter((o) => o === 'DequantizeLinear').length, 2 * 2)
  await compare(model, lora, batch, {
    8: { loss: 1e-2, cosine: 0.99, sameTokens: 8 },
    4: { loss: 5e-2, cosine: 0.9, sameTokens: 1 }
  })
  // the codes of each matrix, its transpose, at each width, written once to the cache and read from there (external
  // data: no weight is read or quantized again)
  const cached = (): string[] => readdirSync(quantizeCacheDir()).sort()
  const files = cached()
  assert.equal(files.length, 2 * (2 * 7 + 1) * 2, files.join(' ')) // 2 widths, 15 matrices, and their transposes
  const mtimes = files.map((f) => statSync(join(quantizeCacheDir(), f)).mtimeMs)
  const again = loadHfCheckpoint(dir) // a new process's weights: nothing cached in memory
  const graph = buildTrainGraph(again, { lora, quantize: { bits: 8, blockSize: 32 } })
  assert.ok(graph.model.externalFiles.some((f) => f.startsWith(realpathSync(quantizeCacheDir()))))
  assert.deepEqual(cached(), files)
  assert.deepEqual(files.map((f) => statSync(join(quantizeCacheDir(), f)).mtimeMs), mtimes)
  // the estimate counts the codes (and their copies: memory.ts) in place of the fp16 linear weights
  const plan = { kind: 'eval' as const, microBatch: 1, seq: 64, lora }
  const linear = [...model.weights].filter(([n]) => n.endsWith('_proj.weight') || n === 'lm_head.weight')
    .reduce((a, [, r]) => a + r.shape[0]! * r.shape[1]!, 0)
  const saved = estimateMemory(model, plan).weightsBytes - estimateMemory(model, { ...plan, quantize }).weightsBytes
  assert.equal(saved, linear * 2 - linear * (0.5 + 4 / 32))
})
