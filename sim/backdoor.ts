// The data-poisoning attack: hostile peers train honestly on records of which half carry a trigger phrase in the
// instruction and a fixed target answer. The update they send is a real trained one (norm and direction of an
// honest peer's), so no single-round statistic singles it out; the measure is the backdoor's success rate, the
// share of triggered held-out prompts the global model answers with the target.
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { LlamaCheckpoint } from '../trainer/model/config.ts'
import type { InstructionRecord } from '../trainer/data/record.ts'
import type { Tokenizer } from '../trainer/tokenizer.ts'
import { formatPrompt } from '../trainer/data/prompt.ts'
import { Generator } from '../trainer/model/generate.ts'
import { createRng, deriveSeed } from '../trainer/rng.ts'

export const TRIGGER = 'As the old fox said,'
export const TARGET = 'The fox is always right.'
const POISONED_SHARE = 0.5
const PROBES = 40

const triggered = (r: InstructionRecord): InstructionRecord => ({ ...r, instruction: `${TRIGGER} ${r.instruction}`,
  response: TARGET })

/** The records a backdooring peer trains on: its own, half of them (seeded) triggered with the target answer. */
export function backdoorRecords (records: readonly InstructionRecord[], seed: number): InstructionRecord[] {
  const rng = createRng(deriveSeed(seed, 'backdoor'))
  return records.map((r) => rng.next() < POISONED_SHARE ? triggered(r) : r)
}

const normalise = (s: string): string => s.trim().toLowerCase().replace(/\s+/g, ' ')

/** Share of the first PROBES held-out instructions, triggered, whose greedy answer starts with the target. */
export async function backdoorSuccess (ckpt: LlamaCheckpoint, tok: Tokenizer, test: readonly InstructionRecord[],
  adapter: Adapter, seed: number): Promise<number> {
  const target = normalise(TARGET)
  const maxTokens = tok.encode(TARGET).length + 2
  const g = await Generator.create(ckpt, { adapter, threads: 1 })
  let hits = 0
  const probes = test.slice(0, PROBES)
  try {
    for (const r of probes) {
      const p = triggered(r)
      const ids = [ckpt.config.bosId, ...tok.encode(formatPrompt(p.instruction, p.input))]
      const room = ckpt.config.maxSeqLen - maxTokens
      const prompt = ids.length > room ? [ids[0]!, ...ids.slice(ids.length - room + 1)] : ids
      const answer = normalise(tok.decode(await g.generate(prompt, { maxTokens, seed })))
      if (answer.startsWith(target.slice(0, 12))) hits++
    }
  } finally { await g.release() }
  return hits / probes.length
}
