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

/**
 * `ref` [N, K] quantized along K and, with `backward`, its transpose [K, N] quantized along N (the weight is read
 * from its file once for both)
 */
export function quantizedWeightOf (ref: WeightRef, name: string, o: QuantizeOptions, backward: boolean):
{ forward: QuantizedMatrix, backward?: QuantizedMatrix } {
  let byKey = done.get(ref)
  if (byKey === undefined) {
    byKey = new Map()
    done.set(ref, byKey)
  }
  const fKey = `${o.bits}/${o.blockSize}`
  const bKey = `${fKey}/T`
  let w: Float32Array | undefined
  const [rows, cols] = ref.shape as [number, number]
  const get = (key: string, make: (w: Float32Array) => QuantizedMatrix): QuantizedMatrix => {
    let q = byKey.get(key)
    if (q === undefined) {
      w ??= readWeight(ref)
      q = make(w)
      byKey.set(key, q)
    }
    return q
  }
  const forward = get(fKey, (x) => quantizeMatrix(x, rows, cols, o.bits, o.blockSize, name))
  if (!backward) return { forward }
  return { forward, backward: get(bKey, (x) => quantizeMatrix(transposeMatrix(x, rows, cols), cols, rows, o.bits,
    o.blockSize, `${name} (transposed)`)) }
}
