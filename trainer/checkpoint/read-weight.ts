// Reads a WeightRef's values as float32, wherever they live. For merging, exporting and small models:
// the graph builder hands file-backed weights to ONNX Runtime directly instead.
import { closeSync, openSync, readSync } from 'node:fs'
import type { WeightRef } from '../model/config.ts'
import { numel } from '../tensor.ts'
import { toFloat32 } from '../safetensors.ts'
import { CheckpointError } from './errors.ts'

const WIDTH = { F32: 4, F16: 2, BF16: 2 } as const

/** The weight's values as a float32 array. A float32 in-memory weight is returned as is (do not mutate it). */
export function readWeight (ref: WeightRef): Float32Array {
  const n = numel(ref.shape)
  const src = ref.source
  if (src.kind === 'memory') {
    if (src.data.length !== n) {
      throw new CheckpointError(`in-memory weight has ${src.data.length} values but shape [${ref.shape.join(',')}]`)
    }
    return src.data
  }
  const bytes = n * WIDTH[ref.dtype]
  if (src.byteLength !== bytes) {
    throw new CheckpointError(`${src.path}: weight at byte ${src.offset} has ${src.byteLength} bytes, shape ` +
      `[${ref.shape.join(',')}] of ${ref.dtype} needs ${bytes}`)
  }
  const buf = Buffer.alloc(bytes)
  let fd: number
  try { fd = openSync(src.path, 'r') } catch { throw new CheckpointError(`${src.path}: cannot open the weight file`) }
  try {
    let got = 0
    while (got < bytes) {
      const r = readSync(fd, buf, got, bytes - got, src.offset + got)
      if (r === 0) throw new CheckpointError(`${src.path}: ends before byte ${src.offset + bytes} (truncated?)`)
      got += r
    }
  } finally {
    closeSync(fd)
  }
  return toFloat32(buf, ref.dtype)
}
