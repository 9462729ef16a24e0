// The graph-building vocabulary: one function per ONNX op (plus a few compositions), each a thin call to
// Graph.apply. Numbers are accepted wherever a tensor is, as scalar constants of the other operand's float type.
import type { AttrValue } from './onnx-proto.ts'
import { float } from './onnx-proto.ts'
import type { AttentionOptions, DType, Dim, OpName, ParamsArg, Shape, Value, Vjp } from './types.ts'
import { ONNX_TYPE } from './types.ts'
import { GraphError } from './errors.ts'

export type { AttentionOptions, Vjp } from './types.ts'

export type Operand = Value | number

function lift (x: Operand, like: Value): Value {
  return typeof x === 'number' ? like.graph.scalar(x, like.dtype) : x
}
function pair (a: Operand, b: Operand): [Value, Value] {
  if (typeof a === 'number' && typeof b === 'number') throw new GraphError('two numbers: nothing to build')
  const like = (typeof a === 'number' ? b : a) as Value
  return [lift(a, like), lift(b, like)]
}
type Attrs = Record<string, AttrValue>
const one = <K extends OpName>(op: K, inputs: Value[], attrs: Attrs = {}, ...p: ParamsArg<K>): Value =>
  inputs[0]!.graph.apply(op, inputs, attrs, ...p)[0]!

// ---- elementwise -------------------------------------------------------------------------------
export const add = (a: Operand, b: Operand): Value => one('Add', pair(a, b))
export const sub = (a: Operand, b: Operand): Value => one('Sub', pair(a, b))
export const mul = (a: Operand, b: Operand): Value => one('Mul', pair(a, b))
export const div = (a: Operand, b: Operand): Value => one('Div', pair(a, b))
/** x ** p for a constant exponent p */
export const pow = (x: Value, p: number): Value => one('Pow', [x, x.graph.scalar(p, x.dtype)])
/** x ** p for a tensor exponent */
export const powv = (x: Value, p: Value): Value => one('Pow', [x, p])
export const neg = (x: Value): Value => one('Neg', [x])
export const sqrt = (x: Value): Value => one('Sqrt', [x])
export const reciprocal = (x: Value): Value => one('Reciprocal', [x])
export const exp = (x: Value): Value => one('Exp', [x])
export const log = (x: Value): Value => one('Log', [x])
export const tanh = (x: Value): Value => one('Tanh', [x])
export const sigmoid = (x: Value): Value => one('Sigmoid', [x])
export const where = (cond: Value, a: Operand, b: Operand): Value => one('Where', [cond, ...pair(a, b)])
export const cast = (x: Value, to: DType): Value => x.dtype === to ? x : one('Cast', [x], { to: ONNX_TYPE[to] }, { to })
export const identity = (x: Value): Value => one('Identity', [x])

/**
 * Marks `out`, built from standard ops over `inputs`, as a composite with a hand-written backward `vjp`:
 * autodiff calls `vjp` instead of differentiating the inner nodes (which it may then share with the forward,
 * e.g. a saved sigmoid). Emitted as an Identity, which ORT removes.
 */
export const composite = (name: string, inputs: readonly Value[], out: Value, vjp: Vjp): Value =>
  one('Identity', [out], {}, { composite: name, inputs, vjp })

// ---- comparisons and logic (no gradients) -------------------------------------------------------
export const equal = (a: Operand, b: Operand): Value => one('Equal', pair(a, b))
export const less = (a: Operand, b: Operand): Value => one('Less', pair(a, b))
export const lessOrEqual = (a: Operand, b: Operand): Value => one('LessOrEqual', pair(a, b))
export const not = (x: Value): Value => one('Not', [x])
export const and = (a: Value, b: Value): Value => one('And', [a, b])

/** an int64 scalar constant */
export const int64 = (g: Value['graph'], x: number): Value => g.constant('int64', [], BigInt64Array.of(BigInt(x)), [x])

// ---- linear algebra -----------------------------------------------------------------------------
/** numpy-style batched, broadcasting matmul (rank >= 2 on both sides) */
export const matmul = (a: Value, b: Value): Value => one('MatMul', [a, b])
export interface GemmOptions {
  transA?: boolean
  transB?: boolean
  alpha?: number
  /** added to the product (ONNX's C with beta 1), of the output's shape: one pass less than an Add after */
  c?: Value
}
/** 2-D alpha * op(A) op(B) (+ C): the workhorse of linear layers (a transposed [out,in] weight costs nothing) */
export function gemm (a: Value, b: Value, o: GemmOptions = {}): Value {
  const attrs: Record<string, AttrValue> = {}
  if (o.transA === true) attrs.transA = 1
  if (o.transB === true) attrs.transB = 1
  if (o.alpha !== undefined && o.alpha !== 1) attrs.alpha = float(o.alpha)
  const params = { transA: o.transA === true, transB: o.transB === true, alpha: o.alpha ?? 1 }
  return one('Gemm', o.c !== undefined ? [a, b, o.c] : [a, b], attrs, params)
}

// ---- reductions and normalisation ----------------------------------------------------------------
const norm = (axes: readonly number[], rank: number): number[] =>
  axes.map((a) => a < 0 ? a + rank : a).sort((x, y) => x - y)
type Reduction = (x: Value, axes: readonly number[], keepdims?: boolean) => Value
const reduction = (op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax'): Reduction => (x, axes, keepdims = true) => {
  const ax = norm(axes, x.rank)
  return one(op, [x, x.graph.int64s(ax)], { keepdims: keepdims ? 1 : 0 }, { axes: ax, keepdims })
}
export const reduceSum = reduction('ReduceSum')
export const reduceMean = reduction('ReduceMean')
const axisOf = (axis: number, x: Value): number => axis < 0 ? axis + x.rank : axis
export const softmax = (x: Value, axis = -1): Value => one('Softmax', [x], { axis }, { axis: axisOf(axis, x) })
export const logSoftmax = (x: Value, axis = -1): Value => one('LogSoftmax', [x], { axis }, { axis: axisOf(axis, x) })

// ---- shape ------------------------------------------------------------------------------------
/** ONNX Reshape: 0 copies the input dim, -1 is inferred */
export const reshape = (x: Value, dims: readonly number[]): Value =>
  one('Reshape', [x, x.graph.int64s(dims)], {}, { dims })
/** Reshape by constant dims (0 copies the input's dim, -1 is inferred) whose result the caller knows: `staticShape` */
export const reshapeTo = (x: Value, dims: readonly number[], staticShape: Shape): Value =>
  one('Reshape', [x, x.graph.int64s(dims)], {}, { to: staticShape })
/** Reshape to a shape computed at run time (an int64 [rank] value) */
export const reshapeLike = (x: Value, shape: Value, staticShape: Shape): Value =>
  one('Reshape', [x, shape], {}, { to: staticShape })
export const transpose = (x: Value, perm: readonly number[]): Value =>
  one('Transpose', [x], { perm: [...perm] }, { perm })
export const unsqueeze = (x: Value, axes: readonly number[]): Value =>
  one('Unsqueeze', [x, x.graph.int64s(axes)], {}, { axes })
export const squeeze = (x: Value, axes: readonly number[]): Value =>
  one('Squeeze', [x, x.graph.int64s(axes)], {}, { axes })
export const concat = (xs: readonly Value[], axis: number): Value =>
  one('Concat', [...xs], { axis }, { axis: axisOf(axis, xs[0]!) })
/** numpy x[start:end] along each axis (step 1); end may be large (to the end) */
export function slice (x: Value, starts: readonly number[], ends: readonly number[], axes: readonly number[]): Value {
  const g = x.graph
  const params = { starts, ends, axes: axes.map((a) => axisOf(a, x)) }
  return one('Slice', [x, g.int64s(starts), g.int64s(ends), g.int64s(axes)], {}, params)
}
/** Slice with run-time start/end (int64 [1] values) along one axis, e.g. a KV cache window */
export const sliceDynamic = (x: Value, start: Value, end: Value, axis: number, size: Dim): Value =>
  one('Slice', [x, start, end, x.graph.int64s([axis])], {}, { dynamic: true, axis, size })
export const shapeOf = (x: Value): Value => one('Shape', [x])
/** dims [start, end) of x's run-time shape */
export const shapeSlice = (x: Value, start: number, end: number): Value =>
  one('Shape', [x], { start, end }, { start, end })
export const expand = (x: Value, shape: Value, staticShape: Shape): Value =>
  one('Expand', [x, shape], {}, { to: staticShape })
export const gather = (data: Value, indices: Value, axis = 0): Value =>
  one('Gather', [data, indices], { axis }, { axis })
export const gatherElements = (data: Value, indices: Value, axis: number): Value =>
  one('GatherElements', [data, indices], { axis }, { axis: axisOf(axis, data) })
/** int64 [0, n) where n is an int64 scalar value */
export const range = (start: Value, limit: Value, delta: Value, size: Dim): Value =>
  one('Range', [start, limit, delta], {}, { size })

// ---- fused forward-only ops (ONNX opset 23; no gradient rules: decode and eval graphs only) -----------------
/** RMSNormalization over the last axis (y = x / sqrt(mean(x^2) + eps) * w) */
export const rmsNormalization = (x: Value, w: Value, eps: number): Value =>
  one('RMSNormalization', [x, w], { axis: -1, epsilon: float(eps) })
/**
 * RMSNorm over the last axis that also returns r = 1 / sqrt(mean(x^2) + eps) per row ([.., 1], float32): ORT's
 * SimplifiedLayerNormalization (ONNX domain, ORT-only), float32 input alone (no float64 kernel with a float64 r).
 */
export function rmsNormWithInvStd (x: Value, w: Value, eps: number): { y: Value, r: Value } {
  const [y, r] = x.graph.apply('SimplifiedLayerNormalization', [x, w], { axis: -1, epsilon: float(eps), stash_type: 1 })
  return { y: y!, r: r! }
}
/** rotate-half rotary embedding of 3-D x [B, T, heads*hd]; cos/sin [maxPos, hd/2]; positions int64 [B, T] */
export const rotaryEmbedding = (x: Value, cos: Value, sin: Value, positions: Value, heads: number): Value =>
  one('RotaryEmbedding', [x, cos, sin, positions], { num_heads: heads })
/**
 * Scaled dot-product attention (softmax scale 1/sqrt(hd), grouped-query heads) on 3-D q/k/v with an additive
 * mask broadcastable to [B, qHeads, T, S] and, optionally, a KV cache; returns y [B, T, qHeads*hd] and, with a
 * cache, the present key and value [B, kvHeads, S, hd].
 */
export function attention (q: Value, k: Value, v: Value, mask: Value, past: { key: Value, value: Value } | undefined,
  o: AttentionOptions): { y: Value, key?: Value, value?: Value } {
  const inputs = past !== undefined ? [q, k, v, mask, past.key, past.value] : [q, k, v, mask]
  const attrs = { q_num_heads: o.qHeads, kv_num_heads: o.kvHeads }
  const [y, key, value] = q.graph.apply('Attention', inputs, attrs, { ...o })
  return { y: y!, key, value }
}
/**
 * Attention without a cache that also returns its softmax weights P [B, qHeads, T, S] (qk_matmul_output_mode 3)
 * and the keys and values in head layout [B, kvHeads, S, hd]: what a backward needs. `scale` multiplies q k^T.
 */
export function attentionWithProbs (q: Value, k: Value, v: Value, mask: Value, o: AttentionOptions & { scale: number }):
{ y: Value, key: Value, value: Value, probs: Value } {
  const attrs = { q_num_heads: o.qHeads, kv_num_heads: o.kvHeads, qk_matmul_output_mode: 3, scale: float(o.scale) }
  const [y, key, value, probs] = q.graph.apply('Attention', [q, k, v, mask], attrs, { ...o, probs: true })
  return { y: y!, key: key!, value: value!, probs: probs! }
}
