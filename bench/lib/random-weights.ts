// Random frozen fp32 weights of LLaMA decoder blocks written to a temp file and referenced as ONNX external
// data, for the benches of 7B-shaped blocks (forward-backward, train-step).
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LinearModule, LlamaConfig, WeightRef } from '../../trainer/model/config.ts'
import { LINEAR_MODULES, linearShape } from '../../trainer/model/config.ts'

export interface BlockRefs { readonly attnNorm: WeightRef, readonly mlpNorm: WeightRef,
  readonly linear: Record<LinearModule, WeightRef> }

let seed = 42
export function fillRandom (a: Float32Array, scale: number): void {
  for (let i = 0; i < a.length; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0
    a[i] = (seed / 4294967296 - 0.5) * 2 * scale
  }
}

/** A temp file that random weights are appended to; each `put` returns the WeightRef of what it wrote. */
export interface WeightFile {
  put: (shape: number[], scale: number, constant?: number) => WeightRef
  /** `layers` decoder blocks of random weights (norms 1, linears uniform with scale 1/sqrt(fan-in)) */
  blocks: (c: LlamaConfig, layers: number) => BlockRefs[]
  /** stop writing (call before the weights are read) */
  close: () => void
  /** remove the file */
  cleanup: () => void
}

export function createWeightFile (): WeightFile {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-bench-'))
  const file = join(dir, 'weights.bin')
  const fd = openSync(file, 'w')
  let offset = 0
  let open = true
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
  const blocks = (c: LlamaConfig, layers: number): BlockRefs[] => Array.from({ length: layers }, () => ({
    attnNorm: put([c.dim], 0, 1),
    mlpNorm: put([c.dim], 0, 1),
    linear: Object.fromEntries(LINEAR_MODULES.map((m) => {
      const s = linearShape(c, m)
      return [m, put(s, 1 / Math.sqrt(s[1]))]
    })) as Record<LinearModule, WeightRef>
  }))
  const close = (): void => { if (open) { open = false; closeSync(fd) } }
  return { put, blocks, close, cleanup: () => { close(); rmSync(dir, { recursive: true, force: true }) } }
}

/** Writes `layers` blocks of random weights; `cleanup()` removes the file. */
export function randomBlocks (c: LlamaConfig, layers: number): { refs: BlockRefs[], cleanup: () => void } {
  const f = createWeightFile()
  try {
    return { refs: f.blocks(c, layers), cleanup: f.cleanup }
  } finally {
    f.close()
  }
}
