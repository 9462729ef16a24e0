// Which examples each optimizer step sees: pure functions of (number of examples, batch size, seed, step), so a
// run resumed at step k continues on exactly the examples an uninterrupted run would have seen.
// Each epoch is its own seeded shuffle; step k of an epoch takes the next `batchSize` examples of it (the last
// step of an epoch may be smaller, as Hugging Face's Trainer does). Inside a step the examples are sorted by
// length and cut into micro-batches, so a micro-batch carries little padding while the step's content (and so
// its exact token-weighted loss) does not depend on the micro-batch size.
import type { Batch } from '../data/batcher.ts'
import { collate } from '../data/batcher.ts'
import type { TokenizedExample } from '../data/tokenize-example.ts'
import { createRng, deriveSeed, shuffleInPlace } from '../rng.ts'

/** How long a run lasts: a number of optimizer steps, or (fractional) epochs over the examples. */
export type RunLength = { readonly steps: number } | { readonly epochs: number }

export function stepsPerEpoch (examples: number, batchSize: number): number {
  return Math.ceil(examples / batchSize)
}

export function totalSteps (length: RunLength, examples: number, batchSize: number): number {
  if ('steps' in length) return length.steps
  return Math.max(1, Math.ceil(length.epochs * stepsPerEpoch(examples, batchSize)))
}

/** The shuffled order of an epoch (memoised by the caller if it likes; it is cheap). */
export function epochOrder (examples: number, seed: number, epoch: number): number[] {
  return shuffleInPlace(Array.from({ length: examples }, (_, i) => i), createRng(deriveSeed(seed, `epoch:${epoch}`)))
}

/** Indices of the examples of global optimizer step `step` (0-based). */
export function stepExamples (examples: number, batchSize: number, seed: number,
  step: number): { epoch: number, indices: number[] } {
  if (examples < 1) throw new RangeError('no training examples')
  const per = stepsPerEpoch(examples, batchSize)
  const epoch = Math.floor(step / per)
  const k = step % per
  const order = epochOrder(examples, seed, epoch)
  return { epoch, indices: order.slice(k * batchSize, (k + 1) * batchSize) }
}

/** A step's examples as padded micro-batches of at most `microBatchSize` rows (HF-aligned labels). */
export function microBatches (examples: readonly TokenizedExample[], indices: readonly number[], microBatchSize: number,
  padId = 0): Batch[] {
  const sorted = [...indices].sort((a, b) => examples[a]!.inputIds.length - examples[b]!.inputIds.length || a - b)
  const out: Batch[] = []
  for (let i = 0; i < sorted.length; i += microBatchSize) {
    out.push(collate(examples, sorted.slice(i, i + microBatchSize), padId))
  }
  return out
}

/** Distinct examples that steps [from, to) touch: the FedAvg weight of a round. */
export function distinctExamples (examples: number, batchSize: number, seed: number, from: number, to: number): number {
  const per = stepsPerEpoch(examples, batchSize)
  if (to - from >= per) return examples
  const seen = new Set<number>()
  for (let s = from; s < to; s++) for (const i of stepExamples(examples, batchSize, seed, s).indices) seen.add(i)
  return seen.size
}
