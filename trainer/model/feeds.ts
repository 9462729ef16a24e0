// Turning an Adapter and token batches into ORT feeds, and gradients back into named tensors.
import ort from 'onnxruntime-node'
import type { Adapter } from '../lora/adapter.ts'
import type { LoraSite } from '../lora/lora-graph.ts'
import { IGNORE_INDEX } from '../data/tokenize-example.ts'

/** Feeds for every LoRA input of a graph, by PEFT name; a missing or misshapen tensor is a clear error. */
export function adapterFeeds (sites: readonly LoraSite[], adapter: Adapter): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {}
  for (const s of sites) {
    const t = adapter.tensors.get(s.name)
    if (t === undefined) throw new Error(`adapter has no tensor ${s.name}`)
    const want = s.value.shape as number[]
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new Error(`adapter tensor ${s.name} has shape [${t.shape.join(',')}], the model needs [${want.join(',')}]`)
    }
    feeds[s.name] = new ort.Tensor('float32', t.data, want)
  }
  return feeds
}

/** A padded token batch: row-major [batch, seq] int64 arrays. */
export interface TokenBatch {
  readonly batch: number
  readonly seq: number
  readonly inputIds: BigInt64Array
  /** -100 = no loss at this position */
  readonly labels: BigInt64Array
  /** 1 = real token, 0 = padding */
  readonly attentionMask: BigInt64Array
}

/** The batch right-padded to `seq` positions (id 0, label IGNORE_INDEX, mask 0): the same losses and gradients. */
export function padSeqTo (b: TokenBatch, seq: number): TokenBatch {
  if (b.seq >= seq) return b
  const inputIds = new BigInt64Array(b.batch * seq)
  const labels = new BigInt64Array(b.batch * seq).fill(BigInt(IGNORE_INDEX))
  const attentionMask = new BigInt64Array(b.batch * seq)
  for (let r = 0; r < b.batch; r++) {
    inputIds.set(b.inputIds.subarray(r * b.seq, (r + 1) * b.seq), r * seq)
    labels.set(b.labels.subarray(r * b.seq, (r + 1) * b.seq), r * seq)
    attentionMask.set(b.attentionMask.subarray(r * b.seq, (r + 1) * b.seq), r * seq)
  }
  return { batch: b.batch, seq, inputIds, labels, attentionMask }
}

export function batchFeeds (b: TokenBatch): Record<string, ort.Tensor> {
  const n = b.batch * b.seq
  for (const [k, a] of [['inputIds', b.inputIds], ['labels', b.labels], ['attentionMask', b.attentionMask]] as const) {
    if (a.length !== n) throw new Error(`batch ${k} has ${a.length} values, expected ${b.batch}x${b.seq}`)
  }
  const dims = [b.batch, b.seq]
  return {
    input_ids: new ort.Tensor('int64', b.inputIds, dims),
    labels: new ort.Tensor('int64', b.labels, dims),
    attention_mask: new ort.Tensor('int64', b.attentionMask, dims)
  }
}
