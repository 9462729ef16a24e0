// The graph's vocabulary of types: dimensions, element types, symbolic values, nodes and each op's static
// parameters. It imports nothing else of trainer/graph/ at run time (the Graph type only), so graph.ts, ops.ts,
// rules.ts and weights.ts all depend on it without a circle.
import type { AttrValue } from './onnx-proto.ts'
import { DataType } from './onnx-proto.ts'
// a type-only import (erased at run time): a value's graph is what builds more nodes next to it
import type { Graph } from './graph.ts'

/** A dimension: a number when known, a symbol ('batch', 'seq', ...) when dynamic. */
export type Dim = number | string
export type Shape = readonly Dim[]
/** uint8 and uint4: block-quantized frozen weights (quantize.ts) */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'bool' | 'uint8' | 'uint4'
/** element types of activations and gradients (float64 for gradient checks) */
export type FloatDType = 'float32' | 'float64'

export const ONNX_TYPE: Record<DType, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  bfloat16: DataType.BFLOAT16,
  int64: DataType.INT64,
  int32: DataType.INT32,
  bool: DataType.BOOL,
  uint8: DataType.UINT8,
  uint4: DataType.UINT4
}

export const isFloat = (t: DType): boolean =>
  t === 'float32' || t === 'float64' || t === 'float16' || t === 'bfloat16'

/** Backward of a composite: gradients of its inputs from the gradient of its output (undefined where not needed). */
export type Vjp = (g: Value, needs: readonly boolean[]) => Array<Value | undefined>

export interface AttentionShape { readonly qHeads: number, readonly kvHeads: number, readonly headDim: number }
export interface AttentionOptions extends AttentionShape { readonly totalSeq: Dim }

type None = Record<string, never>
export interface Reduce { readonly axes: readonly number[], readonly keepdims: boolean }
interface Axis { readonly axis: number }
interface Axes { readonly axes: readonly number[] }

/** The static facts each op's shape and gradient rules need (axes, perm, target dims...), per op. */
export interface OpParams {
  Add: None
  Sub: None
  Mul: None
  Div: None
  Pow: None
  Neg: None
  Sqrt: None
  Reciprocal: None
  Exp: None
  Log: None
  Tanh: None
  Sigmoid: None
  Where: None
  Cast: { readonly to: DType }
  /** a composite (ops.composite) is an Identity that carries its inputs and hand-written backward */
  Identity: None | { readonly composite: string, readonly inputs: readonly Value[], readonly vjp: Vjp }
  MatMul: None
  Gemm: { readonly transA: boolean, readonly transB: boolean, readonly alpha: number }
  ReduceSum: Reduce
  ReduceMean: Reduce
  ReduceMax: Reduce
  ReduceProd: Reduce
  Softmax: Axis
  LogSoftmax: Axis
  /** by constant dims (0 copies, -1 is inferred), or to a shape the caller knows */
  Reshape: { readonly dims: readonly number[] } | { readonly to: Shape }
  Transpose: { readonly perm: readonly number[] }
  Unsqueeze: Axes
  Squeeze: Axes
  Expand: { readonly to: Shape }
  Concat: Axis
  Slice: { readonly starts: readonly number[], readonly ends: readonly number[], readonly axes: readonly number[] }
  | { readonly dynamic: true, readonly axis: number, readonly size: Dim }
  Pad: None
  Gather: Axis
  GatherElements: Axis
  ScatterND: None
  ScatterElements: None
  RMSNormalization: None
  SimplifiedLayerNormalization: None
  RotaryEmbedding: None
  Attention: AttentionOptions & { readonly probs?: boolean, readonly scale?: number }
  Max: None
  Shape: None | { readonly start: number, readonly end: number }
  Equal: None
  Less: None
  LessOrEqual: None
  Not: None
  And: None
  Range: { readonly size: Dim }
  ConstantOfShape: { readonly dtype: DType, readonly to: Shape }
  ArgMax: Axis
  /** ORT's com.microsoft MatMulNBits: y = x dequant(B)^T for a block-quantized frozen B [N, K] (quantize.ts) */
  MatMulNBits: { readonly K: number, readonly N: number, readonly bits: number, readonly blockSize: number }
  /** blocked dequantization (opset 21) along axis 1 of a quantized [N, K'] weight */
  DequantizeLinear: { readonly blockSize: number }
}
export type OpName = keyof OpParams
/** the params argument of an op: optional for ops that take none */
export type ParamsArg<K extends OpName> = None extends OpParams[K] ? [params?: OpParams[K]] : [params: OpParams[K]]

export interface Node<K extends OpName = OpName> {
  readonly op: K
  readonly inputs: readonly Value[]
  readonly outputs: readonly Value[]
  readonly attrs: Readonly<Record<string, AttrValue>>
  readonly params: OpParams[K]
}

export class Value {
  /** set when the value is a graph input, initializer or named output; otherwise a generated name */
  name: string | undefined
  producer: Node | undefined
  /** int64 constant contents when known at build time (shapes, axes) */
  ints: readonly number[] | undefined
  constructor (readonly graph: Graph, readonly id: number, readonly dtype: DType, readonly shape: Shape) {}
  get rank (): number { return this.shape.length }
  toString (): string { return `${this.name ?? `t${this.id}`}:${this.dtype}[${this.shape.join(',')}]` }
}
