// Greedy answers (Alpaca template) of each model to a few held-out instructions, for the responses table.
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { LlamaCheckpoint } from '../trainer/model/config.ts'
import type { InstructionRecord } from '../trainer/data/record.ts'
import type { Tokenizer } from '../trainer/tokenizer.ts'
import { formatPrompt } from '../trainer/data/prompt.ts'
import { Generator } from '../trainer/model/generate.ts'
import type { ResponseRow } from './tables.ts'

/** A few held-out records from different categories, short prompts first (pure). */
export function pickPrompts (test: readonly InstructionRecord[], n: number): InstructionRecord[] {
  const byCat = new Map<string, InstructionRecord>()
  for (const r of [...test].sort((a, b) => (a.instruction.length +
    a.input.length) - (b.instruction.length + b.input.length) || a.line - b.line)) {
    if (!byCat.has(r.category)) byCat.set(r.category, r)
  }
  return [...byCat.values()].sort((a, b) => a.line - b.line).slice(0, n)
}

export async function generateResponses (ckpt: LlamaCheckpoint, tok: Tokenizer, prompts: readonly InstructionRecord[],
  models: ReadonlyArray<{ readonly name: string, readonly adapter?: Adapter }>,
  maxTokens = 48): Promise<ResponseRow[]> {
  const answers = prompts.map(() => ({} as Record<string, string>))
  for (const m of models) {
    const g = await Generator.create(ckpt, { adapter: m.adapter, threads: 1 })
    try {
      for (let i = 0; i < prompts.length; i++) {
        const p = prompts[i]!
        const ids = [ckpt.config.bosId, ...tok.encode(formatPrompt(p.instruction, p.input))]
        // keep room for the answer inside the model's context
        const room = ckpt.config.maxSeqLen - maxTokens
        const prompt = ids.length > room ? [ids[0]!, ...ids.slice(ids.length - room + 1)] : ids
        answers[i]![m.name] = tok.decode(await g.generate(prompt, { maxTokens }))
      }
    } finally { await g.release() }
  }
  return prompts.map((p, i) => ({ instruction: p.instruction, category: p.category, reference: p.response,
    answers: answers[i]! }))
}
