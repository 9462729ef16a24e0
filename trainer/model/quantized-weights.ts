// A checkpoint's frozen linear weights quantized (quantize.ts), once. Weights read from files (Hugging Face
// folders, the 7B case) have their codes written once into a cache folder ($FEDIT_CACHE/quantized, default
// ~/.cache/fedit/quantized; one file per matrix, named by a hash of the weight file's identity and the settings)
// and handed to ONNX Runtime as external data: a later run reads no weight and quantizes nothing, the codes are
// file pages shared by every session of the process, and no model carries them inline (ONNX models end at 2 GB).
// In-memory weights (llama2.c checkpoints: small) are quantized in memory, once per process.
import { existsSync, realpathSync, statSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { WeightRef } from './config.ts'
import type { QuantBits, QuantizedMatrix } from './quantize.ts'
import { blocksOf, quantizeMatrix, transposeMatrix } from './quantize.ts'
import { readWeight } from '../checkpoint/read-weight.ts'
import { writeFileAtomicSync } from '../atomic-write.ts'

export interface QuantizeOptions {
  readonly bits: QuantBits
  readonly blockSize: number
}

/** codes stored in a cache file: the codes from byte 0, the float32 scales from `scalesOffset` */
export interface StoredCodes extends Omit<QuantizedMatrix, 'codes' | 'scales'> {
  readonly path: string
  readonly scalesOffset: number
}
export type QuantizedCodes = QuantizedMatrix | StoredCodes

/** bumped when the layout of a cache file changes, so that old files are not read as new ones */
const FORMAT = 1
const ALIGN = 64

export const quantizeCacheDir = (): string =>
  join(process.env.FEDIT_CACHE ?? join(homedir(), '.cache', 'fedit'), 'quantized')

const codesBytes = (rows: number, cols: number, o: QuantizeOptions): number =>
  rows * blocksOf(cols, o.blockSize) * o.blockSize * o.bits / 8
const scalesAt = (bytes: number): number => Math.ceil(bytes / ALIGN) * ALIGN

const done = new WeakMap<WeightRef, Map<string, QuantizedCodes>>()

/**
 * `ref` [N, K] quantized along K and, with `backward`, its transpose [K, N] quantized along N (a weight that has
 * to be quantized is read once for both)
 */
export function quantizedWeightOf (ref: WeightRef, name: string, o: QuantizeOptions, backward: boolean):
{ forward: QuantizedCodes, backward?: QuantizedCodes } {
  let byKey = done.get(ref)
  if (byKey === undefined) {
    byKey = new Map()
    done.set(ref, byKey)
  }
  let w: Float32Array | undefined
  const [rows, cols] = ref.shape as [number, number]
  const get = (transposed: boolean): QuantizedCodes => {
    const key = `${o.bits}/${o.blockSize}${transposed ? '/T' : ''}`
    const known = byKey.get(key)
    if (known !== undefined) return known
    const [r, c] = transposed ? [cols, rows] : [rows, cols]
    const make = (): QuantizedMatrix => {
      w ??= readWeight(ref)
      return quantizeMatrix(transposed ? transposeMatrix(w, rows, cols) : w, r, c, o.bits, o.blockSize,
        transposed ? `${name} (transposed)` : name)
    }
    const q = ref.source.kind === 'file' ? stored(ref, r, c, o, transposed, make) : make()
    byKey.set(key, q)
    return q
  }
  const forward = get(false)
  return backward ? { forward, backward: get(true) } : { forward }
}

/** the cache file of a file-backed weight's codes, written (temp + rename) when absent or of the wrong size */
function stored (ref: WeightRef, rows: number, cols: number, o: QuantizeOptions, transposed: boolean,
  make: () => QuantizedMatrix): StoredCodes {
  const src = ref.source as Extract<WeightRef['source'], { kind: 'file' }>
  const real = realpathSync(src.path)
  const st = statSync(real)
  const id = JSON.stringify([FORMAT, real, st.size, st.mtimeMs, src.offset, src.byteLength, ref.dtype, ref.shape,
    o.bits, o.blockSize, transposed])
  const dir = quantizeCacheDir()
  const path = join(dir, `${createHash('sha256').update(id).digest('hex').slice(0, 32)}.q${o.bits}`)
  const bytes = codesBytes(rows, cols, o)
  const scalesOffset = scalesAt(bytes)
  const size = scalesOffset + rows * blocksOf(cols, o.blockSize) * 4
  if (!existsSync(path) || statSync(path).size !== size) {
    const q = make()
    const out = new Uint8Array(size)
    out.set(q.codes, 0)
    out.set(new Uint8Array(q.scales.buffer, q.scales.byteOffset, q.scales.byteLength), scalesOffset)
    writeFileAtomicSync(path, out)
  }
  return { rows, cols, bits: o.bits, blockSize: o.blockSize, path: realpathSync(path), scalesOffset }
}
