// Block-quantized frozen weights (trainer/model/quantize.ts) in a graph. A linear layer y = x W^T runs ORT's
// MatMulNBits (com.microsoft) on the codes; its backward, dX = dY W, runs MatMulNBits again on a second copy,
// W^T quantized along the other axis, which train graphs register: measured at 4096 x 4096 and 128 rows, a
// MatMulNBits costs ~25 ms of CPU where a DequantizeLinear + Gemm (the same cost as today's fp16 Cast + Gemm)
// costs ~270 ms (docs/performance.md). The weight as a Value is its DequantizeLinear [N, K] (float32): users that
// need it whole (a small weight's merged LoRA) read that, and where none does, the graph drops it. Codes in a
// cache file (quantized-weights.ts) are external data, read in place like a checkpoint's half weights (weights.ts).
import { dirname, relative } from 'node:path'
import { blocksOf } from '../model/quantize.ts'
import type { QuantizedCodes } from '../model/quantized-weights.ts'
import type { Graph } from './graph.ts'
import type { Value } from './types.ts'
import { ONNX_TYPE } from './types.ts'
import { externalTensor, rawTensor } from './onnx-proto.ts'
import * as op from './ops.ts'

interface NBits {
  readonly codes: Value // uint8 [N, blocks, blockSize * bits / 8]
  readonly scales: Value // float32 [N, blocks]
  readonly q: QuantizedCodes
}
interface QuantizedLinear { readonly forward: NBits, readonly backward?: NBits }

const registry = new WeakMap<Value, QuantizedLinear>()

/**
 * MatMulNBits' accuracy level per width: int4 runs in float32 (level 0: as exact as the dequantized weight, and
 * as fast as int8 activations at 128 rows); int8 has no fast float32 kernel in ORT 1.30 (level 0 dequantizes the
 * whole weight per call: 342 ms at 4096 x 4096), so it multiplies int8-quantized activations (level 4).
 */
const ACCURACY = { 4: 0, 8: 4 } as const

/** an initializer over the codes' bytes (`at` bytes in when they are a cache file's, StoredCodes) */
function codesInit (g: Graph, name: string, q: QuantizedCodes, dtype: 'uint8' | 'uint4' | 'float32',
  shape: number[], at: 'codes' | 'scales'): Value {
  if ('codes' in q) {
    const data = at === 'codes' ? q.codes : q.scales
    return g.initializer(name, dtype, shape, (n) => rawTensor(n, ONNX_TYPE[dtype], shape, data))
  }
  g.externalFiles.add(q.path)
  const blocks = blocksOf(q.cols, q.blockSize)
  const [offset, length] = at === 'codes'
    ? [0, q.rows * blocks * q.blockSize * q.bits / 8]
    : [q.scalesOffset, q.rows * blocks * 4]
  return g.initializer(name, dtype, shape, (n) => externalTensor(n, ONNX_TYPE[dtype], shape,
    relative(g.externalFolder ?? dirname(q.path), q.path), offset, length))
}

function nbits (g: Graph, name: string, q: QuantizedCodes): NBits {
  const blocks = blocksOf(q.cols, q.blockSize)
  const codes = codesInit(g, `${name}.codes`, q, 'uint8', [q.rows, blocks, q.blockSize * q.bits / 8], 'codes')
  const scales = codesInit(g, `${name}.scales`, q, 'float32', [q.rows, blocks], 'scales')
  return { codes, scales, q }
}

/**
 * Registers a quantized [N, K] weight `forward` (and, for train graphs, `backward`: its transpose quantized) and
 * returns the weight as float32 [N, K] (DequantizeLinear of the same codes, for users that need it whole).
 */
export function quantizedWeight (g: Graph, name: string, forward: QuantizedCodes, backward?: QuantizedCodes):
Value {
  const fwd = nbits(g, name, forward)
  const { rows, cols, bits, blockSize } = forward
  const blocks = blocksOf(cols, blockSize)
  const dtype = bits === 8 ? 'uint8' : 'uint4'
  // the codes again, as a [N, blocks * blockSize] tensor of bits-wide integers (the same bytes, low nibble first)
  const x = codesInit(g, `${name}.codes_${dtype}`, forward, dtype, [rows, blocks * blockSize], 'codes')
  const zeros = new Uint8Array(bits === 8 ? rows * blocks : Math.ceil(rows * blocks / 2)).fill(bits === 8 ? 128 : 0x88)
  const zero = g.initializer(`${name}.zero_points`, dtype, [rows, blocks],
    (n) => rawTensor(n, ONNX_TYPE[dtype], [rows, blocks], zeros))
  let w = g.apply('DequantizeLinear', [x, fwd.scales, zero], { axis: 1, block_size: blockSize }, { blockSize })[0]!
  if (blocks * blockSize !== cols) w = op.slice(w, [0], [cols], [1])
  registry.set(w, { forward: fwd, backward: backward !== undefined ? nbits(g, `${name}.T`, backward) : undefined })
  return w
}

/** true when `w` came from quantizedWeight */
export const isQuantized = (w: Value): boolean => registry.has(w)

function matMulNBits (x: Value, p: NBits): Value {
  const { rows: N, cols: K, bits, blockSize } = p.q
  const attrs = { K, N, bits, block_size: blockSize, accuracy_level: ACCURACY[bits] }
  return x.graph.apply('MatMulNBits', [x, p.codes, p.scales], attrs, { K, N, bits, blockSize })[0]!
}

/** y = x W^T for a quantized W; the backward dX = dY W on the transposed copy when registered, else on W whole */
export function quantLinear (x: Value, w: Value): Value {
  const q = registry.get(w)!
  const y = matMulNBits(x, q.forward)
  return op.composite('QuantLinear', [x], y, (g) =>
    [q.backward !== undefined ? matMulNBits(g, q.backward) : op.gemm(g, w)])
}
