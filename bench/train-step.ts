// One LoRA training step (forward + backward to the LoRA tensors + clip + AdamW) against the forward of the
// same LoRA model in the same run: rank 8 on all linear layers, for a LLaMA-7B-shaped block (hidden 4096,
// 32 heads, MLP 11008, 1 layer, seq 512, batch 1; random frozen fp32 weights as external data) and for
// stories260K (batch 8 x 256 tokens, the real model with its head and loss).
// On a shared machine wall time of multi-threaded runs is mostly other people's load: `--threads 1 --clock cpu`
// times each run by this process's CPU time (user + system) on one intra-op thread, as bench/forward-backward does.
// Usage: npm run bench -- train-step [--reps R] [--threads K] [--seq T] [--clock wall|cpu] [--only block7b|stories260K]
//   [--chunks C] [--device cpu|cuda|webgpu]
import ort from 'onnxruntime-node'
import { Graph } from '../trainer/graph/graph.ts'
import type { Value } from '../trainer/graph/graph.ts'
import { gradients } from '../trainer/graph/autodiff.ts'
import { weight } from '../trainer/graph/weights.ts'
import { createSession } from '../trainer/graph/session.ts'
import type { Device } from '../trainer/graph/session.ts'
import type { LinearModule, LlamaConfig } from '../trainer/model/config.ts'
import { LINEAR_MODULES } from '../trainer/model/config.ts'
import { block, makeContext, ropeTables } from '../trainer/model/llama-graph.ts'
import { loraLinear } from '../trainer/lora/lora-graph.ts'
import type { LoraSite } from '../trainer/lora/lora-graph.ts'
import type { LoraConfig } from '../trainer/lora/adapter.ts'
import { initAdapter } from '../trainer/lora/init.ts'
import { loadCheckpoint } from '../trainer/checkpoint/load.ts'
import { EvalSession, TrainSession } from '../trainer/model/sessions.ts'
import { adamwStep, clipGradNorm, createAdamWState, DEFAULT_ADAMW } from '../trainer/optim/adamw.ts'
import { fillRandom, randomBlocks } from './lib/random-weights.ts'
import { clockFlag, flagValue, median, numberFlag } from './lib/args.ts'

// stories260K's runs take ~80 ms and its ratio is a quotient of two noisy medians: more of them by default
const reps = numberFlag('reps', 3)
const repsStories = numberFlag('reps', 15)
const threads = numberFlag('threads', 0)
const T = numberFlag('seq', 512)
const LORA: LoraConfig = { r: 8, alpha: 16, dropout: 0, targetModules: [...LINEAR_MODULES] }
const c7: LlamaConfig = { dim: 4096, hiddenDim: 11008, nLayers: 1, nHeads: 32, nKvHeads: 32, vocabSize: 32000,
  maxSeqLen: 4096, normEps: 1e-5, ropeTheta: 10000, tiedEmbeddings: false, bosId: 1, eosId: 2 }
const { clock, now } = clockFlag()
const only = flagValue('only')
const device = (flagValue('device') ?? 'cpu') as Device
// query blocks of the train graph's attention
const chunks = flagValue('chunks') === undefined ? undefined : numberFlag('chunks', 0)
if (only !== undefined && only !== 'block7b' && only !== 'stories260K') {
  throw new Error(`--only must be block7b or stories260K, got ${only}`)
}

interface Figures { stepMs: number, forwardMs: number, ratio: number, tokensPerSec: number, optimizerMs: number }

/** Times forward and step alternately (a burst of load from elsewhere hits both alike). */
async function measure (forward: () => Promise<unknown>, pass: () => Promise<Map<string, Float32Array>>,
  params: Map<string, Float32Array>, tokens: number, reps: number): Promise<Figures> {
  const state = createAdamWState()
  const step = async (): Promise<{ ms: number, opt: number }> => {
    const t0 = now()
    const grads = await pass()
    const t1 = now()
    clipGradNorm(grads, 1)
    adamwStep(params, grads, state, DEFAULT_ADAMW)
    const t2 = now()
    return { ms: t2 - t0, opt: t2 - t1 }
  }
  await forward(); await step() // warm-up
  const f: number[] = []; const s: number[] = []; const o: number[] = []
  for (let i = 0; i < reps; i++) {
    const t0 = now(); await forward(); f.push(now() - t0)
    const r = await step(); s.push(r.ms); o.push(r.opt)
  }
  const stepMs = median(s); const forwardMs = median(f)
  return { stepMs: Math.round(stepMs), forwardMs: Math.round(forwardMs), ratio: Number((stepMs / forwardMs).toFixed(3)),
    tokensPerSec: Math.round(tokens / (stepMs / 1000)), optimizerMs: Number(median(o).toFixed(2)) }
}

async function block7b (): Promise<Figures> {
  const { refs, cleanup } = randomBlocks(c7, 1)
  try {
    const build = (train: boolean): { model: ReturnType<Graph['toModel']>, sites: LoraSite[] } => {
      const g = new Graph('float32')
      const ids = g.input('input_ids', 'int64', ['B', 'T'])
      const mask = g.input('attention_mask', 'int64', ['B', 'T'])
      const x = g.input('x', 'float32', ['N', c7.dim])
      const { linear, sites } = loraLinear(g, LORA)
      const [cos, sin] = ropeTables(g, c7)
      const ctx = makeContext(c7, { cos, sin }, { inputIds: ids, attentionMask: mask }, linear)
      const r = refs[0]!
      const lw = {
        attnNorm: weight(g, 'l0.attn_norm', r.attnNorm),
        mlpNorm: weight(g, 'l0.mlp_norm', r.mlpNorm),
        linear: Object.fromEntries(LINEAR_MODULES.map((m) => [m,
          weight(g, `l0.${m}`, r.linear[m])])) as Record<LinearModule, Value>
      }
      const h = block(ctx, x, lw, 0).out
      if (!train) return { model: g.toModel({ y: h }), sites }
      const dy = g.input('dy', 'float32', ['N', c7.dim])
      const grads = gradients(h, sites.map((s) => s.value), dy)
      return { model: g.toModel(Object.fromEntries(sites.map((s, i) => [`${s.name}.grad`, grads[i]!]))), sites }
    }
    const fwd = build(false); const trn = build(true)
    const fs = await createSession(fwd.model, { threads, device })
    const ts = await createSession(trn.model, { threads, device })
    const adapter = initAdapter(c7, LORA, 1)
    for (const [k, t] of adapter.tensors) if (k.includes('lora_B')) fillRandom(t.data, 0.01) // a trained-looking B
    const params = new Map([...adapter.tensors].map(([k, t]) => [k, t.data]))
    const loraFeeds = (): Record<string, ort.Tensor> => Object.fromEntries(fwd.sites.map((s) => [s.name,
      new ort.Tensor('float32', params.get(s.name)!, s.value.shape as number[])]))
    const xs = new Float32Array(T * c7.dim); fillRandom(xs, 1)
    const dys = new Float32Array(T * c7.dim); fillRandom(dys, 1)
    const base = {
      input_ids: new ort.Tensor('int64', new BigInt64Array(T), [1, T]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(T).fill(1n), [1, T]),
      x: new ort.Tensor('float32', xs, [T, c7.dim])
    }
    const r = await measure(
      async () => await fs.run({ ...base, ...loraFeeds() }),
      async () => {
        const out = await ts.run({ ...base, dy: new ort.Tensor('float32', dys, [T, c7.dim]), ...loraFeeds() })
        return new Map(trn.sites.map((s) => [s.name, out[`${s.name}.grad`]!.data as Float32Array]))
      }, params, T, reps)
    await fs.release(); await ts.release()
    return r
  } finally {
    cleanup()
  }
}

async function stories (): Promise<Figures> {
  const ckpt = loadCheckpoint('assets/stories260K/stories260K.bin')
  const B = 8; const S = 256
  // without --threads, the sessions' own default (model/threads.ts: one intra-op thread for a model this small)
  const t = threads > 0 ? threads : undefined
  const train = await TrainSession.create(ckpt, LORA,
    { threads: t, device, ...(chunks !== undefined ? { attentionChunks: chunks } : {}) })
  const evalS = await EvalSession.create(ckpt, { lora: LORA, threads: t, device })
  const adapter = initAdapter(ckpt.config, LORA, 1)
  for (const [k, t] of adapter.tensors) if (k.includes('lora_B')) fillRandom(t.data, 0.01)
  const params = new Map([...adapter.tensors].map(([k, t]) => [k, t.data]))
  let s = 7
  const ids = BigInt64Array.from({ length: B * S }, () => {
    s = (s * 1103515245 + 12345) >>> 0
    return BigInt(3 + (s % 500))
  })
  const batch = { batch: B, seq: S, inputIds: ids, labels: ids, attentionMask: new BigInt64Array(B * S).fill(1n) }
  const r = await measure(
    async () => await evalS.run(batch, adapter),
    async () => new Map([...(await train.run(batch, adapter)).grads].map(([k, t]) => [k, t.data])), params, B * S,
      repsStories)
  await train.release(); await evalS.release()
  return r
}

const b = only === 'stories260K' ? undefined : await block7b()
const st = only === 'block7b' ? undefined : await stories()
const share = (f: Figures | undefined): number | undefined => f === undefined ? undefined
  : Number((f.optimizerMs / f.stepMs).toFixed(4))
console.log(JSON.stringify({
  bench: 'train-step',
  block7b: b,
  stories260K: st,
  optimizerShare: share(b),
  optimizerShareStories260K: share(st),
  threads: threads > 0 ? threads : 'default',
  ...(device !== 'cpu' ? { device } : {}),
  clock,
  reps: only === 'stories260K' ? repsStories : reps,
  ...(only === undefined ? { repsStories260K: repsStories } : {}),
  peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024)
}))
