// The orchestrator's own judge: mean token cross-entropy of the reference responses of the held-out split
// (Dolly lines 1-80), overall and per category, for the base model or base + an adapter. The peers never
// evaluate; every model of a run (base, each round's global, the baselines) goes through this one evaluator,
// at one fixed length, so the figures compare. It runs in a worker thread of its own: in-process peers share
// this thread for their networking, which must not stall while a model is scored.
import type { Adapter, LoraConfig } from '../trainer/lora/adapter.ts'
import type { InstructionRecord } from '../trainer/data/record.ts'
import { initAdapter } from '../trainer/lora/init.ts'
import { createWorkerTrainer } from '../trainer/train/worker-trainer.ts'

export interface HeldOutLoss {
  readonly evalLoss: number
  readonly byCategory: Record<string, number>
  readonly examples: number
}

export interface Evaluator {
  /** without an adapter: the base model */
  evaluate (adapter?: Adapter): Promise<HeldOutLoss>
  close (): Promise<void>
}

export interface EvaluatorOptions {
  readonly modelPath: string
  readonly records: readonly InstructionRecord[]
  readonly lora: LoraConfig
  readonly maxLength: number
  readonly threads?: number
}

export async function createEvaluator (o: EvaluatorOptions): Promise<Evaluator> {
  // a worker trainer that is only ever asked to evaluate (its training set is the held-out set, never used)
  const w = await createWorkerTrainer({
    modelPath: o.modelPath, records: o.records, evalRecords: o.records, lora: o.lora,
    recipe: { length: { steps: 1 } }, maxLength: o.maxLength, threads: o.threads, workers: 1 // never trains
  })
  // the base model = any adapter with B = 0 (LoRA adds B·A = 0)
  const noop = initAdapter(w.modelConfig, o.lora, 0)
  let queue: Promise<unknown> = Promise.resolve()
  return {
    // one evaluation at a time, in call order (rounds and baselines share it)
    async evaluate (adapter?: Adapter): Promise<HeldOutLoss> {
      const next = queue.then(async () => {
        const r = await w.evaluate(adapter ?? noop)
        return { evalLoss: r.evalLoss, byCategory: { ...r.byCategory }, examples: r.examples }
      })
      queue = next.catch(() => {})
      return await next
    },
    async close () { await w.close() }
  }
}
