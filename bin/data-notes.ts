// What a peer says about its data file at start: the malformed lines it skipped (file:line, the first few)
// and which lines are held out, so a user knows what was trained on without reading the code.
import type { DataStats } from '../trainer/train/round-trainer.ts'
import { formatProblem } from '../trainer/data/record.ts'
import { DOLLY_TEST_LINES } from '../trainer/data/split.ts'

const SHOWN = 10

export function dataNotes (file: string, stats: DataStats): string[] {
  const f = stats.file
  if (f === undefined) return []
  const lines = f.problems.slice(0, SHOWN).map((p) => `data: skipped ${formatProblem(p)}`)
  if (f.problems.length > SHOWN) {
    lines.push(`data: skipped ${f.problems.length - SHOWN} more malformed lines of ${file}`)
  }
  const heldOut = f.rule.startsWith('held-out')
  lines.push(`data: ${file}: ${f.records} records${f.problems.length > 0 ? ` (${f.problems.length} malformed lines ` +
    `skipped)` : ''}; ` +
    (heldOut
      ? `lines 1-${DOLLY_TEST_LINES} are held out (evaluation only, never trained on); ${stats.train.examples} ` +
        `training examples`
      : `all used for training (${stats.train.examples} examples; no held-out lines 1-${DOLLY_TEST_LINES}: the file ` +
        `is not longer than that)`))
  return lines
}
