// A peer's local data as the trainer and the CLI take it: read (malformed lines reported with file:line),
// held-out split, tokenized. The split rule, one for every command: a file with records past line 80 is a
// Dolly-style file whose lines 1-80 are the FedIT test split (10 per category); those never enter training
// and are what evaluation uses. A smaller file is used whole, for training or for evaluation.
import { readInstructions } from '../data/readers.ts'
import type { DataProblem, InstructionRecord } from '../data/record.ts'
import { DOLLY_TEST_LINES, splitHeldOut } from '../data/split.ts'
import type { TokenizedExample, TokenizeOptions, TokenizeStats } from '../data/tokenize-example.ts'
import { tokenizeRecords } from '../data/tokenize-example.ts'
import type { PromptTokenizer } from '../data/tokenize-example.ts'
import { DataError } from '../data/errors.ts'

export interface LocalRecords {
  readonly train: readonly InstructionRecord[]
  readonly test: readonly InstructionRecord[]
  /** how the split was chosen, for messages */
  readonly rule: string
  readonly problems: readonly DataProblem[]
}

export function readLocalRecords (file: string, o: { onMalformed?: 'skip' | 'reject',
  limit?: number } = {}): LocalRecords {
  const { records, problems } = readInstructions(file, { onMalformed: o.onMalformed ?? 'reject' })
  if (records.length === 0) throw new DataError(`${file}: holds no usable records`)
  const hasHeldOut = records.some((r) => r.line > DOLLY_TEST_LINES) && records.some((r) => r.line <= DOLLY_TEST_LINES)
  const cut = (rs: readonly InstructionRecord[]): readonly InstructionRecord[] => o.limit !== undefined
    ? rs.slice(0, o.limit) : rs
  if (!hasHeldOut) {
    return { train: cut(records), test: cut(records),
      rule: `all ${records.length} records (the file has no held-out lines 1-${DOLLY_TEST_LINES} plus training lines)`,
      problems }
  }
  const s = splitHeldOut(records)
  return { train: cut(s.train), test: cut(s.test),
    rule: `held-out split: lines 1-${DOLLY_TEST_LINES} for evaluation, the rest for training`, problems }
}

/** `onProgress`: as tokenizeRecords' */
export function tokenizeOrFail (tok: PromptTokenizer, records: readonly InstructionRecord[], opts: TokenizeOptions,
  what: string, onProgress?: (done: number) => void): { examples: TokenizedExample[], stats: TokenizeStats } {
  return someExamples(tokenizeRecords(tok, records, opts, onProgress), opts, what)
}

/** Tokenized records, or a DataError when none is left to learn from. */
export function someExamples<R extends { examples: readonly TokenizedExample[], stats: TokenizeStats }> (r: R,
  opts: TokenizeOptions, what: string): R {
  if (r.examples.length === 0) {
    throw new DataError(`no ${what} example left after tokenization (${r.stats.dropped} of ${r.stats.records} ` +
      `dropped with no response token within max length ${opts.maxLength ?? 512})`)
  }
  return r
}
