// A checkpoint's frozen linear weights quantized (quantize.ts), once per process: the train and the eval graph of
// `fedit peer` read the same codes, and a graph built again (a new round's session) quantizes nothing again.
import type { WeightRef } from './config.ts'
import type { QuantBits, QuantizedMatrix } from './quantize.ts'
import { quantizeMatrix, transposeMatrix } from './quantize.ts'
import { readWeight } from '../checkpoint/read-weight.ts'

export interface QuantizeOptions {
  readonly bits: QuantBits
  readonly blockSize: number
}

const done = new WeakMap<WeightRef, Map<string, QuantizedMatrix>>()

/** `ref` [N, K] quantized along K, or (transposed) its transpose [K, N] quantized along N */
export function quantizedWeightOf (ref: WeightRef, name: string, o: QuantizeOptions, transposed = false):
QuantizedMatrix {
  const key = `${o.bits}/${o.blockSize}/${transposed ? 'T' : ''}`
  let byKey = done.get(ref)
  if (byKey === undefined) {
    byKey = new Map()
    done.set(ref, byKey)
  }
  const known = byKey.get(key)
  if (known !== undefined) return known
  const [rows, cols] = ref.shape as [number, number]
  const w = readWeight(ref)
  const q = transposed
    ? quantizeMatrix(transposeMatrix(w, rows, cols), cols, rows, o.bits, o.blockSize, `${name} (transposed)`)
    : quantizeMatrix(w, rows, cols, o.bits, o.blockSize, name)
  byKey.set(key, q)
  return q
}
