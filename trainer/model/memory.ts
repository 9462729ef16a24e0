// What a command will need in memory, estimated from the checkpoint and the run's shape before any session is
// built, so that a model too large for the machine stops with one line naming the figure and the flag to change
// instead of being killed half-way through creating a session. Pure: the caller reads the machine's memory.
//
// The parts (bytes): the frozen weights as stored (file-backed half-precision weights stay half and are counted
// once per process, whatever the number of sessions); the transient widened weight (the largest weight cast to
// float32 at its Gemm, forward and backward overlapping); activations (train: what each layer keeps for the
// backward, the attention's softmax weights and the [tokens, vocab] logits with their gradients; eval and
// generate: one layer's working set and the logits); the KV cache (generate); the optimizer (LoRA weights,
// gradients and AdamW moments, float32); and a fixed runtime overhead (Node, ORT, the tokenizer).
import type { LoraConfig } from '../lora/adapter.ts'
import type { CheckpointLayout, WeightRef } from './config.ts'
import { linearShape } from './config.ts'

export type MemoryKind = 'train' | 'eval' | 'generate'

export interface MemoryPlan {
  readonly kind: MemoryKind
  /** rows per pass */
  readonly microBatch: number
  /** tokens per row (train, eval) or prompt + generated tokens (generate) */
  readonly seq: number
  readonly lora?: LoraConfig
  /** a train and an eval session in one process (fedit peer): the weights once, both working sets */
  readonly pair?: boolean
  /** train: per-layer activation recomputation (each layer keeps its input; one layer's activations at a time) */
  readonly recompute?: boolean
  /** block-quantized linear weights (quantize.ts) */
  readonly quantize?: { readonly bits: number, readonly blockSize: number }
}

export interface MemoryEstimate {
  readonly weightsBytes: number
  readonly transientBytes: number
  readonly activationsBytes: number
  readonly kvCacheBytes: number
  readonly optimizerBytes: number
  readonly runtimeBytes: number
  readonly totalBytes: number
}

/** Node, ORT's libraries and thread pools, the tokenizer: measured ~300 MB on stories260K. */
export const RUNTIME_BYTES = 350 * 1024 * 1024
const F32 = 4

const bytesOf = (r: Pick<WeightRef, 'shape' | 'dtype'>): number =>
  r.shape.reduce((a, b) => a * b, 1) * (r.dtype === 'F32' ? 4 : 2)

/**
 * Quantized linear weights: each session's private copy of the codes, which ORT's MatMulNBits packs at session
 * creation out of the codes' cache file (whose pages are then left to the page cache: measured on 2 layers of 7B,
 * docs/performance.md), forward and, for training, transposed. Copies: train 2, pair 3 (and the eval session's
 * forward), eval and generate 1. (In-memory checkpoints, llama2.c's small ones, hold their codes once more.)
 */
const QUANT_COPIES = { train: 2, pair: 3, eval: 1, generate: 1 } as const

export function estimateMemory (ck: CheckpointLayout, p: MemoryPlan): MemoryEstimate {
  const c = ck.config
  let weightsBytes = 0
  let largestHalf = 0
  const q = p.quantize
  const quantized = (name: string): boolean => q !== undefined && name !== 'model.embed_tokens.weight' &&
    (name.endsWith('_proj.weight') || name === 'lm_head.weight')
  for (const [name, r] of ck.weights) {
    const n = r.shape.reduce((a, b) => a * b, 1)
    if (quantized(name)) {
      weightsBytes += n * (q!.bits / 8 + 4 / q!.blockSize) * QUANT_COPIES[p.pair === true ? 'pair' : p.kind]
      continue
    }
    weightsBytes += bytesOf(r)
    if (r.dtype !== 'F32') largestHalf = Math.max(largestHalf, n)
  }
  // forward and backward casts of one weight may be alive at once
  const transientBytes = largestHalf * F32 * 2
  const N = p.microBatch * p.seq
  const hd = c.dim / c.nHeads
  const kvDim = c.nKvHeads * hd
  // score-sized tensors: with query blocks the causal square is about 9/16 of T x T (graphs.ATTENTION_CHUNKS)
  const scores = p.microBatch * c.nHeads * p.seq * p.seq * F32 * (9 / 16)
  const logits = N * c.vocabSize * F32
  // per token and layer, what the backward reads: the block input, two norms' outputs, q k v, the attention
  // output, the residual, gate, up, silu and their product (~9 dim-wide and 4 hidden-wide float32 rows)
  const savedPerLayer = N * (9 * c.dim + 2 * kvDim + 4 * c.hiddenDim) * F32 + scores
  const working = N * (3 * c.dim + 3 * c.hiddenDim) * F32 + 2 * scores
  const train = (p.recompute === true ? c.nLayers * N * c.dim * F32 + savedPerLayer : c.nLayers * savedPerLayer) +
    working + 3 * logits
  const inference = working + 2 * logits
  let activationsBytes = p.kind === 'train' ? train : inference
  if (p.pair === true) activationsBytes = train + inference
  const kvCacheBytes = p.kind === 'generate' ? 2 * c.nLayers * p.microBatch * kvDim * p.seq * F32 : 0
  let loraWeights = 0
  if (p.lora !== undefined) {
    for (const m of p.lora.targetModules) {
      const [out, inp] = linearShape(c, m)
      loraWeights += c.nLayers * p.lora.r * (out + inp)
    }
  }
  // weights, gradients, two moments, and the copies the feeds and the update make
  const optimizerBytes = p.kind === 'train' || p.pair === true ? loraWeights * F32 * 6 : loraWeights * F32
  const totalBytes = weightsBytes + transientBytes + activationsBytes + kvCacheBytes + optimizerBytes + RUNTIME_BYTES
  return {
    weightsBytes, transientBytes, activationsBytes, kvCacheBytes, optimizerBytes, runtimeBytes: RUNTIME_BYTES,
      totalBytes
  }
}

const gb = (b: number): string => `${(b / 1024 ** 3).toFixed(1)} GB`

/**
 * undefined when `e` fits in `limitBytes`; otherwise the one-line reason, naming the figure, the largest part
 * and the flag to change (`flags`: what the command offers for its largest variable part).
 */
export function memoryProblem (e: MemoryEstimate, limitBytes: number, source: string, flags: string):
string | undefined {
  if (e.totalBytes <= limitBytes) return undefined
  const parts = `weights ${gb(e.weightsBytes)}, activations ${gb(e.activationsBytes)}` +
    (e.kvCacheBytes > 0 ? `, KV cache ${gb(e.kvCacheBytes)}` : '') +
    (e.optimizerBytes > 1024 ** 3 / 10 ? `, optimizer ${gb(e.optimizerBytes)}` : '')
  return `this run needs about ${gb(e.totalBytes)} of memory (${parts}), more than the ${gb(limitBytes)} of ` +
    `${source}; lower ${flags}, or raise --max-memory if the estimate is wrong`
}
