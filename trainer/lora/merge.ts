// Folds an adapter into its base model: W' = W + (alpha / r) · B · A for every adapted linear layer, in
// float32 and in memory. The result is a plain checkpoint (no adapter), e.g. to export or to serve.
import type { LlamaCheckpoint, WeightRef } from '../model/config.ts'
import { linearShape, linearWeightName, LINEAR_MODULES } from '../model/config.ts'
import { readWeight } from '../checkpoint/read-weight.ts'
import type { Adapter } from './adapter.ts'
import { loraName, loraScale } from './adapter.ts'
import { AdapterError } from './errors.ts'

export function mergeAdapter (ck: LlamaCheckpoint, adapter: Adapter): LlamaCheckpoint {
  const scale = loraScale(adapter.config)
  const r = adapter.config.r
  const weights = new Map<string, WeightRef>(ck.weights)
  let merged = 0
  for (let layer = 0; layer < ck.config.nLayers; layer++) {
    for (const m of LINEAR_MODULES) {
      const a = adapter.tensors.get(loraName(layer, m, 'A'))
      const b = adapter.tensors.get(loraName(layer, m, 'B'))
      if (a === undefined && b === undefined) continue
      if (a === undefined || b === undefined) {
        throw new AdapterError(`adapter: layer ${layer} ${m} has only one of lora_A / lora_B`)
      }
      const [out, inp] = linearShape(ck.config, m)
      if (a.shape[0] !== r || a.shape[1] !== inp || b.shape[0] !== out || b.shape[1] !== r) {
        throw new AdapterError(`adapter: layer ${layer} ${m}: A [${a.shape.join(',')}] / B [${b.shape.join(',')}] do ` +
          `not fit [${out},${inp}] with r=${r}`)
      }
      const name = linearWeightName(layer, m)
      const w = Float32Array.from(readWeight(ck.weights.get(name)!))
      // W[o, i] += scale * sum_k B[o, k] A[k, i]
      for (let o = 0; o < out; o++) {
        const row = w.subarray(o * inp, (o + 1) * inp)
        for (let k = 0; k < r; k++) {
          const s = scale * b.data[o * r + k]!
          if (s === 0) continue
          const arow = a.data.subarray(k * inp, (k + 1) * inp)
          for (let i = 0; i < inp; i++) row[i]! += s * arow[i]!
        }
      }
      weights.set(name, { shape: [out, inp], dtype: 'F32', source: { kind: 'memory', data: w } })
      merged++
    }
  }
  if (merged === 0 && adapter.tensors.size > 0) {
    throw new AdapterError('adapter: none of its tensors matches a layer of the model')
  }
  return { config: ck.config, weights, origin: `${ck.origin} + adapter` }
}
