// Random frozen fp32 weights of LLaMA decoder blocks written to a temp file and referenced as ONNX external
// data, as bench/forward-backward.ts does (same generator and scales), for benches of 7B-shaped blocks.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LinearModule, LlamaConfig, WeightRef } from '../trainer/model/config.ts'
import { LINEAR_MODULES, linearShape } from '../trainer/model/config.ts'

export interface BlockRefs { readonly attnNorm: WeightRef, readonly mlpNorm: WeightRef, readonly linear: Record<LinearModule, WeightRef> }

let seed = 42
export function fillRandom (a: Float32Array, scale: number): void {
  for (let i = 0; i < a.length; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0
    a[i] = (seed / 4294967296 - 0.5) * 2 * scale
  }
}

/** Writes `layers` blocks of random weights; `cleanup()` removes the file. */
export function randomBlocks (c: LlamaConfig, layers: number): { refs: BlockRefs[], cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-bench-'))
  const file = join(dir, 'weights.bin')
  const fd = openSync(file, 'w')
  let offset = 0
  const put = (shape: number[], scale: number, constant?: number): WeightRef => {
    const n = shape.reduce((a, b) => a * b, 1)
    const chunk = new Float32Array(Math.min(n, 1 << 22))
    const start = offset
    for (let done = 0; done < n; done += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, n - done))
      if (constant !== undefined) part.fill(constant)
      else fillRandom(part, scale)
      writeSync(fd, part)
    }
    offset += n * 4
    return { shape, dtype: 'F32', source: { kind: 'file', path: file, offset: start, byteLength: n * 4 } }
  }
  try {
    const refs = Array.from({ length: layers }, () => ({
      attnNorm: put([c.dim], 0, 1),
      mlpNorm: put([c.dim], 0, 1),
      linear: Object.fromEntries(LINEAR_MODULES.map((m) => {
        const s = linearShape(c, m)
        return [m, put(s, 1 / Math.sqrt(s[1]))]
      })) as Record<LinearModule, WeightRef>
    }))
    return { refs, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
  } finally {
    closeSync(fd)
  }
}
