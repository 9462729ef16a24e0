// Block-wise symmetric quantization of a frozen [rows, cols] weight into ONNX Runtime's MatMulNBits layout: each
// row is cut into blocks of `blockSize` columns (the last one zero-padded), each block has one float32 scale
// s = max |w| / (2^(bits-1) - 1), and each value becomes the unsigned code q = round(w / s) + 2^(bits-1), packed
// low nibble first for 4 bits. Dequantized: w' = (q - 2^(bits-1)) s, the zero point MatMulNBits assumes when none
// is given. Pure functions: the graph side is trainer/graph/quantized.ts.

export type QuantBits = 4 | 8
/** ORT's MatMulNBits kernels take power-of-two blocks of 16 and more; 32 keeps int4's error small */
export const DEFAULT_BLOCK_SIZE = 32

export class QuantizeError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'QuantizeError'
  }
}

/** A weight [rows, cols] quantized along cols: codes [rows, blocks, blockSize * bits / 8], scales [rows, blocks] */
export interface QuantizedMatrix {
  readonly rows: number
  readonly cols: number
  readonly bits: QuantBits
  readonly blockSize: number
  readonly codes: Uint8Array
  readonly scales: Float32Array
}

export const blocksOf = (cols: number, blockSize: number): number => Math.ceil(cols / blockSize)

/** Quantizes w [rows, cols] (row-major); `name` is for the error a non-finite weight raises */
export function quantizeMatrix (w: Float32Array, rows: number, cols: number, bits: QuantBits, blockSize: number,
  name = 'weight'): QuantizedMatrix {
  if (w.length !== rows * cols) throw new QuantizeError(`${name}: ${w.length} values for [${rows}, ${cols}]`)
  const blocks = blocksOf(cols, blockSize)
  const blob = blockSize * bits / 8
  const zero = 1 << (bits - 1)
  const top = 2 * zero - 1
  const codes = new Uint8Array(rows * blocks * blob)
  const scales = new Float32Array(rows * blocks)
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const from = r * cols + b * blockSize
      const to = r * cols + Math.min(cols, (b + 1) * blockSize)
      let max = 0
      for (let i = from; i < to; i++) {
        const a = Math.abs(w[i]!)
        if (!(a <= Number.MAX_VALUE)) throw new QuantizeError(`${name}: non-finite value at row ${r}`)
        if (a > max) max = a
      }
      const s = max > 0 ? max / (zero - 1) : 1
      scales[r * blocks + b] = s
      const out = (r * blocks + b) * blob
      for (let j = 0; j < blockSize; j++) {
        const i = from + j
        const q = i < to ? Math.min(top, Math.max(0, Math.round(w[i]! / s) + zero)) : zero
        if (bits === 8) codes[out + j] = q
        else codes[out + (j >> 1)]! |= (j & 1) === 1 ? q << 4 : q
      }
    }
  }
  return { rows, cols, bits, blockSize, codes, scales }
}

/** The float32 values a quantized matrix stands for, [rows, cols] */
export function dequantizeMatrix (q: QuantizedMatrix): Float32Array {
  const { rows, cols, bits, blockSize } = q
  const blocks = blocksOf(cols, blockSize)
  const blob = blockSize * bits / 8
  const zero = 1 << (bits - 1)
  const out = new Float32Array(rows * cols)
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const b = Math.floor(c / blockSize)
      const j = c % blockSize
      const at = (r * blocks + b) * blob
      const code = bits === 8 ? q.codes[at + j]! : (q.codes[at + (j >> 1)]! >> ((j & 1) * 4)) & 15
      out[r * cols + c] = (code - zero) * q.scales[r * blocks + b]!
    }
  }
  return out
}

/** w^T of a row-major [rows, cols] matrix */
export function transposeMatrix (w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c]!
  return t
}

/** Checks a --quantize value ('int8', 'int4' or 'none'); one line naming the flag when wrong */
export function parseQuantize (v: unknown, where = '--quantize'): QuantBits | undefined {
  if (v === undefined || v === 'none') return undefined
  if (v === 'int8') return 8
  if (v === 'int4') return 4
  throw new QuantizeError(`${where} must be int8, int4 or none, got ${JSON.stringify(v)}`)
}
