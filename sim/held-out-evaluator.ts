// The orchestrator's own judge: mean token cross-entropy of the reference responses of the held-out split
// (Dolly lines 1-80), overall and per category, for the base model or base + an adapter. The peers never
// evaluate; every model of a run (base, each round's global, the baselines) goes through this one evaluator,
// at one fixed length, so the figures compare. Runs on the calling thread (stories260K: about a second).
import type { Adapter, LoraConfig } from '../trainer/lora/adapter.ts'
import type { LlamaCheckpoint } from '../trainer/model/config.ts'
import type { InstructionRecord } from '../trainer/data/record.ts'
import type { Tokenizer } from '../trainer/tokenizer.ts'
import { tokenizeRecords } from '../trainer/data/tokenize-example.ts'
import { EvalSession } from '../trainer/model/sessions.ts'
import { evaluateExamples } from '../trainer/train/evaluate.ts'
import type { Device } from '../trainer/graph/session.ts'

export interface HeldOutLoss {
  readonly evalLoss: number
  readonly byCategory: Record<string, number>
  readonly examples: number
}

export interface Evaluator {
  evaluate (adapter?: Adapter): Promise<HeldOutLoss>
  close (): Promise<void>
}

export interface EvaluatorOptions {
  readonly ckpt: LlamaCheckpoint
  readonly tokenizer: Tokenizer
  readonly records: readonly InstructionRecord[]
  readonly lora: LoraConfig
  readonly maxLength: number
  readonly device?: Device
  readonly threads?: number
  readonly microBatch?: number
}

export async function createEvaluator (o: EvaluatorOptions): Promise<Evaluator> {
  const { examples } = tokenizeRecords(o.tokenizer, o.records, { maxLength: Math.min(o.maxLength, o.ckpt.config.maxSeqLen) })
  const so = { device: o.device, threads: o.threads }
  const base = await EvalSession.create(o.ckpt, so)
  const withLora = await EvalSession.create(o.ckpt, { ...so, lora: o.lora })
  let queue: Promise<unknown> = Promise.resolve()
  const run = async (adapter?: Adapter): Promise<HeldOutLoss> => {
    const r = await evaluateExamples(adapter === undefined ? base : withLora, examples, { adapter, microBatchSize: o.microBatch ?? 8 })
    return { evalLoss: r.evalLoss, byCategory: r.byCategory, examples: r.examples }
  }
  return {
    // one evaluation at a time: callers from several places (rounds, baselines) share the sessions
    async evaluate (adapter?: Adapter): Promise<HeldOutLoss> {
      const next = queue.then(async () => await run(adapter))
      queue = next.catch(() => {})
      return await next
    },
    async close () { await base.release(); await withLora.release() }
  }
}
