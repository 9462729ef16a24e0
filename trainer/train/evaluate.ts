// Held-out evaluation: mean token cross-entropy of the reference responses (the prompt carries no loss),
// overall and per category, both token-weighted; perplexity = exp(loss). Optionally ROUGE-L of greedy
// generations against the references on a sample.
import type { Adapter } from '../lora/adapter.ts'
import type { EvalSession } from '../model/sessions.ts'
import type { Generator } from '../model/generate.ts'
import type { TokenizedExample } from '../data/tokenize-example.ts'
import type { InstructionRecord } from '../data/record.ts'
import type { Tokenizer } from '../tokenizer.ts'
import { formatPrompt } from '../data/prompt.ts'
import { rougeL } from '../metrics/rouge.ts'
import { microBatches } from './step-plan.ts'
import { toTokenBatch } from './token-batch.ts'

export interface EvalSummary {
  readonly evalLoss: number
  readonly perplexity: number
  readonly byCategory: Record<string, number>
  readonly examples: number
  /** target tokens the loss averages over */
  readonly tokens: number
}

/** `onProgress` gets the examples evaluated so far, after each micro-batch. */
export async function evaluateExamples (session: EvalSession, examples: readonly TokenizedExample[],
  o: { adapter?: Adapter, microBatchSize?: number, onProgress?: (done: number) => void } = {}): Promise<EvalSummary> {
  const all = examples.map((_, i) => i)
  const sums = new Map<string, { loss: number, tokens: number }>()
  let loss = 0; let tokens = 0
  let done = 0
  for (const mb of microBatches(examples, all, o.microBatchSize ?? 8)) {
    const r = await session.run(toTokenBatch(mb), o.adapter)
    done += mb.indices.length
    o.onProgress?.(done)
    mb.indices.forEach((ex, row) => {
      const cat = examples[ex]!.category
      const s = sums.get(cat) ?? { loss: 0, tokens: 0 }
      s.loss += r.lossSum[row]!; s.tokens += r.tokens[row]!
      sums.set(cat, s)
      loss += r.lossSum[row]!; tokens += r.tokens[row]!
    })
  }
  const byCategory: Record<string, number> = {}
  for (const cat of [...sums.keys()].sort()) {
    const s = sums.get(cat)!
    if (s.tokens > 0) byCategory[cat] = s.loss / s.tokens
  }
  const evalLoss = tokens > 0 ? loss / tokens : NaN
  return { evalLoss, perplexity: Math.exp(evalLoss), byCategory, examples: examples.length, tokens }
}

export interface RougeSample { readonly rougeL: number, readonly examples: number,
  readonly outputs: Array<{ line: number, response: string }> }

/**
 * Mean ROUGE-L F of greedy responses to the first `n` records' prompts against their references; `onProgress` gets the
 * responses done.
 */
export async function rougeOnSample (gen: Generator, tok: Tokenizer, records: readonly InstructionRecord[], n: number,
  maxTokens = 128, onProgress?: (done: number) => void): Promise<RougeSample> {
  const sample = records.slice(0, n)
  const outputs: Array<{ line: number, response: string }> = []
  let total = 0
  for (const r of sample) {
    const prompt = [tok.bosId, ...tok.encode(formatPrompt(r.instruction, r.input))]
    const ids = await gen.generate(prompt, { maxTokens, temperature: 0 })
    const response = tok.decode(ids).trim()
    outputs.push({ line: r.line, response })
    total += rougeL(response, r.response).f
    onProgress?.(outputs.length)
  }
  return { rougeL: sample.length > 0 ? total / sample.length : NaN, examples: sample.length, outputs }
}
