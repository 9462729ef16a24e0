// The CPU path's numbers on another device (webgpu, cuda): one stories260K eval micro-batch and one LoRA train
// step (rank 8, all linear layers) on the same real Dolly examples, on the device and on the CPU, with the same
// adapter. Prints one JSON line: each side's losses and median times, the relative loss differences and the
// largest relative gradient difference over the LoRA tensors (float32 on both sides: expect ~1e-5, not 0).
// A device that cannot start fails with the session's one-line error.
// Usage: npm run bench -- device [--device webgpu|cuda] [--reps R] [--batch B] [--max-length T]
import ort from 'onnxruntime-node'
import type { Device } from '../trainer/graph/session.ts'
import { DEVICES } from '../trainer/graph/session.ts'
import { loadCheckpoint } from '../trainer/checkpoint/load.ts'
import { loadTokenizerFor } from '../trainer/tokenizer.ts'
import { readLocalRecords, tokenizeOrFail } from '../trainer/train/local-data.ts'
import { makeBatches } from '../trainer/data/batcher.ts'
import { toTokenBatch } from '../trainer/train/token-batch.ts'
import type { TokenBatch } from '../trainer/model/feeds.ts'
import type { LoraConfig } from '../trainer/lora/adapter.ts'
import { LINEAR_MODULES } from '../trainer/model/config.ts'
import type { LlamaCheckpoint } from '../trainer/model/config.ts'
import { initAdapter } from '../trainer/lora/init.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { Tensor } from '../trainer/tensor.ts'
import { EvalSession, TrainSession } from '../trainer/model/sessions.ts'
import { fillRandom } from './lib/random-weights.ts'
import { flagValue, median, numberFlag } from './lib/args.ts'

const device = (flagValue('device') ?? 'webgpu') as Device
if (!DEVICES.includes(device) || device === 'cpu') {
  throw new Error(`--device must be one of ${DEVICES.filter((d) => d !== 'cpu').join(', ')}, got ${device}`)
}
const reps = numberFlag('reps', 5)
const B = numberFlag('batch', 8)
const maxLength = numberFlag('max-length', 256)
const MODEL = 'assets/stories260K/stories260K.bin'
const LORA: LoraConfig = { r: 8, alpha: 16, dropout: 0, targetModules: [...LINEAR_MODULES] }

interface Side { evalMs: number, stepMs: number, evalLoss: number, trainLoss: number, grads: Map<string, Tensor> }

async function runOn (d: Device, ckpt: LlamaCheckpoint, batch: TokenBatch, adapter: Adapter): Promise<Side> {
  const ev = await EvalSession.create(ckpt, { lora: LORA, device: d })
  const tr = await TrainSession.create(ckpt, LORA, { device: d })
  try {
    const e = await ev.run(batch, adapter) // warm-up (and the first run's numbers: runs are deterministic)
    const t = await tr.run(batch, adapter)
    const em: number[] = []
    const sm: number[] = []
    for (let i = 0; i < reps; i++) {
      let t0 = performance.now(); await ev.run(batch, adapter); em.push(performance.now() - t0)
      t0 = performance.now(); await tr.run(batch, adapter); sm.push(performance.now() - t0)
    }
    const sum = (xs: Float32Array): number => xs.reduce((a, b) => a + b, 0)
    return { evalMs: median(em), stepMs: median(sm), evalLoss: sum(e.lossSum) / sum(e.tokens),
      trainLoss: t.lossSum / t.tokens, grads: t.grads }
  } finally {
    await ev.release(); await tr.release()
  }
}

const ckpt = loadCheckpoint(MODEL)
const tok = loadTokenizerFor(MODEL, ckpt.config.vocabSize)
const records = readLocalRecords('assets/dolly/dolly-15k.jsonl.gz').train.slice(0, 4 * B)
const { examples } = tokenizeOrFail(tok, records, { maxLength, trainOnInputs: false }, 'benchmark')
const batch = toTokenBatch(makeBatches(examples, { microBatchSize: B, seed: 1 })
  .sort((a, b) => b.seqLen - a.seqLen)[0]!)
const adapter = initAdapter(ckpt.config, LORA, 1)
for (const [k, t] of adapter.tensors) if (k.includes('lora_B')) fillRandom(t.data, 0.01) // a trained-looking B

const cpu = await runOn('cpu', ckpt, batch, adapter)
const dev = await runOn(device, ckpt, batch, adapter)
// per LoRA tensor: max |difference| / max |cpu gradient|
const diffs = [...cpu.grads].map(([name, g]): [string, number] => {
  const o = dev.grads.get(name)!.data
  let d = 0
  let m = 1e-12
  for (let i = 0; i < g.data.length; i++) {
    d = Math.max(d, Math.abs(g.data[i]! - o[i]!))
    m = Math.max(m, Math.abs(g.data[i]!))
  }
  return [name, d / m]
}).sort((a, b) => b[1] - a[1])
const figures = (s: Side): object => ({ evalMs: Number(s.evalMs.toFixed(2)), stepMs: Number(s.stepMs.toFixed(2)),
  evalLoss: Number(s.evalLoss.toFixed(6)), trainLoss: Number(s.trainLoss.toFixed(6)) })
const rel = (a: number, b: number): number => Number((Math.abs(a - b) / Math.abs(a)).toExponential(2))
console.log(JSON.stringify({
  bench: 'device',
  device,
  onnxruntime: ort.env.versions.node,
  batch: [batch.batch, batch.seq],
  cpu: figures(cpu),
  [device]: figures(dev),
  evalLossRelDiff: rel(cpu.evalLoss, dev.evalLoss),
  trainLossRelDiff: rel(cpu.trainLoss, dev.trainLoss),
  gradRelDiff: Number(diffs[0]![1].toExponential(2)),
  worstGrads: Object.fromEntries(diffs.slice(0, 6).map(([k, v]) => [k.replace('base_model.model.model.', ''),
    Number(v.toExponential(2))])),
  medianGradRelDiff: Number(diffs[diffs.length >> 1]![1].toExponential(2))
}))
