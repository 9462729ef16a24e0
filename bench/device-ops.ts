// Every op kind the train graph runs (with the attributes it uses), on small random inputs, on a GPU provider
// against the CPU: the largest relative difference of each output. bench/device says THAT the gradients of a
// provider are off; this says which kernel. It found ORT 1.30's WebGPU SimplifiedLayerNormalization returning a
// wrong inv_std_var (see composites.rmsNorm). Prints one JSON line; `failing` lists outputs off by more than 1e-4.
// Usage: npm run bench -- device-ops [--device webgpu|cuda]
import ort from 'onnxruntime-node'
import { Graph } from '../trainer/graph/graph.ts'
import type { Value } from '../trainer/graph/graph.ts'
import * as op from '../trainer/graph/ops.ts'
import { flagValue } from './lib/args.ts'

const device = flagValue('device') ?? 'webgpu'
type Case = [string, (g: Graph) => Record<string, Value>]
const f = (g: Graph, name: string, shape: number[]): Value => g.input(name, 'float32', shape)
const cases: Case[] = [
  ['SimplifiedLayerNormalization', (g) => {
    const { y, r } = op.rmsNormWithInvStd(f(g, 'x', [64, 16]), f(g, 'w', [16]), 1e-5)
    return { y, r }
  }],
  ['Gemm transA alpha', (g) => ({ y: op.gemm(f(g, 'a', [32, 12]), f(g, 'b', [32, 20]),
    { transA: true, alpha: 0.5 }) })],
  ['Gemm transB', (g) => ({ y: op.gemm(f(g, 'a', [32, 12]), f(g, 'b', [20, 12]), { transB: true }) })],
  ['Gemm plain', (g) => ({ y: op.gemm(f(g, 'a', [32, 12]), f(g, 'b', [12, 20])) })],
  ['Add(W, Gemm alpha)', (g) => ({ y: op.add(f(g, 'w', [20, 12]),
    op.gemm(f(g, 'b', [20, 4]), f(g, 'a', [4, 12]), { alpha: 2 })) })],
  ['Gemm alpha + C', (g) => ({ y: op.gemm(f(g, 'b', [20, 4]), f(g, 'a', [4, 12]),
    { alpha: 2, c: f(g, 'w', [20, 12]) }) })],
  ['Gemm transB + C', (g) => ({ y: op.gemm(f(g, 'a', [32, 12]), f(g, 'b', [20, 12]),
    { transB: true, c: f(g, 'c', [32, 20]) }) })],
  ['MatMul 4D', (g) => ({ y: op.matmul(f(g, 'a', [2, 3, 5, 9]), f(g, 'b', [2, 3, 9, 7])) })],
  ['MatMul transB 4D', (g) => ({ y: op.matmul(f(g, 'a', [2, 3, 5, 9]),
    op.transpose(f(g, 'b', [2, 3, 7, 9]), [0, 1, 3, 2])) })],
  ['MatMul transA 4D', (g) => ({ y: op.matmul(op.transpose(f(g, 'a', [2, 3, 9, 5]), [0, 1, 3, 2]),
    f(g, 'b', [2, 3, 9, 7])) })],
  ['MatMul broadcast', (g) => ({ y: op.matmul(f(g, 'a', [2, 3, 5, 8]), f(g, 'b', [8, 8])) })],
  ['Softmax 5D', (g) => ({ y: op.softmax(f(g, 'x', [2, 2, 2, 5, 7]), -1) })],
  ['LogSoftmax', (g) => ({ y: op.logSoftmax(f(g, 'x', [6, 11]), -1) })],
  ['ReduceSum keep', (g) => ({ y: op.reduceSum(f(g, 'x', [2, 3, 5, 7]), [-1], true) })],
  ['ReduceSum lead', (g) => ({ y: op.reduceSum(f(g, 'x', [6, 7]), [0], false) })],
  ['ReduceMean keep', (g) => ({ y: op.reduceMean(f(g, 'x', [6, 7]), [-1], true) })],
  ['Pad value', (g) => ({ y: g.apply('Pad', [f(g, 'x', [2, 3, 4, 5]), g.int64s([0, 0, 0, 0, 0, 0, 0, 1]), g.scalar(1)],
    {}, {})[0]! })],
  ['Pad zeros mid', (g) => ({ y: g.apply('Pad', [f(g, 'x', [4, 5]), g.int64s([1, 0, 2, 0])], {}, {})[0]! })],
  ['Sigmoid', (g) => ({ y: op.sigmoid(f(g, 'x', [6, 7])) })],
  ['Mul bcast col', (g) => ({ y: op.mul(f(g, 'x', [6, 7]), f(g, 'r', [6, 1])) })],
  ['Mul bcast row', (g) => ({ y: op.mul(f(g, 'x', [6, 7]), f(g, 'w', [7])) })],
  ['Sub scalar', (g) => ({ y: op.sub(1, f(g, 'x', [6, 7])) })],
  ['Where', (g) => ({ y: op.where(op.less(f(g, 'c', [6, 7]), 0), f(g, 'x', [6, 7]), 0) })],
  ['Transpose 5D', (g) => ({ y: op.transpose(f(g, 'x', [2, 3, 4, 5, 6]), [0, 2, 3, 1, 4]) })],
  ['Concat', (g) => ({ y: op.concat([f(g, 'a', [2, 3, 4]), f(g, 'b', [2, 3, 1])], 2) })],
  ['Slice', (g) => ({ y: op.slice(f(g, 'x', [4, 9]), [2], [7], [1]) })],
  ['Expand', (g) => ({ y: op.expand(f(g, 'x', [6, 1]), g.int64s([6, 7]), [6, 7]) })],
  ['GatherElements', (g) => ({ y: op.gatherElements(f(g, 'x', [6, 7]),
    op.cast(op.mul(op.cast(op.less(f(g, 'c', [6, 1]), 0), 'float32'), 3), 'int64'), 1) })],
  ['ScatterElements add (cross-entropy backward)', (g) => {
    const idx = op.cast(op.mul(op.cast(op.less(f(g, 'c', [6, 1]), 0), 'float32'), 3), 'int64')
    const w = f(g, 'w', [6, 1])
    return { y: g.apply('ScatterElements', [op.mul(op.exp(f(g, 'z', [6, 7])), w), idx, op.neg(w)],
      { axis: 1, reduction: 'add' }, {})[0]! }
  }],
  ['ScatterElements add', (g) => {
    const idx = op.cast(op.mul(op.cast(op.less(f(g, 'c', [6, 1]), 0), 'float32'), 3), 'int64')
    return { y: g.apply('ScatterElements', [op.mul(f(g, 'z', [6, 7]), 0), idx, f(g, 'u', [6, 1])],
      { axis: 1, reduction: 'add' }, {})[0]! }
  }],
  ['Exp', (g) => ({ y: op.exp(f(g, 'x', [6, 7])) })],
  ['Neg', (g) => ({ y: op.neg(f(g, 'x', [6, 7])) })],
  ['Sqrt Reciprocal', (g) => ({ y: op.reciprocal(op.sqrt(op.add(op.mul(f(g, 'x', [6, 7]), f(g, 'x2', [6, 7])), 1))) })]
]
let seed = 12345
const rnd = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed / 2 ** 32) - 0.5 }
const ops: Record<string, Record<string, number> | string> = {}
const failing: string[] = []
for (const [name, build] of cases) {
  try {
    const g = new Graph('float32')
    const outs = build(g)
    const model = g.toModel(outs, { opset: 23 })
    const feeds: Record<string, ort.Tensor> = {}
    for (const v of g.inputs) {
      const shape = v.shape as number[]
      feeds[v.name!] = new ort.Tensor('float32', Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rnd),
        shape)
    }
    const res: Array<Record<string, ort.Tensor>> = []
    for (const ep of ['cpu', device]) {
      const s = await ort.InferenceSession.create(model.bytes, { executionProviders: [ep], logSeverityLevel: 3 })
      res.push(await s.run(feeds) as Record<string, ort.Tensor>)
      await s.release()
    }
    ops[name] = Object.fromEntries(Object.keys(outs).map((k) => {
      const a = res[0]![k]!.data as Float32Array
      const b = res[1]![k]!.data as Float32Array
      let d = a.length === b.length ? 0 : Infinity
      let m = 1e-12
      for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(a[i]!)) }
      if (!(d / m <= 1e-4)) failing.push(`${name}.${k}`)
      return [k, Number((d / m).toExponential(1))]
    }))
  } catch (e) {
    ops[name] = `error: ${String(e).split('\n')[0]!.slice(0, 160)}`
    failing.push(name)
  }
}
console.log(JSON.stringify({ bench: 'device-ops', device, onnxruntime: ort.env.versions.node, failing, ops }))
