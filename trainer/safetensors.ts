// The safetensors format (https://github.com/huggingface/safetensors): 8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets:[begin,end]}, "__metadata__"?: {str: str}}, then the bytes.
// Pure encode/decode over bytes; file access lives with the callers.
import type { Tensor } from './tensor.ts'
import { numel } from './tensor.ts'

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8'
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, U8: 1 }

export interface SafetensorsEntry {
  readonly name: string
  readonly dtype: SafetensorsDtype
  readonly shape: readonly number[]
  /** byte offset of the data from the start of the file/buffer */
  readonly offset: number
  readonly byteLength: number
}

export interface SafetensorsHeader {
  readonly entries: readonly SafetensorsEntry[]
  readonly metadata: Readonly<Record<string, string>>
  /** size of the 8-byte prefix plus the JSON header: where the data section starts */
  readonly dataStart: number
}

export class SafetensorsError extends Error {
  constructor (message: string) { super(message); this.name = 'SafetensorsError' }
}

/** Largest JSON header accepted (the reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024

/**
 * Parses and validates the header. `prefix` must hold at least the first 8 + headerLength bytes; `totalBytes` is the
 * file size.
 */
export function parseSafetensorsHeader (prefix: Uint8Array, totalBytes: number): SafetensorsHeader {
  if (prefix.length < 8 || totalBytes < 8) throw new SafetensorsError('file too short for a safetensors header')
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength)
  const headerLen = Number(view.getBigUint64(0, true))
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > totalBytes) {
    throw new SafetensorsError(`header length ${headerLen} does not fit a file of ${totalBytes} bytes`)
  }
  if (prefix.length < 8 + headerLen) throw new SafetensorsError('header truncated')
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(prefix.subarray(8, 8 + headerLen)))
  } catch {
    throw new SafetensorsError('header is not valid JSON')
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SafetensorsError('header is not a JSON object')
  }
  const dataStart = 8 + headerLen
  const dataBytes = totalBytes - dataStart
  const entries: SafetensorsEntry[] = []
  let metadata: Record<string, string> = {}
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null) throw new SafetensorsError('__metadata__ is not an object')
      metadata = Object.fromEntries(Object.entries(raw as Record<string, unknown>).map(([k, v]) => [k, String(v)]))
      continue
    }
    const e = raw as { dtype?: unknown, shape?: unknown, data_offsets?: unknown }
    if (typeof e !== 'object' || e === null || typeof e.dtype !== 'string' || !(e.dtype in BYTES)) {
      throw new SafetensorsError(`tensor ${name}: unsupported or missing dtype ${String(e?.dtype)}`)
    }
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`tensor ${name}: bad shape`)
    }
    if (!Array.isArray(e.data_offsets) || e.data_offsets.length !== 2 ||
      !e.data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`tensor ${name}: bad data_offsets`)
    }
    const [begin, end] = e.data_offsets as [number, number]
    const dtype = e.dtype as SafetensorsDtype
    const shape = e.shape as number[]
    if (end < begin || end > dataBytes) {
      throw new SafetensorsError(`tensor ${name}: data [${begin},${end}) outside the ${dataBytes}-byte data section ` +
        `(truncated file?)`)
    }
    if (end - begin !== numel(shape) * BYTES[dtype]) {
      throw new SafetensorsError(`tensor ${name}: ${end - begin} bytes do not match shape [${shape.join(',')}] ` +
        `of ${dtype}`)
    }
    entries.push({ name, dtype, shape, offset: dataStart + begin, byteLength: end - begin })
  }
  return { entries, metadata, dataStart }
}

/** Decodes a whole in-memory safetensors buffer into float32 tensors (F16/BF16/F64 are widened/narrowed). */
export function decodeSafetensors (bytes: Uint8Array): { tensors: Map<string, Tensor>,
  metadata: Record<string, string> } {
  const header = parseSafetensorsHeader(bytes, bytes.length)
  const tensors = new Map<string, Tensor>()
  for (const e of header.entries) {
    tensors.set(e.name, { shape: [...e.shape], data: toFloat32(bytes.subarray(e.offset, e.offset + e.byteLength),
      e.dtype) })
  }
  return { tensors, metadata: { ...header.metadata } }
}

/** Encodes float32 tensors (names sorted, so equal content gives equal bytes and an equal hash). */
export function encodeSafetensors (tensors: ReadonlyMap<string, Tensor>, metadata: Record<string, string> = {},
  dtype: 'F32' | 'F16' = 'F32'): Uint8Array {
  const names = [...tensors.keys()].sort()
  const header: Record<string, unknown> = {}
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata
  let offset = 0
  const width = BYTES[dtype]
  for (const name of names) {
    const t = tensors.get(name)!
    if (t.data.length !== numel(t.shape)) {
      throw new SafetensorsError(`tensor ${name}: ${t.data.length} values do not match shape [${t.shape.join(',')}]`)
    }
    const len = t.data.length * width
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + len] }
    offset += len
  }
  let json = JSON.stringify(header)
  // pad the header with spaces so the data section is 8-byte aligned (as the reference writer does)
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8)
  const headerBytes = new TextEncoder().encode(json)
  const out = new Uint8Array(8 + headerBytes.length + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true)
  out.set(headerBytes, 8)
  let pos = 8 + headerBytes.length
  for (const name of names) {
    const t = tensors.get(name)!
    if (dtype === 'F32') {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos)
    } else {
      const h = new Uint16Array(t.data.length)
      for (let i = 0; i < h.length; i++) h[i] = float32ToFloat16(t.data[i]!)
      out.set(new Uint8Array(h.buffer), pos)
    }
    pos += t.data.length * width
  }
  return out
}

/** Converts raw little-endian bytes of a float dtype to a new Float32Array. */
export function toFloat32 (raw: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  const n = raw.byteLength / BYTES[dtype]
  const copy = new Uint8Array(raw) // aligned copy (not raw.slice(): on a Node Buffer that is a view, not a copy)
  switch (dtype) {
    case 'F32': return new Float32Array(copy.buffer, 0, n)
    case 'F64': return Float32Array.from(new Float64Array(copy.buffer, 0, n))
    case 'F16': {
      const h = new Uint16Array(copy.buffer, 0, n)
      const out = new Float32Array(n)
      const table = f16Table()
      for (let i = 0; i < n; i++) out[i] = table[h[i]!]!
      return out
    }
    case 'BF16': {
      const h = new Uint16Array(copy.buffer, 0, n)
      const out = new Uint32Array(n)
      for (let i = 0; i < n; i++) out[i] = h[i]! << 16
      return new Float32Array(out.buffer)
    }
    default: throw new SafetensorsError(`dtype ${dtype} is not a float type`)
  }
}

// every fp16 value as float32, built on first use: a lookup is ~20x faster than decoding each value (a 7B layer's
// weights, read to be quantized, took seconds)
let F16_TABLE: Float32Array | undefined
function f16Table (): Float32Array {
  if (F16_TABLE === undefined) F16_TABLE = Float32Array.from({ length: 65536 }, (_, h) => float16ToFloat32(h))
  return F16_TABLE
}

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

export function float16ToFloat32 (h: number): number {
  const s = (h & 0x8000) !== 0 ? -1 : 1
  const e = (h >> 10) & 0x1f
  const m = h & 0x3ff
  if (e === 0) return s * m * 2 ** -24
  if (e === 31) return m === 0 ? s * Infinity : NaN
  return s * (1 + m / 1024) * 2 ** (e - 15)
}

/** Round-to-nearest-even float32 -> float16 bits. */
export function float32ToFloat16 (v: number): number {
  f32[0] = v
  const x = u32[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0)
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    let half = mant >> shift
    const rem = mant & ((1 << shift) - 1)
    const mid = 1 << (shift - 1)
    if (rem > mid || (rem === mid && (half & 1) !== 0)) half++
    return sign | half
  }
  let half = (e << 10) | (mant >> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++
  return sign | half
}

/** float32 -> bfloat16 bits, round-to-nearest-even. */
export function float32ToBfloat16 (v: number): number {
  f32[0] = v
  const x = u32[0]!
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return (x >>> 16) | 0x40
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff
}
