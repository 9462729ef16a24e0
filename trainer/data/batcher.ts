// Groups tokenized examples into padded micro-batches for one epoch. Right padding with padId, attention
// mask 0 and labels IGNORE_INDEX on padding. Length bucketing: the shuffled examples are taken a window at a
// time (bucketWindow micro-batches' worth), sorted by length inside the window and cut into micro-batches,
// whose order is then shuffled, so a micro-batch holds examples of similar length (little padding) while the
// epoch stays random. Same seed and epoch -> same batches.
import type { TokenizedExample } from './tokenize-example.ts'
import { IGNORE_INDEX } from './tokenize-example.ts'
import { createRng, deriveSeed, shuffleInPlace } from '../rng.ts'

export interface BatchOptions {
  readonly microBatchSize: number
  readonly seed: number
  /** mixed into the seed: each epoch gets its own order (default 0) */
  readonly epoch?: number
  /** LLaMA has no pad token; Alpaca-LoRA pads with id 0 (default 0) */
  readonly padId?: number
  /** micro-batches per sorting window (default 64); 1 or less disables length bucketing */
  readonly bucketWindow?: number
  /** pad each batch's length up to a multiple of this (default 1) */
  readonly padToMultiple?: number
}

export interface Batch {
  readonly batchSize: number
  readonly seqLen: number
  /** [batchSize, seqLen] row-major */
  readonly inputIds: Int32Array
  /** [batchSize, seqLen]: 1 on tokens, 0 on padding */
  readonly attentionMask: Int32Array
  /** [batchSize, seqLen], aligned with inputIds (HF convention: the loss shifts), IGNORE_INDEX on prompt and padding */
  readonly labels: Int32Array
  /** labels that are not IGNORE_INDEX after the shift (positions 1..), i.e. the tokens the loss averages over */
  readonly targetTokens: number
  /** indices of the examples (into the array given) */
  readonly indices: readonly number[]
}

export function makeBatches (examples: readonly TokenizedExample[], opts: BatchOptions): Batch[] {
  const size = opts.microBatchSize
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new RangeError(`microBatchSize must be a positive integer, got ${size}`)
  }
  const rng = createRng(deriveSeed(opts.seed, `epoch:${opts.epoch ?? 0}`))
  const order = shuffleInPlace(Array.from({ length: examples.length }, (_, i) => i), rng)
  const window = Math.max(1, opts.bucketWindow ?? 64) * size
  const groups: number[][] = []
  for (let w = 0; w < order.length; w += window) {
    const part = order.slice(w, w + window)
    if ((opts.bucketWindow ?? 64) > 1) {
      part.sort((a, b) => examples[a]!.inputIds.length - examples[b]!.inputIds.length || a - b)
    }
    for (let i = 0; i < part.length; i += size) groups.push(part.slice(i, i + size))
  }
  shuffleInPlace(groups, rng)
  return groups.map((g) => collate(examples, g, opts.padId ?? 0, opts.padToMultiple ?? 1))
}

/** Pads the given examples into one batch. */
export function collate (examples: readonly TokenizedExample[], indices: readonly number[], padId = 0,
  padToMultiple = 1): Batch {
  const longest = Math.max(...indices.map((i) => examples[i]!.inputIds.length))
  const seqLen = Math.ceil(longest / padToMultiple) * padToMultiple
  const b = indices.length
  const inputIds = new Int32Array(b * seqLen).fill(padId)
  const attentionMask = new Int32Array(b * seqLen)
  const labels = new Int32Array(b * seqLen).fill(IGNORE_INDEX)
  let targetTokens = 0
  indices.forEach((ex, row) => {
    const e = examples[ex]!
    inputIds.set(e.inputIds, row * seqLen)
    attentionMask.fill(1, row * seqLen, row * seqLen + e.inputIds.length)
    labels.set(e.labels, row * seqLen)
    for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== IGNORE_INDEX) targetTokens++
  })
  return { batchSize: b, seqLen, inputIds, attentionMask, labels, targetTokens, indices: [...indices] }
}
