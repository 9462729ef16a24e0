// The held-out split of the FedIT/Shepherd setup: the first 80 lines of the Dolly file (10 per category)
// are the test split, everything after is the training pool. Split by line number, so the test records stay
// out of training whatever was skipped or reordered.
import type { InstructionRecord } from './record.ts'

export const DOLLY_TEST_LINES = 80

export interface HeldOutSplit {
  readonly test: readonly InstructionRecord[]
  readonly train: readonly InstructionRecord[]
}

export function splitHeldOut (records: readonly InstructionRecord[], testLines = DOLLY_TEST_LINES): HeldOutSplit {
  return { test: records.filter((r) => r.line <= testLines), train: records.filter((r) => r.line > testLines) }
}
