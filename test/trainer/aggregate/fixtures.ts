// Shared helpers for the aggregation tests: a seeded RNG, small adapters, dense float64 references.
import type { Adapter, LoraConfig } from '../../../trainer/lora/adapter.ts'
import type { ClientUpdate, AggregationContext } from '../../../trainer/aggregate/types.ts'
import type { Tensor } from '../../../trainer/tensor.ts'
import { loraName, loraScale } from '../../../trainer/lora/adapter.ts'
import { mulberry32 } from '../../../trainer/rng.ts'

/** mulberry32: small, seeded, good enough for tests */
export const rng = mulberry32

export function gaussian (rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
}

export const config = (r: number, alpha = 2 * r): LoraConfig => ({ r, alpha, dropout: 0,
  targetModules: ['q_proj', 'down_proj'] })

/** Module shapes [out, in] of the tiny test model: 2 layers x (q_proj, down_proj). */
export const MODULES: { layer: number, module: 'q_proj' | 'down_proj', out: number, in: number }[] = [
  { layer: 0, module: 'q_proj', out: 12, in: 12 }, { layer: 0, module: 'down_proj', out: 12, in: 20 },
  { layer: 1, module: 'q_proj', out: 12, in: 12 }, { layer: 1, module: 'down_proj', out: 12, in: 20 }
]

export function randomAdapter (rand: () => number, r: number, std = 1, alpha = 2 * r): Adapter {
  const g = gaussian(rand)
  const tensors = new Map<string, Tensor>()
  for (const m of MODULES) {
    tensors.set(loraName(m.layer, m.module, 'A'), { shape: [r, m.in],
      data: Float32Array.from({ length: r * m.in }, () => g() * std) })
    tensors.set(loraName(m.layer, m.module, 'B'), { shape: [m.out, r],
      data: Float32Array.from({ length: m.out * r }, () => g() * std) })
  }
  return { config: config(r, alpha), tensors }
}

/** Adapter from a flat vector laid out in the tensor order of `like`. */
export function fromFlat (like: Adapter, flat: Float64Array | Float32Array): Adapter {
  const tensors = new Map<string, Tensor>(); let o = 0
  for (const [name, t] of like.tensors) {
    tensors.set(name, { shape: [...t.shape], data: Float32Array.from(flat.subarray(o, o + t.data.length)) });
      o += t.data.length
  }
  return { config: like.config, tensors }
}

export function flat (a: Adapter): Float64Array {
  const parts = [...a.tensors.values()].map((t) => t.data)
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0)); let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

export function dist (x: Float64Array, y: Float64Array): number {
  let s = 0
  for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) ** 2
  return Math.sqrt(s)
}

export function norm (x: Float64Array): number {
  return Math.sqrt(x.reduce((s, v) => s + v * v, 0))
}

export const BASE = 'base-hash-of-round-4'
export const ctxFor = (global: Adapter, round = 4): AggregationContext => ({ round, baseHash: BASE, global })
export const update = (peer: string, adapter: Adapter, samples = 100, round = 4, baseHash = BASE): ClientUpdate =>
  ({ peer, samples, round, baseHash, adapter })

/** Dense ΔW = (alpha/r)·B·A of one module, float64 [out*in]. */
export function denseProduct (a: Adapter, layer: number,
  module: 'q_proj' | 'down_proj'): { W: Float64Array, out: number, in: number } {
  const A = a.tensors.get(loraName(layer, module, 'A'))!; const B = a.tensors.get(loraName(layer, module, 'B'))!
  const [r, inDim] = A.shape; const out = B.shape[0]; const s = loraScale(a.config)
  const W = new Float64Array(out * inDim)
  for (let p = 0; p < out; p++) for (let q = 0; q < inDim; q++) {
    let t = 0
    for (let c = 0; c < r; c++) t += B.data[p * r + c] * A.data[c * inDim + q]
    W[p * inDim + q] = s * t
  }
  return { W, out, in: inDim }
}

/**
 * Singular values of a dense m x n matrix by one-sided Jacobi (an independent float64 reference, descending).
 */
export function singularValues (W: Float64Array, m: number, n: number): number[] {
  const U = Float64Array.from(W) // columns are rotated until orthogonal
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0
    for (let i = 0; i < n - 1; i++) for (let j = i + 1; j < n; j++) {
      let a = 0; let b = 0; let c = 0
      for (let k = 0; k < m; k++) { const x = U[k * n + i]; const y = U[k * n + j]; a += x * x; b += y * y; c += x * y }
      if (Math.abs(c) <= 1e-15 * Math.sqrt(a * b)) continue
      off = Math.max(off, Math.abs(c) / Math.sqrt(a * b))
      const zeta = (b - a) / (2 * c)
      const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta))
      const cs = 1 / Math.sqrt(1 + t * t); const sn = cs * t
      for (let k = 0; k < m; k++) {
        const x = U[k * n + i]; const y = U[k * n + j]
        U[k * n + i] = cs * x - sn * y; U[k * n + j] = sn * x + cs * y
      }
    }
    if (off < 1e-14) break
  }
  const sv: number[] = []
  for (let j = 0; j < n; j++) { let s = 0; for (let k = 0; k < m; k++) s += U[k * n + j] ** 2; sv.push(Math.sqrt(s)) }
  return sv.sort((x, y) => y - x)
}
