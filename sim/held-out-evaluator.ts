// The orchestrator's own judge: mean token cross-entropy of the reference responses of the held-out split
// (Dolly lines 1-80), overall and per category, for the base model or base + an adapter. The peers never
// evaluate; every model of a run (base, each round's global, the baselines) goes through this one function,
// so the figures are comparable.
import type { Adapter, LoraConfig } from '../trainer/lora/adapter.ts'
import type { LlamaCheckpoint } from '../trainer/model/config.ts'
import type { InstructionRecord } from '../trainer/data/record.ts'
import type { Tokenizer } from '../trainer/tokenizer.ts'
import type { TokenizedExample } from '../trainer/data/tokenize-example.ts'
import { tokenizeRecords } from '../trainer/data/tokenize-example.ts'
import { collate } from '../trainer/data/batcher.ts'
import type { Batch } from '../trainer/data/batcher.ts'
import type { TokenBatch } from '../trainer/model/feeds.ts'
import { EvalSession } from '../trainer/model/sessions.ts'
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

/** Token-weighted loss per category and overall, from per-example sums (pure). */
export function lossByCategory (examples: ReadonlyArray<{ category: string }>, lossSum: ArrayLike<number>, tokens: ArrayLike<number>): HeldOutLoss {
  const sums = new Map<string, [number, number]>()
  let all = 0; let count = 0
  examples.forEach((e, i) => {
    const s = sums.get(e.category) ?? [0, 0]
    s[0] += lossSum[i]!; s[1] += tokens[i]!
    sums.set(e.category, s)
    all += lossSum[i]!; count += tokens[i]!
  })
  const byCategory: Record<string, number> = {}
  for (const c of [...sums.keys()].sort()) { const [l, t] = sums.get(c)!; byCategory[c] = l / Math.max(1, t) }
  return { evalLoss: all / Math.max(1, count), byCategory, examples: examples.length }
}

export async function createEvaluator (o: EvaluatorOptions): Promise<Evaluator> {
  const { examples } = tokenizeRecords(o.tokenizer, o.records, { maxLength: Math.min(o.maxLength, o.ckpt.config.maxSeqLen) })
  const so = { device: o.device, threads: o.threads }
  const base = await EvalSession.create(o.ckpt, so)
  const withLora = await EvalSession.create(o.ckpt, { ...so, lora: o.lora })
  const mb = o.microBatch ?? 8
  // batches of similar length: little padding, same batches every call
  const order = examples.map((_, i) => i).sort((a, b) => examples[a]!.inputIds.length - examples[b]!.inputIds.length || a - b)
  const batches: Array<{ idx: number[], batch: ReturnType<typeof collate> }> = []
  for (let i = 0; i < order.length; i += mb) {
    const idx = order.slice(i, i + mb)
    batches.push({ idx, batch: collate(examples, idx) })
  }
  const feeds = batches.map(({ batch }) => shifted(batch))
  let queue: Promise<unknown> = Promise.resolve()
  async function run (adapter?: Adapter): Promise<HeldOutLoss> {
      const lossSum = new Float64Array(examples.length)
      const tokens = new Float64Array(examples.length)
      for (let k = 0; k < batches.length; k++) {
        const r = adapter === undefined ? await base.run(feeds[k]!) : await withLora.run(feeds[k]!, adapter)
        batches[k]!.idx.forEach((ex, row) => { lossSum[ex] = r.lossSum[row]!; tokens[ex] = r.tokens[row]! })
      }
      return lossByCategory(examples as readonly TokenizedExample[], lossSum, tokens)
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

/** The batcher's labels are aligned with input_ids (HF convention); the eval graph wants them shifted:
 * per row s, input_ids = s[:-1], labels = labels[1:], attention_mask = mask[:-1] (right padding). */
function shifted (b: Batch): TokenBatch {
  const seq = b.seqLen - 1
  const inputIds = new BigInt64Array(b.batchSize * seq)
  const labels = new BigInt64Array(b.batchSize * seq)
  const attentionMask = new BigInt64Array(b.batchSize * seq)
  for (let r = 0; r < b.batchSize; r++) {
    for (let t = 0; t < seq; t++) {
      inputIds[r * seq + t] = BigInt(b.inputIds[r * b.seqLen + t]!)
      labels[r * seq + t] = BigInt(b.labels[r * b.seqLen + t + 1]!)
      attentionMask[r * seq + t] = BigInt(b.attentionMask[r * b.seqLen + t]!)
    }
  }
  return { batch: b.batchSize, seq, inputIds, labels, attentionMask }
}
