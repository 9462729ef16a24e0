// Thin, typed layer over npm `onnx-proto` (protobufjs static code of the ONNX schema): attributes, tensors,
// value infos, model encoding. Everything above this file speaks in graph terms, never in protobuf terms.
import onnxProto from 'onnx-proto'

export const { onnx } = onnxProto
export type NodeProto = onnxProto.onnx.INodeProto
export type TensorProto = onnxProto.onnx.ITensorProto
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto
export type AttributeProto = onnxProto.onnx.IAttributeProto

/** ONNX element types we use. */
export const DataType = {
  FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11, BFLOAT16: 16, UINT4: 21
} as const

/** JS cannot tell 2.0 from 2: wrap a number that must be a FLOAT attribute. */
export class FloatAttr {
  constructor (readonly value: number) {}
}
export const float = (v: number): FloatAttr => new FloatAttr(v)
export type AttrValue = number | FloatAttr | string | number[] | FloatAttr[] | TensorProto

function attribute (name: string, v: AttrValue): AttributeProto {
  const A = onnx.AttributeProto.AttributeType
  if (v instanceof FloatAttr) return { name, type: A.FLOAT, f: v.value }
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return { name, type: A.FLOAT, f: v }
    return { name, type: A.INT, i: v }
  }
  if (typeof v === 'string') return { name, type: A.STRING, s: Buffer.from(v) }
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'number' && Number.isInteger(x))) return { name, type: A.INTS, ints: v as number[] }
    return { name, type: A.FLOATS, floats: (v as Array<number | FloatAttr>)
      .map((x) => x instanceof FloatAttr ? x.value : x) }
  }
  return { name, type: A.TENSOR, t: v }
}

/** ops of ONNX Runtime's contrib domain (the rest are ONNX's default domain) */
const CONTRIB_OPS: ReadonlySet<string> = new Set(['MatMulNBits'])
const MS_DOMAIN = 'com.microsoft'

export function nodeProto (opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {},
  name?: string): NodeProto {
  return {
    opType,
    input: inputs,
    output: outputs,
    name: name ?? `${outputs[0]}/${opType}`,
    domain: CONTRIB_OPS.has(opType) ? MS_DOMAIN : '',
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v))
  }
}

export function rawTensor (name: string, dataType: number, dims: readonly number[],
  data: ArrayBufferView): TensorProto {
  return { name, dataType, dims: [...dims], rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }
}

export function externalTensor (name: string, dataType: number, dims: readonly number[], location: string,
  offset: number, length: number): TensorProto {
  return {
    name,
    dataType,
    dims: [...dims],
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [{ key: 'location', value: location }, { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) }]
  }
}

/** Shape entries: number -> fixed dim, string -> symbolic dim, null -> unknown. */
export function valueInfo (name: string, elemType: number,
  shape: ReadonlyArray<number | string | null> | undefined): ValueInfoProto {
  const dim = shape?.map((d) => typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})
  return { name, type: { tensorType: { elemType, shape: dim === undefined ? undefined : { dim } } } }
}

export interface ModelParts {
  nodes: NodeProto[]
  inputs: ValueInfoProto[]
  outputs: ValueInfoProto[]
  initializers: TensorProto[]
  opset: number
  irVersion: number
  name?: string
}

export function encodeModel (p: ModelParts): Uint8Array {
  const m = onnx.ModelProto.create({
    irVersion: p.irVersion,
    producerName: 'fedit',
    opsetImport: [{ domain: '', version: p.opset },
      ...p.nodes.some((n) => n.domain === MS_DOMAIN) ? [{ domain: MS_DOMAIN, version: 1 }] : []],
    graph: { name: p.name ?? 'fedit', node: p.nodes, input: p.inputs, output: p.outputs, initializer: p.initializers }
  })
  const err = onnx.ModelProto.verify(m)
  if (err !== null) throw new Error(`invalid ONNX model: ${err}`)
  return onnx.ModelProto.encode(m).finish()
}
