// Default intra-op thread counts. ORT wakes every intra-op thread for each kernel; for a small model the kernels
// are microseconds long, so the second thread costs more than it brings, and on a shared or busy machine (a
// simulation runs several peers on the same cores) a parallel section waits for whichever thread was descheduled.
// Measured on the 2-core dev machine with stories260K: greedy decoding ~2000 vs ~900 tokens/s, one 8x128 LoRA
// train step ~31 vs 90-160 ms (one thread vs two). An explicit `threads` option always wins.
import type { LlamaConfig } from './config.ts'

/** Weights of the decoder (attention, MLP, embeddings and head; norms ignored). */
export function weightCount (c: LlamaConfig): number {
  const kv = c.nKvHeads * (c.dim / c.nHeads)
  const perLayer = 2 * c.dim * c.dim + 2 * kv * c.dim + 3 * c.dim * c.hiddenDim
  return c.nLayers * perLayer + c.vocabSize * c.dim * (c.tiedEmbeddings ? 1 : 2)
}

/** Below these sizes one thread is the default: per-token decoding, and batched train/eval runs. */
export const SINGLE_THREAD_WEIGHTS = { decode: 30e6, batch: 5e6 } as const

export function defaultThreads (c: LlamaConfig, kind: keyof typeof SINGLE_THREAD_WEIGHTS,
  explicit: number | undefined): number | undefined {
  if (explicit !== undefined) return explicit
  return weightCount(c) < SINGLE_THREAD_WEIGHTS[kind] ? 1 : undefined
}
