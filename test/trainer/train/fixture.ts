// Shared by the training tests: stories260K, its tokenizer and a small tokenized slice of real Dolly.
import { loadCheckpoint } from '../../../trainer/checkpoint/load.ts'
import { loadTokenizerFor } from '../../../trainer/tokenizer.ts'
import { readLocalRecords } from '../../../trainer/train/local-data.ts'
import { tokenizeRecords } from '../../../trainer/data/tokenize-example.ts'
import type { LoraConfig } from '../../../trainer/lora/adapter.ts'
import type { TokenBatch } from '../../../trainer/model/feeds.ts'

export const MODEL = 'assets/stories260K/stories260K.bin'
export const DOLLY = 'assets/dolly/dolly-15k.jsonl.gz'
export const ckpt = loadCheckpoint(MODEL)
export const tok = loadTokenizerFor(MODEL, ckpt.config.vocabSize)
export const local = readLocalRecords(DOLLY)
// stories260K's 512-token vocabulary spends ~100 tokens on the prompt template: 160 leaves room for answers
export const MAX_LENGTH = 160
export const trainExamples = tokenizeRecords(tok, local.train.slice(0, 48), { maxLength: MAX_LENGTH }).examples
export const evalExamples = tokenizeRecords(tok, local.test.filter((_, i) => i % 5 === 0),
  { maxLength: MAX_LENGTH }).examples
export const LORA: LoraConfig = { r: 4, alpha: 8, dropout: 0,
  targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] }

/** Two rows of `seq` tokens (ids below 293, fit for the small random models) and their next-token labels. */
export function twoRowBatch (seq: number): TokenBatch {
  const ids = Array.from({ length: 2 * (seq + 1) }, (_, i) => 3 + (i * 131) % 290)
  const rows = (off: number): bigint[] => [...ids.slice(off, off + seq), ...ids.slice(seq + 1 + off, 2 * seq + 1 + off)]
    .map(BigInt)
  return { batch: 2, seq, inputIds: BigInt64Array.from(rows(0)), labels: BigInt64Array.from(rows(1)),
    attentionMask: new BigInt64Array(2 * seq).fill(1n) }
}
