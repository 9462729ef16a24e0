// The one conversion between the data pipeline's batches and the engine's: the batcher's labels are aligned
// with input_ids (Hugging Face's convention, the loss shifts them), the train/eval graphs take labels already
// shifted (labels[b, t] is the target after input_ids[b, t]). For each row s: input_ids = s[:-1], labels =
// labels[1:], attention_mask = mask[:-1]. Rows are padded on the right, so dropping the last column only
// ever drops a padding position or a row's last token (which has no target after it).
import type { Batch } from '../data/batcher.ts'
import type { TokenBatch } from '../model/feeds.ts'

export function toTokenBatch (b: Batch): TokenBatch {
  const rows = b.batchSize
  const seq = b.seqLen - 1
  if (seq < 1) throw new RangeError(`a batch of sequences of length ${b.seqLen} has nothing to predict`)
  const inputIds = new BigInt64Array(rows * seq)
  const labels = new BigInt64Array(rows * seq)
  const attentionMask = new BigInt64Array(rows * seq)
  for (let r = 0; r < rows; r++) {
    const src = r * b.seqLen
    const dst = r * seq
    if (b.attentionMask[src] === 0 && b.attentionMask[src + b.seqLen - 1] === 1) {
      throw new RangeError(`batch row ${r} is padded on the left; the engine expects right padding`)
    }
    for (let t = 0; t < seq; t++) {
      inputIds[dst + t] = BigInt(b.inputIds[src + t]!)
      labels[dst + t] = BigInt(b.labels[src + t + 1]!)
      attentionMask[dst + t] = BigInt(b.attentionMask[src + t]!)
    }
  }
  return { batch: rows, seq, inputIds, labels, attentionMask }
}
