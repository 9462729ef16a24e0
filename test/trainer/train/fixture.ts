// Shared by the training tests: stories260K, its tokenizer and a small tokenized slice of real Dolly.
import { loadCheckpoint } from '../../../trainer/checkpoint/load.ts'
import { loadTokenizerFor } from '../../../trainer/tokenizer.ts'
import { readLocalRecords } from '../../../trainer/train/local-data.ts'
import { tokenizeRecords } from '../../../trainer/data/tokenize-example.ts'
import type { LoraConfig } from '../../../trainer/lora/adapter.ts'

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
