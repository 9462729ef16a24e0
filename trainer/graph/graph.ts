// A tensor graph under construction: symbolic values, the nodes that make them, and emission as ONE standard
// ONNX model. Ops are built with the functions of ops.ts; their shape rules and gradients live in rules.ts;
// reverse-mode differentiation in autodiff.ts appends backward nodes to the same graph.
import type { AttrValue, TensorProto } from './onnx-proto.ts'
import { encodeModel, nodeProto, rawTensor, valueInfo } from './onnx-proto.ts'
import { GraphError } from './errors.ts'
import { RULES } from './rules.ts'
import type { DType, Dim, FloatDType, Node, OpName, ParamsArg, Shape } from './types.ts'
import { ONNX_TYPE, Value } from './types.ts'
import { commonFolder } from './weights.ts'
import { float32ToBfloat16, float32ToFloat16 } from '../safetensors.ts'

export type { DType, Dim, FloatDType, Node, Shape } from './types.ts'
export { Value } from './types.ts'

const hexOf = (d: ArrayBufferView): string => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('hex')

type Initializer = { value: Value, proto: (name: string) => TensorProto }

export interface ModelOptions {
  /** ONNX default-domain opset (<= 26); 18 by default */
  opset?: number
  name?: string
}

export interface BuiltModel {
  readonly bytes: Uint8Array
  readonly inputNames: readonly string[]
  readonly outputNames: readonly string[]
  /** files that external-data initializers point into (absolute real paths), for the session helper */
  readonly externalFiles: readonly string[]
  /** folder external locations are relative to, when there are any */
  readonly externalFolder: string | undefined
  /** some frozen weight is stored in fp16, bf16 or block-quantized (the session keeps ORT from widening it:
   *  session.ts; constant folding would turn a quantized weight's DequantizeLinear into an fp32 copy) */
  readonly halfWeights: boolean
}

export class Graph {
  readonly nodes: Node[] = []
  readonly inputs: Value[] = []
  readonly initializers: Initializer[] = []
  private nextId = 0
  private readonly constCache = new Map<string, Value>()
  private readonly usedNames = new Set<string>()
  /** external data: location resolution is decided at emission (see weights.ts) */
  externalFiles = new Set<string>()
  externalFolder: string | undefined

  /** `float` is the element type of activations and gradients (float64 for gradient checks). */
  constructor (readonly float: FloatDType = 'float32') {}

  value (dtype: DType, shape: Shape): Value {
    return new Value(this, this.nextId++, dtype, shape)
  }

  private claim (name: string): string {
    if (this.usedNames.has(name)) throw new GraphError(`duplicate tensor name ${name}`)
    this.usedNames.add(name)
    return name
  }

  /** A graph input fed at run time (trainable tensors are inputs: ORT ignores feeds of initializers). */
  input (name: string, dtype: DType, shape: Shape): Value {
    const v = this.value(dtype, shape)
    v.name = this.claim(name)
    this.inputs.push(v)
    return v
  }

  /** A frozen initializer; `proto` builds its TensorProto under the final name. */
  initializer (name: string, dtype: DType, shape: Shape, proto: (name: string) => TensorProto): Value {
    const v = this.value(dtype, shape)
    v.name = this.claim(name)
    this.initializers.push({ value: v, proto })
    return v
  }

  /** Constant tensor from typed data (deduplicated by content for small constants). */
  constant (dtype: DType, shape: readonly number[], data: ArrayBufferView, ints?: readonly number[]): Value {
    const small = data.byteLength <= 64
    const key = small ? `${dtype}|${shape.join(',')}|${hexOf(data)}` : ''
    if (small && this.constCache.has(key)) return this.constCache.get(key)!
    const v = this.initializer(`const_${this.nextId}`, dtype, shape, (n) => rawTensor(n, ONNX_TYPE[dtype], shape, data))
    v.ints = ints
    if (small) this.constCache.set(key, v)
    return v
  }

  /** A float scalar (or any-shape filled) constant in the given float type (default: the graph's). */
  scalar (x: number, dtype: DType = this.float): Value {
    const data = dtype === 'float64' ? Float64Array.of(x) : dtype === 'float32' ? Float32Array.of(x)
      : dtype === 'float16' ? Uint16Array.of(float32ToFloat16(x))
        : dtype === 'bfloat16' ? Uint16Array.of(float32ToBfloat16(x)) : undefined
    if (data === undefined) throw new GraphError(`scalar constants of ${dtype} are not supported`)
    return this.constant(dtype, [], data)
  }

  /** A 1-D int64 constant (shapes, axes, indices). */
  int64s (xs: readonly number[]): Value {
    return this.constant('int64', [xs.length], BigInt64Array.from(xs, (x) => BigInt(x)), xs)
  }

  /** Adds a node whose outputs' types and shapes come from the op's rule. */
  apply<K extends OpName> (op: K, inputs: readonly Value[], attrs: Record<string, AttrValue>,
    ...rest: ParamsArg<K>): Value[] {
    const rule = RULES[op]
    if (rule === undefined) throw new GraphError(`no rule for op ${op}`)
    for (const x of inputs) if (x.graph !== this) throw new GraphError(`${op}: input ${x} belongs to another graph`)
    const params = (rest[0] ?? {}) as Node<K>['params']
    const types = rule.infer(inputs, attrs, params)
    const outputs = types.map(([dtype, shape]) => this.value(dtype, shape))
    const node = { op, inputs, outputs, attrs, params } as Node
    for (const o of outputs) o.producer = node
    this.nodes.push(node)
    return outputs
  }

  /** Emits the ONNX model computing `outputs` (name -> value); only nodes they need are kept. */
  toModel (requested: Record<string, Value>, opts: ModelOptions = {}): BuiltModel {
    const outputs = { ...requested }
    const outNames = Object.keys(outputs)
    if (this.externalFiles.size > 0) this.externalFolder = commonFolder([...this.externalFiles])
    // Name every output: a value made by a node takes the output name; inputs/initializers/duplicates get an Identity.
    const named = new Map<Value, string>()
    const extra: Node[] = []
    const taken = new Set(outNames)
    for (const [name, v] of Object.entries(outputs)) {
      if (v.name === undefined && v.producer !== undefined && !named.has(v)) {
        named.set(v, name)
      } else {
        const out = this.value(v.dtype, v.shape)
        extra.push({ op: 'Identity', inputs: [v], outputs: [out], attrs: {}, params: {} })
        named.set(out, name)
        outputs[name] = out
      }
    }
    const nameOf = (v: Value): string => v.name ?? named.get(v) ?? `t${v.id}`
    for (const v of this.inputs) taken.add(v.name!)
    // keep only what the outputs need
    const needed = new Set<Node>()
    const stack: Value[] = Object.values(outputs)
    const seen = new Set<Value>()
    while (stack.length > 0) {
      const v = stack.pop()!
      if (seen.has(v)) continue
      seen.add(v)
      const n = v.producer ?? extra.find((e) => e.outputs[0] === v)
      if (n !== undefined && !needed.has(n)) {
        needed.add(n)
        stack.push(...n.inputs)
      }
    }
    const kept = [...this.nodes, ...extra].filter((n) => needed.has(n))
    const consumed = new Set<Value>(kept.flatMap((n) => n.inputs))
    const isLeaf = (n: Node): boolean => n.outputs.every((o) => !consumed.has(o))
    // ORT runs nodes in the order of a depth-first walk back from the leaves (nodes no other node reads), taking the
    // last-listed leaf first. Listed in creation order, the last leaf of a train graph is the first layer's LoRA
    // gradient: the walk to it ran the whole backward, and every other layer's weight gradients came after it,
    // reading activations long evicted from cache. Leaves listed last and in reverse make the walk take them
    // in creation order, each as soon as its inputs exist (stories260K train step -6%).
    // The walk takes a node's most recently listed input first: a Cast of a half-precision weight, listed after
    // the activation its Gemm multiplies, would run before that activation's whole subgraph, and every layer's
    // widened weight would be alive at once (a 7B decode graph went past 17 GiB). Listed first, each such Cast
    // runs right before the Gemm that reads it.
    const isHalf = (v: Value): boolean => v.dtype === 'float16' || v.dtype === 'bfloat16'
    const weightCast = (n: Node): boolean => n.inputs[0]?.producer === undefined &&
      ((n.op === 'Cast' && isHalf(n.inputs[0]!)) || n.op === 'DequantizeLinear') // (a quantized weight's widening)
    const rest = kept.filter((n) => !weightCast(n))
    const ordered = [...kept.filter(weightCast), ...rest.filter((n) => !isLeaf(n)), ...rest.filter(isLeaf).reverse()]
    const nodes = ordered.map((n, i) =>
      nodeProto(n.op, n.inputs.map(nameOf), n.outputs.map(nameOf), { ...n.attrs }, `n${i}_${n.op}`))
    const usedInits = this.initializers.filter((i) => seen.has(i.value))
    const initializers = usedInits.map((i) => i.proto(i.value.name!))
    const narrow = new Set(['float16', 'bfloat16', 'uint8', 'uint4'])
    const halfWeights = usedInits.some((i) => narrow.has(i.value.dtype))
    const fixed = (s: Shape): Dim[] => [...s]
    // blocked DequantizeLinear (quantized weights) is opset 21
    const opset = Math.max(opts.opset ?? 18, kept.some((n) => n.op === 'DequantizeLinear') ? 21 : 0)
    const bytes = encodeModel({
      nodes,
      initializers,
      inputs: this.inputs.map((v) => valueInfo(v.name!, ONNX_TYPE[v.dtype], fixed(v.shape))),
      outputs: Object.entries(outputs).map(([name, v]) =>
        valueInfo(name, ONNX_TYPE[v.dtype], fixed(v.shape).map((d) => typeof d === 'number' ? d : null))),
      opset,
      irVersion: opset >= 21 ? 10 : 8,
      name: opts.name
    })
    return {
      bytes,
      inputNames: this.inputs.map((v) => v.name!),
      outputNames: outNames,
      externalFiles: [...this.externalFiles],
      externalFolder: this.externalFolder,
      halfWeights
    }
  }
}
