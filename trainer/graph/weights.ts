// Frozen weights as ONNX initializers. In-memory float32 weights become raw data; weights that live in a file
// (a .safetensors shard) become ONNX external data pointing at the file and byte offset, so nothing large is
// copied into the model. ORT only reads external files inside one folder (no absolute paths, no escaping
// symlinks): we resolve every file to its real path and point ORT at their common folder. Where that cannot
// work (another machine's mount, a read-only odd layout), `stageWeightFiles` hardlinks or copies them.
import { copyFileSync, linkSync, mkdirSync, realpathSync } from 'node:fs'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'
import type { LlamaCheckpoint, WeightRef } from '../model/config.ts'
import type { Graph } from './graph.ts'
import type { Value } from './types.ts'
import { ONNX_TYPE } from './types.ts'
import { externalTensor, rawTensor } from './onnx-proto.ts'
import { ExternalDataError } from './errors.ts'
import { cast } from './ops.ts'

const DTYPE = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const
const BYTES = { F32: 4, F16: 2, BF16: 2 } as const

/** Adds `ref` as an initializer named `name`; returns it converted to the graph's float type (for small weights). */
export function weight (g: Graph, name: string, ref: WeightRef): Value {
  return cast(storedWeight(g, name, ref), g.float)
}

/**
 * Adds `ref` as an initializer named `name` in the element type it is stored in: a half-precision weight stays
 * half (its user casts where it reads it, see composites.castLinear), so that ORT reads it in place from the
 * file's pages, shared by every session of the process, instead of holding a widened private copy.
 */
export function storedWeight (g: Graph, name: string, ref: WeightRef): Value {
  const dtype = DTYPE[ref.dtype]
  const n = ref.shape.reduce((a, b) => a * b, 1)
  let v: Value
  if (ref.source.kind === 'memory') {
    if (ref.dtype !== 'F32') throw new ExternalDataError(`${name}: in-memory weights must be F32, got ${ref.dtype}`)
    if (ref.source.data.length !== n) {
      const held = ref.source.data.length
      throw new ExternalDataError(`${name}: shape [${ref.shape.join(',')}] needs ${n} values, memory holds ${held}`)
    }
    const data = ref.source.data
    v = g.initializer(name, 'float32', ref.shape, (nm) => rawTensor(nm, ONNX_TYPE.float32, ref.shape, data))
  } else {
    const src = ref.source
    if (src.byteLength !== n * BYTES[ref.dtype]) {
      throw new ExternalDataError(`${name}: ${src.path} holds ${src.byteLength} bytes at offset ${src.offset}, ` +
        `shape [${ref.shape.join(',')}] ${ref.dtype} needs ${n * BYTES[ref.dtype]}`)
    }
    let real: string
    try {
      real = realpathSync(src.path) // a symlink (e.g. the Hugging Face cache) is followed to the real blob
    } catch {
      throw new ExternalDataError(`${src.path}: weight file not found (for ${name})`)
    }
    g.externalFiles.add(real)
    v = g.initializer(name, dtype, ref.shape, (nm) => {
      const folder = g.externalFolder ?? dirname(real)
      return externalTensor(nm, ONNX_TYPE[dtype], ref.shape, relative(folder, real), src.offset, src.byteLength)
    })
  }
  return v
}

/** The deepest folder holding every file (ORT resolves external locations relative to it). */
export function commonFolder (files: readonly string[]): string {
  let parts = dirname(files[0]!).split(sep)
  for (const f of files.slice(1)) {
    const q = dirname(f).split(sep)
    let i = 0
    while (i < parts.length && i < q.length && parts[i] === q[i]) i++
    parts = parts.slice(0, i)
  }
  return parts.join(sep) || sep
}

export type StageMode = 'hardlink' | 'copy' | 'hardlink-or-copy'

/**
 * Fallback for weight files ORT will not read in place: hardlinks (or copies) every file a checkpoint's
 * weights point into under `dir`, and returns the checkpoint with its file sources moved there.
 */
export function stageWeightFiles (ckpt: LlamaCheckpoint, dir: string, mode: StageMode = 'hardlink-or-copy'):
LlamaCheckpoint {
  mkdirSync(dir, { recursive: true })
  const moved = new Map<string, string>()
  const place = (path: string): string => {
    const real = realpathSync(path)
    const known = moved.get(real)
    if (known !== undefined) return known
    const target = join(resolve(dir), `${moved.size}-${basename(real)}`)
    try {
      if (mode === 'copy') throw new Error('copy requested')
      linkSync(real, target)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') { /* staged before */ } else if (mode === 'hardlink') {
        throw new ExternalDataError(`cannot hardlink ${real} into ${dir} (${(e as Error).message}); use mode 'copy'`)
      } else copyFileSync(real, target)
    }
    moved.set(real, target)
    return target
  }
  const weights = new Map<string, WeightRef>()
  for (const [name, ref] of ckpt.weights) {
    const src = ref.source
    weights.set(name, src.kind === 'file' ? { ...ref, source: { ...src, path: place(src.path) } } : ref)
  }
  return { ...ckpt, weights }
}
