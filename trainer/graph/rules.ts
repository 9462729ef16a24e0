// Each op's forward (output types and shapes; the op itself is the ONNX op of the same name) and backward
// (gradients of its inputs from the gradients of its outputs), side by side, one entry per op.
// Backward rules receive `needs[i]` and build only the gradients that are wanted (frozen weights get none).
import type { AttrValue } from './onnx-proto.ts'
import type { DType, Dim, Node, OpName, OpParams, Reduce, Shape, Value } from './types.ts'
import { isFloat } from './types.ts'
import { GraphError } from './errors.ts'
import * as op from './ops.ts'

type Attrs = Readonly<Record<string, AttrValue>>
type Infer<K extends OpName> = (inputs: readonly Value[], attrs: Attrs, params: OpParams[K]) => Array<[DType, Shape]>
type Backward<K extends OpName> = (n: Node<K>, grads: ReadonlyArray<Value | undefined>, needs: readonly boolean[]) =>
  Array<Value | undefined>
export interface Rule<K extends OpName = OpName> { infer: Infer<K>, backward?: Backward<K> }

// ---- shape helpers ------------------------------------------------------------------------------
let fresh = 0
const unknownDim = (): string => `d${fresh++}`

export function broadcast (a: Shape, b: Shape): Dim[] {
  const n = Math.max(a.length, b.length)
  const out: Dim[] = []
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1
    const y = b[b.length - n + i] ?? 1
    if (x === 1) out.push(y)
    else if (y === 1 || x === y) out.push(x)
    else if (typeof x === 'number' && typeof y === 'number') {
      throw new GraphError(`cannot broadcast [${a.join(',')}] with [${b.join(',')}]`)
    } else out.push(typeof x === 'number' ? x : y) // symbolic: assume they agree at run time
  }
  return out
}

/** Sums a broadcast gradient back to the shape of `x` (over leading axes and over axes where x has 1). */
export function sumTo (grad: Value, x: Value): Value {
  const lead = grad.rank - x.rank
  let g = grad
  if (lead > 0) g = op.reduceSum(g, [...Array(lead).keys()], false)
  const axes = x.shape.flatMap((d, i) => d === 1 && g.shape[i] !== 1 ? [i] : [])
  if (axes.length > 0) g = op.reduceSum(g, axes, true)
  return g
}

const same = (xs: readonly Value[]): Array<[DType, Shape]> => [[xs[0]!.dtype, xs[0]!.shape]]
const bcast = (xs: readonly Value[]): Array<[DType, Shape]> => [[xs[0]!.dtype, broadcast(xs[0]!.shape, xs[1]!.shape)]]
const boolBcast = (xs: readonly Value[]): Array<[DType, Shape]> => [['bool', broadcast(xs[0]!.shape, xs[1]!.shape)]]
const reduced = (xs: readonly Value[], _a: Attrs, p: Reduce): Array<[DType, Shape]> => [[xs[0]!.dtype, p.keepdims

  ? xs[0]!.shape.map((d, i) => p.axes.includes(i) ? 1 : d)
  : xs[0]!.shape.filter((_, i) => !p.axes.includes(i))]]

/** element count of the reduced axes, as a float constant or, for dynamic dims, computed at run time */
function reducedCount (x: Value, axes: readonly number[]): Value {
  const dims = axes.map((a) => x.shape[a]!)
  if (dims.every((d) => typeof d === 'number')) {
    return x.graph.scalar((dims as number[]).reduce((a, b) => a * b, 1), x.dtype)
  }
  const sizes = op.gather(op.shapeOf(x), x.graph.int64s(axes), 0)
  return op.cast(x.graph.apply('ReduceProd', [sizes], { keepdims: 0 }, { axes: [0], keepdims: false })[0]!, x.dtype)
}
/** the gradient of a reduction, broadcast back over x */
function unreduce (g: Value, x: Value, axes: readonly number[], keepdims: boolean): Value {
  const k = keepdims ? g : op.unsqueeze(g, axes)
  return op.expand(k, op.shapeOf(x), x.shape)
}
const swapLast = (x: Value): Value => op.transpose(x, [...Array(x.rank - 2).keys(), x.rank - 1, x.rank - 2])
const none = (): Array<Value | undefined> => []

/** every op's rule, typed by its params */
export const RULES: { readonly [K in OpName]: Rule<K> } = {
  // ---- elementwise ------------------------------------------------------------------------------
  Add: {
    infer: bcast,
    backward: ({ inputs: [a, b] }, [g], [na, nb]) => [na ? sumTo(g!, a!) : undefined, nb ? sumTo(g!, b!) : undefined]
  },
  Sub: {
    infer: bcast,
    backward: ({ inputs: [a, b] }, [g], [na, nb]) =>
      [na ? sumTo(g!, a!) : undefined, nb ? sumTo(op.neg(g!), b!) : undefined]
  },
  Mul: {
    infer: bcast,
    backward: ({ inputs: [a, b] }, [g], [na, nb]) =>
      [na ? sumTo(op.mul(g!, b!), a!) : undefined, nb ? sumTo(op.mul(g!, a!), b!) : undefined]
  },
  Div: { // y = a / b: da = g / b, db = -g * y / b
    infer: bcast,
    backward: ({ inputs: [a, b], outputs: [y] }, [g], [na, nb]) => {
      const gb = op.div(g!, b!)
      return [na ? sumTo(gb, a!) : undefined, nb ? sumTo(op.neg(op.mul(gb, y!)), b!) : undefined]
    }
  },
  Pow: { // y = a ^ b: da = g * b * a^(b-1), db = g * y * ln a
    infer: bcast,
    backward: ({ inputs: [a, b], outputs: [y] }, [g], [na, nb]) => [
      na ? sumTo(op.mul(g!, op.mul(b!, op.powv(a!, op.sub(b!, 1)))), a!) : undefined,
      nb ? sumTo(op.mul(g!, op.mul(y!, op.log(a!))), b!) : undefined]
  },
  Neg: { infer: same, backward: (_n, [g]) => [op.neg(g!)] },
  Sqrt: { infer: same, backward: ({ outputs: [y] }, [g]) => [op.div(op.mul(g!, 0.5), y!)] }, // 1 / (2 sqrt x)
  Reciprocal: { infer: same, backward: ({ outputs: [y] }, [g]) => [op.neg(op.mul(g!, op.mul(y!, y!)))] }, // -1/x^2
  Exp: { infer: same, backward: ({ outputs: [y] }, [g]) => [op.mul(g!, y!)] },
  Log: { infer: same, backward: ({ inputs: [x] }, [g]) => [op.div(g!, x!)] },
  Tanh: { infer: same, backward: ({ outputs: [y] }, [g]) => [op.mul(g!, op.sub(1, op.mul(y!, y!)))] },
  Sigmoid: { infer: same, backward: ({ outputs: [y] }, [g]) => [op.mul(g!, op.mul(y!, op.sub(1, y!)))] },
  Where: { // cond ? a : b
    infer: (xs) => [[xs[1]!.dtype, broadcast(xs[0]!.shape, broadcast(xs[1]!.shape, xs[2]!.shape))]],
    backward: ({ inputs: [c, a, b] }, [g], [, na, nb]) => [undefined,
      na ? sumTo(op.where(c!, g!, 0), a!) : undefined,
      nb ? sumTo(op.where(c!, 0, g!), b!) : undefined]
  },
  Cast: {
    infer: (xs, _a, p) => [[p.to, xs[0]!.shape]],
    backward: ({ inputs: [x] }, [g]) => [isFloat(x!.dtype) ? op.cast(g!, x!.dtype) : undefined]
  },
  Identity: { infer: same, backward: (_n, [g]) => [g] },

  // ---- linear algebra ---------------------------------------------------------------------------
  MatMul: { // y = a @ b (batched, broadcasting): da = g @ b^T, db = a^T @ g, each summed over broadcast batch axes
    infer: ([a, b]) => {
      if (a!.rank < 2 || b!.rank < 2) throw new GraphError('matmul: both operands need rank >= 2')
      const batch = broadcast(a!.shape.slice(0, -2), b!.shape.slice(0, -2))
      return [[a!.dtype, [...batch, a!.shape[a!.rank - 2]!, b!.shape[b!.rank - 1]!]]]
    },
    backward: ({ inputs: [a, b] }, [g], [na, nb]) => [
      na ? sumTo(op.matmul(g!, swapLast(b!)), a!) : undefined,
      nb ? sumTo(op.matmul(swapLast(a!), g!), b!) : undefined]
  },
  Gemm: { // y = alpha op(A) op(B) (+ C), 2-D; each gradient is one Gemm with the right transposes
    infer: ([a, b], _a, p) => {
      if (a!.rank !== 2 || b!.rank !== 2) throw new GraphError('gemm: operands must be 2-D')
      return [[a!.dtype, [p.transA ? a!.shape[1]! : a!.shape[0]!, p.transB ? b!.shape[0]! : b!.shape[1]!]]]
    },
    backward: ({ inputs: [a, b, c], params: { transA, transB, alpha } }, [g], [na, nb, nc]) => {
      const dc = nc === true ? sumTo(g!, c!) : undefined
      let da: Value | undefined
      let db: Value | undefined
      if (!transA && !transB) { // Y = A B
        if (na) da = op.gemm(g!, b!, { transB: true, alpha })
        if (nb) db = op.gemm(a!, g!, { transA: true, alpha })
      } else if (!transA && transB) { // Y = A B^T
        if (na) da = op.gemm(g!, b!, { alpha })
        if (nb) db = op.gemm(g!, a!, { transA: true, alpha })
      } else if (transA && !transB) { // Y = A^T B
        if (na) da = op.gemm(b!, g!, { transB: true, alpha })
        if (nb) db = op.gemm(a!, g!, { alpha })
      } else { // Y = A^T B^T
        if (na) da = op.gemm(b!, g!, { transA: true, transB: true, alpha })
        if (nb) db = op.gemm(g!, a!, { transA: true, transB: true, alpha })
      }
      return [da, db, dc]
    }
  },

  // ---- reductions, softmax ------------------------------------------------------------------------
  ReduceSum: { infer: reduced, backward: ({ inputs: [x], params: p }, [g]) => [unreduce(g!, x!, p.axes, p.keepdims)] },
  ReduceMean: {
    infer: reduced,
    backward: ({ inputs: [x], params: p }, [g]) =>
      [unreduce(op.div(g!, reducedCount(x!, p.axes)), x!, p.axes, p.keepdims)]
  },
  ReduceMax: { infer: reduced }, // used for numerics only (stop-gradient)
  ReduceProd: { infer: reduced },
  Softmax: { // dx = y * (g - sum(g * y))
    infer: same,
    backward: ({ outputs: [y], params: { axis } }, [g]) =>
      [op.mul(y!, op.sub(g!, op.reduceSum(op.mul(g!, y!), [axis], true)))]
  },
  LogSoftmax: { // dx = g - exp(y) * sum(g)
    infer: same,
    backward: ({ outputs: [y], params: { axis } }, [g]) =>
      [op.sub(g!, op.mul(op.exp(y!), op.reduceSum(g!, [axis], true)))]
  },

  // ---- shape --------------------------------------------------------------------------------------
  Reshape: {
    infer: ([x], _a, p) => {
      if ('to' in p) return [[x!.dtype, p.to]]
      const out: Dim[] = p.dims.map((d, i) => d === 0 ? x!.shape[i]! : d)
      const minus = out.indexOf(-1)
      if (minus >= 0) {
        const known = x!.shape.every((d) => typeof d === 'number') && out.every((d) => typeof d === 'number')
        out[minus] = known
          ? (x!.shape as number[]).reduce((a, b) => a * b, 1) / -(out as number[]).reduce((a, b) => a * b, 1)
          : unknownDim()
      }
      return [[x!.dtype, out]]
    },
    backward: ({ inputs: [x] }, [g]) => {
      // back to x's shape: by constant dims when at most one is unknown (-1), else by x's run-time Shape
      const dims = x!.shape.map((d) => typeof d === 'number' ? d : -1)
      if (dims.filter((d) => d === -1).length <= 1 && !dims.includes(0)) return [op.reshapeTo(g!, dims, x!.shape)]
      return [op.reshapeLike(g!, op.shapeOf(x!), x!.shape)]
    }
  },
  Transpose: {
    infer: ([x], _a, p) => [[x!.dtype, p.perm.map((i: number) => x!.shape[i]!)]],
    backward: ({ params: { perm } }, [g]) => {
      const inv: number[] = []
      perm.forEach((p: number, i: number) => { inv[p] = i })
      return [op.transpose(g!, inv)]
    }
  },
  Unsqueeze: {
    infer: ([x], _a, p) => {
      const rank = x!.rank + p.axes.length
      const axes = p.axes.map((a: number) => a < 0 ? a + rank : a)
      const out: Dim[] = []
      let j = 0
      for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : x!.shape[j++]!)
      return [[x!.dtype, out]]
    },
    backward: ({ inputs: [x] }, [g]) => [op.reshapeLike(g!, op.shapeOf(x!), x!.shape)]
  },
  Squeeze: {
    infer: ([x], _a, p) => {
      const axes = p.axes.map((a) => a < 0 ? a + x!.rank : a)
      return [[x!.dtype, x!.shape.filter((_, i) => !axes.includes(i))]]
    },
    backward: ({ inputs: [x] }, [g]) => [op.reshapeLike(g!, op.shapeOf(x!), x!.shape)]
  },
  Expand: {
    infer: ([x], _a, p) => [[x!.dtype, broadcast(x!.shape, p.to)]],
    backward: ({ inputs: [x] }, [g]) => [sumTo(g!, x!)]
  },
  Concat: { // each input's gradient is its slice of g along the axis
    infer: (xs, _a, p) => {
      const out = [...xs[0]!.shape]
      const sizes = xs.map((x) => x.shape[p.axis]!)
      const known = sizes.every((d) => typeof d === 'number')
      out[p.axis] = known ? (sizes as number[]).reduce((a, b) => a + b, 0) : unknownDim()
      return [[xs[0]!.dtype, out]]
    },
    backward: ({ inputs, params: { axis } }, [g], needs) => {
      const sizes = inputs.map((x) => x.shape[axis]!)
      if (!sizes.every((d) => typeof d === 'number')) {
        throw new GraphError('concat backward needs static sizes along the axis')
      }
      let start = 0
      return inputs.map((_, i) => {
        const s = start
        start += sizes[i] as number
        return needs[i] ? op.slice(g!, [s], [start], [axis]) : undefined
      })
    }
  },
  Slice: { // gradient: g padded with zeros back to x's extent
    infer: ([x], _a, p) => {
      if ('dynamic' in p) return [[x!.dtype, x!.shape.map((d, i) => i === p.axis ? p.size : d)]]
      const out = [...x!.shape]
      p.axes.forEach((ax, i) => {
        const d = x!.shape[ax]!
        const [start, end] = [p.starts[i]!, p.ends[i]!]
        if (typeof d !== 'number') {
          out[ax] = start >= 0 && end >= 0 && end < 2 ** 31 ? end - start : unknownDim()
          return
        }
        const clamp = (v: number): number => Math.max(0, Math.min(d, v < 0 ? v + d : v))
        out[ax] = Math.max(0, clamp(end) - clamp(start))
      })
      return [[x!.dtype, out]]
    },
    backward: ({ inputs: [x], params: p }, [g]) => {
      if ('dynamic' in p) throw new GraphError('no gradient through a run-time slice')
      const pads = new Array<number>(2 * x!.rank).fill(0)
      p.axes.forEach((ax, i) => {
        const d = x!.shape[ax]!
        const [s, e] = [p.starts[i]!, p.ends[i]!]
        const toEnd = e >= 2 ** 31 - 1 || (typeof d === 'number' && e >= d)
        if (typeof d !== 'number' && (s < 0 || !toEnd)) {
          throw new GraphError('slice backward on a dynamic axis needs start >= 0 and end = to the end')
        }
        const start = s < 0 ? s + (d as number) : s
        const end = toEnd ? d : (e < 0 ? e + (d as number) : e)
        pads[ax] = start
        pads[x!.rank + ax] = toEnd ? 0 : (d as number) - (end as number)
      })
      return [x!.graph.apply('Pad', [g!, x!.graph.int64s(pads)], {}, {})[0]]
    }
  },
  Pad: { infer: ([x]) => [[x!.dtype, x!.shape.map(() => unknownDim())]] },
  Gather: { // embedding lookup; gradient for the data (axis 0) scatters rows back with add
    infer: ([d, i], _a, p) => [[d!.dtype, [...d!.shape.slice(0, p.axis), ...i!.shape, ...d!.shape.slice(p.axis + 1)]]],
    backward: ({ inputs: [d, i], params: { axis } }, [g], [nd]) => {
      if (!nd) return []
      if (axis !== 0) throw new GraphError('gather backward supports axis 0 only')
      const zeros = op.mul(d!, 0) // same shape and type, exact zeros for finite weights
      return [d!.graph.apply('ScatterND', [zeros, op.unsqueeze(i!, [-1]), g!], { reduction: 'add' }, {})[0]]
    }
  },
  GatherElements: { // gradient: scatter-add into zeros of the data's shape
    infer: ([d, i]) => [[d!.dtype, i!.shape]],
    backward: ({ inputs: [d, i], params: { axis } }, [g], [nd]) => {
      if (!nd) return []
      const zeros = op.mul(d!, 0)
      return [d!.graph.apply('ScatterElements', [zeros, i!, g!], { axis, reduction: 'add' }, {})[0]]
    }
  },
  ScatterND: { infer: same },
  ScatterElements: { infer: same },

  // ---- fused forward-only ops (opset 23) for graphs without a backward (decode, eval) ----------------
  // Their equality with the standard-op compositions the train graph differentiates:
  // test/trainer/model/fused-graphs.test.ts.
  RMSNormalization: { infer: same },
  SimplifiedLayerNormalization: { infer: ([x]) => [[x!.dtype, x!.shape], ['float32', [...x!.shape.slice(0, -1), 1]]] },
  RotaryEmbedding: { infer: same },
  // 3-D q [B, T, nh*hd], k/v [B, T, nkv*hd], [past [B, nkv, P, hd]] -> y [B, T, nh*hd], [present [B, nkv, S, hd]]
  Attention: {
    infer: ([q, , , , pastK], _a, p) => {
      const present: [DType, Shape] = [q!.dtype, [q!.shape[0]!, p.kvHeads, p.totalSeq, p.headDim]]
      const probs: [DType, Shape] = [q!.dtype, [q!.shape[0]!, p.qHeads, q!.shape[1]!, p.totalSeq]]
      const all: Array<[DType, Shape]> = [[q!.dtype, q!.shape], present, present, probs]
      return all.slice(0, p.probs === true ? 4 : pastK !== undefined ? 3 : 1)
    }
  }, // with params.probs, a 4th output: the softmax weights [B, qHeads, T, S] (qk_matmul_output_mode 3)

  // ---- no gradient: integer and boolean plumbing ------------------------------------------------------
  // no backward: Max only combines int64 bounds (composites.chunkedCausalAttention)
  Max: { infer: ([a, b]) => [[a!.dtype, broadcast(a!.shape, b!.shape)]] },
  Shape: { infer: ([x], _a, p) => [['int64', [p.start !== undefined ? p.end - p.start : x!.rank]]] },
  Equal: { infer: boolBcast },
  Less: { infer: boolBcast },
  LessOrEqual: { infer: boolBcast },
  Not: { infer: same },
  And: { infer: boolBcast },
  Range: { infer: ([s], _a, p) => [[s!.dtype, [p.size]]] },
  ConstantOfShape: { infer: (_xs, _a, p) => [[p.dtype, p.to]] },
  ArgMax: { infer: ([x], _a, p) => [['int64', x!.shape.map((d, i) => i === p.axis ? 1 : d)]] },

  // ---- block-quantized frozen weights (quantized.ts): no gradient of their own, composites.quantLinear has it ----
  MatMulNBits: { infer: ([a], _a, p) => [[a!.dtype, [...a!.shape.slice(0, -1), p.N]]] },
  DequantizeLinear: { infer: ([x]) => [['float32', x!.shape]] }
}
void none
