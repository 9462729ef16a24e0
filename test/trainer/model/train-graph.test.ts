// The train and eval graphs on the real stories260K: LoRA gradients against finite differences (float64 graph),
// the float32 session against the float64 graph, a zero-B adapter equal to the base model, padding that does
// not change a sequence's loss.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import ort from 'onnxruntime-node'
import { loadLlama2c } from '../../../trainer/checkpoint/llama2c.ts'
import { createSession } from '../../../trainer/graph/session.ts'
import type { Adapter, LoraConfig } from '../../../trainer/lora/adapter.ts'
import { ATTENTION_CHUNKS, buildTrainGraph, gradName } from '../../../trainer/model/graphs.ts'
import { EvalSession, TrainSession } from '../../../trainer/model/sessions.ts'
import type { TokenBatch } from '../../../trainer/model/feeds.ts'
import { rand } from '../graph/gradcheck.ts'
import { dropoutMasks } from '../../../trainer/lora/dropout-masks.ts'

const ckpt = loadLlama2c('assets/stories260K/stories260K.bin')
const lora: LoraConfig = { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj', 'down_proj'] }
const ids = (xs: number[]): BigInt64Array => BigInt64Array.from(xs, BigInt)
// two sequences of 6 tokens; the second is padded after 4; the first position's label is ignored
const batch: TokenBatch = {
  batch: 2,
  seq: 6,
  inputIds: ids([1, 403, 407, 261, 378, 432, 1, 383, 286, 261, 0, 0]),
  labels: ids([-100, 407, 261, 378, 432, 383, 383, 286, 261, 376, -100, -100]),
  attentionMask: ids([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0])
}

/** max |x - ref| relative to max |ref| (at least 1e-6), and max |ref| itself */
function compare (ref: ArrayLike<number>, x: ArrayLike<number>): { rel: number, scale: number } {
  let d = 0
  let m = 1e-6
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(ref[i]! - x[i]!))
    m = Math.max(m, Math.abs(ref[i]!))
  }
  return { rel: d / m, scale: m }
}

async function adapterFor (zeroB: boolean): Promise<Adapter> {
  const graph = buildTrainGraph(ckpt, { lora })
  const tensors = new Map(graph.lora.map((s) => {
    const shape = s.value.shape as number[]
    const n = shape[0]! * shape[1]!
    return [s.name, { shape, data: zeroB && s.part === 'B' ? new Float32Array(n) : Float32Array.from(rand(n, 0.3)) }]
  }))
  return { config: lora, tensors }
}

// stories260K's weights are small enough that LoRA is merged into them (lora-graph.ts); 0 forces the low-rank
// branch that large models use; dropout always takes the branch, and with its masks fed (seed 4) the graph is
// a plain function that finite differences can check
const FORMS = [['merged into the weights', undefined, 0], ['as a low-rank branch', 0, 0],
  ['with dropout 0.3', undefined, 0.3]] as const
for (const [form, loraMergedMaxWeights, dropout] of FORMS) {
  test(`LoRA gradients of stories260K match finite differences (float64 graph, LoRA ${form})`, async () => {
    const cfg = { ...lora, dropout }
    const adapter = { ...(await adapterFor(false)), config: cfg }
    const graph = buildTrainGraph(ckpt, { lora: cfg, float: 'float64', loraMergedMaxWeights, dropout: dropout > 0 })
    assert.equal(graph.dropout?.sites.length ?? 0, dropout > 0 ? lora.targetModules.length * ckpt.config.nLayers : 0)
    const session = await createSession(graph.model)
    const data = new Map([...adapter.tensors].map(([k, t]) => [k, Float64Array.from(t.data)]))
    const masks = graph.dropout !== undefined ? dropoutMasks(4, 12, graph.dropout.sites, dropout)
      : new Map<string, Uint8Array>()
    const feeds = (): Record<string, ort.Tensor> => ({
      input_ids: new ort.Tensor('int64', batch.inputIds, [2, 6]),
      labels: new ort.Tensor('int64', batch.labels, [2, 6]),
      attention_mask: new ort.Tensor('int64', batch.attentionMask, [2, 6]),
      ...Object.fromEntries(graph.lora.map((s) => [s.name,
        new ort.Tensor('float64', data.get(s.name)!, s.value.shape as number[])])),
      ...Object.fromEntries((graph.dropout?.sites ?? [])
        .map((s) => [s.name, new ort.Tensor('bool', masks.get(s.name)!, [12, s.cols])]))
    })
    const res = await session.run(feeds())
    assert.equal(Number(res.token_count!.data[0]), 9)
    const eps = 1e-6
    let worst = 0
    for (const s of graph.lora) {
      const x = data.get(s.name)!
      const g = res[gradName(s.name)]!.data as Float64Array
      let maxErr = 0
      let maxRef = 1e-4
      for (let k = 0; k < 6; k++) { // a spread of elements of every tensor
        const e = Math.floor((k * 7919 + 13) % x.length)
        const o = x[e]!
        x[e] = o + eps
        const lp = Number((await session.run(feeds(), ['loss_sum'])).loss_sum!.data[0])
        x[e] = o - eps
        const lm = Number((await session.run(feeds(), ['loss_sum'])).loss_sum!.data[0])
        x[e] = o
        const fd = (lp - lm) / (2 * eps)
        maxErr = Math.max(maxErr, Math.abs(fd - g[e]!))
        maxRef = Math.max(maxRef, Math.abs(fd))
      }
      worst = Math.max(worst, maxErr / maxRef)
    }
    if (dropout > 0) {
      // inverted dropout: with every unit kept, the branch is scaled by 1 / (1 - p), as B / (1 - p) without dropout
      for (const [k, m] of masks) { m.fill(1); void k }
      const kept = Number((await session.run(feeds(), ['loss_sum'])).loss_sum!.data[0])
      const plain = buildTrainGraph(ckpt, { lora, float: 'float64', loraMergedMaxWeights: 0 })
      const ps = await createSession(plain.model)
      const scaled = (name: string): Float64Array => name.includes('lora_B')
        ? data.get(name)!.map((v) => v / (1 - dropout)) : data.get(name)!
      const ref = Number((await ps.run({
        input_ids: new ort.Tensor('int64', batch.inputIds, [2, 6]),
        labels: new ort.Tensor('int64', batch.labels, [2, 6]),
        attention_mask: new ort.Tensor('int64', batch.attentionMask, [2, 6]),
        ...Object.fromEntries(plain.lora.map((s) => [s.name,
          new ort.Tensor('float64', scaled(s.name), s.value.shape as number[])]))
      }, ['loss_sum'])).loss_sum!.data[0])
      await ps.release()
      // Gemm alpha is a float32 attribute
      assert.ok(Math.abs(kept - ref) < 1e-6 * Math.abs(ref), `all kept: ${kept} vs ${ref}`)
    }
    await session.release()
    assert.ok(worst < 1e-5, `relative gradient error ${worst}`)

    // the float32 session gives the same gradients to float32 precision (with the same masks: same seed)
    const train = await TrainSession.create(ckpt, cfg, { threads: 1 })
    const r32 = await train.run(batch, adapter, 4)
    if (dropout > 0) {
      // masks drawn ahead in the session's helper thread are the ones it draws itself
      train.prefetchDropout(batch, 4)
      const ahead = await train.run(batch, adapter, 4)
      assert.equal(ahead.lossSum, r32.lossSum)
      for (const [k, g] of r32.grads) assert.deepEqual(ahead.grads.get(k)!.data, g.data, k)
      const other = await train.run(batch, adapter, 5)
      assert.notEqual(other.lossSum, r32.lossSum, 'another seed, other masks')
      await assert.rejects(train.run(batch, adapter), /needs a dropout seed/)
    }
    await train.release()
    assert.equal(r32.tokens, 9)
    assert.ok(Math.abs(r32.lossSum - Number(res.loss_sum!.data[0])) < 1e-4 * Math.abs(r32.lossSum))
    for (const s of graph.lora) {
      const { rel } = compare(res[gradName(s.name)]!.data as Float64Array, r32.grads.get(s.name)!.data)
      assert.ok(rel < 1e-3, `${s.name}: float32 vs float64 ${rel}`)
    }
  })
}

test('a zero-B adapter gives exactly the base model loss; padding does not change a sequence', async () => {
  const base = await EvalSession.create(ckpt, { threads: 1 })
  const withLora = await EvalSession.create(ckpt, { lora, threads: 1 })
  const b = await base.run(batch)
  const a = await withLora.run(batch, await adapterFor(true))
  assert.deepEqual(Array.from(a.lossSum), Array.from(b.lossSum))
  assert.deepEqual(Array.from(b.tokens), [5, 4])
  // the padded second example alone, unpadded
  const alone = await base.run({ batch: 1, seq: 4, inputIds: batch.inputIds.slice(6, 10),
    labels: batch.labels.slice(6, 10), attentionMask: batch.attentionMask.slice(6, 10) })
  assert.ok(Math.abs(alone.lossSum[0]! - b.lossSum[1]!) < 1e-5 * alone.lossSum[0]!,
    `${alone.lossSum[0]} vs ${b.lossSum[1]}`)
  await base.release()
  await withLora.release()
})

test('causal attention in query blocks gives the whole square\'s loss and gradients, also for a batch shorter than ' +
  'the blocks', async () => {
  const whole = await TrainSession.create(ckpt, lora, { threads: 1, attentionChunks: 1 })
  const blocks = await TrainSession.create(ckpt, lora, { threads: 1, attentionChunks: 4 })
  const evalWhole = await EvalSession.create(ckpt, { lora, threads: 1, attentionChunks: 1 })
  const evalBlocks = await EvalSession.create(ckpt, { lora, threads: 1 })
  assert.equal(blocks.graph.minSeq, 4)
  assert.equal(evalBlocks.graph.minSeq, ATTENTION_CHUNKS)
  const adapter = await adapterFor(false)
  // T = 6: blocks of 1, 2, 1, 2 rows; T = 2 (the first two columns): right-padded to 4 inside run()
  const short: TokenBatch = {
    batch: 2,
    seq: 2,
    inputIds: ids([1, 403, 1, 383]),
    labels: ids([403, 407, 383, 286]),
    attentionMask: ids([1, 1, 1, 1])
  }
  for (const b of [batch, short]) {
    const w = await whole.run(b, adapter)
    const c = await blocks.run(b, adapter)
    assert.equal(c.tokens, w.tokens)
    assert.ok(Math.abs(c.lossSum - w.lossSum) < 1e-5 * w.lossSum, `seq ${b.seq}: loss ${c.lossSum} vs ${w.lossSum}`)
    for (const [name, gw] of w.grads) {
      const { rel, scale } = compare(gw.data, c.grads.get(name)!.data)
      assert.ok(scale > 1e-5, `seq ${b.seq}: ${name} has a gradient`)
      assert.ok(rel < 1e-4, `seq ${b.seq}: ${name} blocks vs whole ${rel}`)
    }
    const ew = await evalWhole.run(b, adapter)
    const eb = await evalBlocks.run(b, adapter)
    assert.deepEqual(Array.from(eb.tokens), Array.from(ew.tokens))
    assert.ok(compare(ew.lossSum, eb.lossSum).rel < 1e-5, `seq ${b.seq}: eval loss ${eb.lossSum} vs ${ew.lossSum}`)
    assert.ok(Math.abs(eb.lossSum.reduce((x, y) => x + y) - c.lossSum) < 1e-5 * c.lossSum,
      `seq ${b.seq}: eval and train loss`)
  }
  await whole.release()
  await blocks.release()
  await evalWhole.release()
  await evalBlocks.release()
})

test('the standard-op train graph (what GPU providers run) gives the CPU graph\'s loss and gradients', async () => {
  // GPU providers get the graph without ORT's CPU-only fused ops (sessions.fusedOn): standard-op attention and
  // RMSNorm; bench/device runs the same comparison on a GPU
  const adapter = await adapterFor(false)
  const fused = await TrainSession.create(ckpt, lora, { threads: 1 })
  const plain = buildTrainGraph(ckpt, { lora, fused: false })
  const session = await createSession(plain.model, { threads: 1 })
  const r = await fused.run(batch, adapter)
  const out = await session.run({
    input_ids: new ort.Tensor('int64', batch.inputIds, [2, 6]),
    labels: new ort.Tensor('int64', batch.labels, [2, 6]),
    attention_mask: new ort.Tensor('int64', batch.attentionMask, [2, 6]),
    ...Object.fromEntries(plain.lora.map((s) => [s.name,
      new ort.Tensor('float32', adapter.tensors.get(s.name)!.data, s.value.shape as number[])]))
  })
  const loss = Number(out.loss_sum!.data[0])
  assert.ok(Math.abs(loss - r.lossSum) < 1e-5 * Math.abs(loss), `loss ${loss} vs ${r.lossSum}`)
  for (const s of plain.lora) {
    const { rel, scale } = compare(out[gradName(s.name)]!.data as Float32Array, r.grads.get(s.name)!.data)
    assert.ok(scale > 1e-5, `${s.name} has a gradient`)
    assert.ok(rel < 1e-4, `${s.name}: standard-op vs fused graph ${rel}`)
  }
  await session.release()
  await fused.release()
})

test('with LoRA dropout, a batch padded up to the query blocks trains as the same batch unpadded', async () => {
  const cfg: LoraConfig = { ...lora, dropout: 0.3 }
  const adapter = await adapterFor(false)
  // batch.seq = 6: padded to 8 by an 8-block session, not by a 2-block one; the padding rows keep every unit
  const padded = await TrainSession.create(ckpt, cfg, { threads: 1, attentionChunks: 8 })
  const unpadded = await TrainSession.create(ckpt, cfg, { threads: 1, attentionChunks: 2 })
  const a = await padded.run(batch, adapter, 7)
  const b = await unpadded.run(batch, adapter, 7)
  assert.equal(a.tokens, b.tokens)
  assert.ok(Math.abs(a.lossSum - b.lossSum) < 1e-5 * b.lossSum, `loss ${a.lossSum} vs ${b.lossSum}`)
  for (const [name, g] of b.grads) assert.ok(compare(g.data, a.grads.get(name)!.data).rel < 1e-4, name)
  await padded.release()
  await unpadded.release()
})
