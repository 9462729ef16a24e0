// Gradient checking harness: builds a float64 graph (ORT's CPU provider runs every op we use in double),
// takes loss = sum(y*y)/2 + sum(y * k) for fixed k so every output element matters, and compares the graph's
// analytic gradients with central finite differences of the same float64 loss.
import ort from 'onnxruntime-node'
import { Graph, gradients, op } from '../../../trainer/graph/index.ts'
import type { Dim, DType, Value } from '../../../trainer/graph/index.ts'
import { createSession } from '../../../trainer/graph/session.ts'

export interface InputSpec {
  shape: number[]
  /** declared shape (symbols for dynamic dims); defaults to `shape` */
  declared?: Dim[]
  dtype?: DType
  data?: Float64Array | BigInt64Array | Uint8Array
  /** differentiate with respect to this input (default: float inputs) */
  grad?: boolean
}

let seed = 12345
export function rand (n: number, scale = 1, offset = 0): Float64Array {
  return Float64Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) >>> 0
    return offset + scale * (seed / 2 ** 32 - 0.5) * 2
  })
}

const ortType = (t: DType): ort.Tensor.Type => (t === 'float64' ? 'float64' : t === 'int64' ? 'int64' : t === 'bool'
  ? 'bool' : 'float32')

/** Returns the max over inputs of max|analytic - fd| / max(1e-3, max|fd|). */
export async function gradCheck (specs: InputSpec[], build: (...xs: Value[]) => Value, eps = 1e-6): Promise<number> {
  const g = new Graph('float64')
  const xs = specs.map((s, i) => g.input(`x${i}`, s.dtype ?? 'float64', s.declared ?? s.shape))
  const y = build(...xs)
  const all = [...Array(y.rank).keys()]
  const loss = op.add(op.mul(op.reduceSum(op.mul(y, y), all, false), 0.5), op.mul(op.reduceSum(y, all, false), 0.37))
  const wrt = specs.map((s, i) => ({ s, i })).filter(({ s }) => (s.grad ?? ((s.dtype ?? 'float64') === 'float64')))
  const grads = gradients(loss, wrt.map(({ i }) => xs[i]!))
  const outs: Record<string, Value> = { loss }
  grads.forEach((d, j) => { outs[`grad_${wrt[j]!.i}`] = d })
  const session = await createSession(g.toModel(outs))
  const data = specs.map((s) => s.data ?? rand(s.shape.reduce((a, b) => a * b, 1)))
  const feeds = (): Record<string, ort.Tensor> => Object.fromEntries(specs.map((s, i) =>
    [`x${i}`, new ort.Tensor(ortType(s.dtype ?? 'float64'), data[i] as any, s.shape)]))
  const res = await session.run(feeds())
  const lossAt = async (): Promise<number> => Number((await session.run(feeds(), ['loss'])).loss!.data[0])
  let worst = 0
  for (const { i } of wrt) {
    const x = data[i] as Float64Array
    const analytic = res[`grad_${i}`]!.data as Float64Array
    if (analytic.length !== x.length) {
      throw new Error(`grad_${i}: ${analytic.length} values for an input of ${x.length}`)
    }
    const fd = new Float64Array(x.length)
    for (let e = 0; e < x.length; e++) {
      const o = x[e]!
      x[e] = o + eps
      const lp = await lossAt()
      x[e] = o - eps
      const lm = await lossAt()
      x[e] = o
      fd[e] = (lp - lm) / (2 * eps)
    }
    let maxErr = 0
    let maxRef = 1e-3
    for (let e = 0; e < x.length; e++) {
      maxErr = Math.max(maxErr, Math.abs(analytic[e]! - fd[e]!))
      maxRef = Math.max(maxRef, Math.abs(fd[e]!))
    }
    worst = Math.max(worst, maxErr / maxRef)
  }
  await session.release()
  return worst
}
