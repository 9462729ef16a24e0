// npm run bench -- aggregate [updates]: 10 updates of LLaMA-7B rank-8 size (all 7 linear modules of 32 layers,
// ~20M parameters each) through each rule. Prints one JSON line; each figure is one timed run after a JIT
// warm-up on a tiny adapter, and includes validation (the norm/finiteness pass) as a real round would.
// pipelineMs is ROBUST_DEFAULT on an honest round; pipelineAttackedMs the same with 2 sign-flipping peers.
import type { AggregationSpec } from '../protocol/aggregation-spec.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { Tensor } from '../trainer/tensor.ts'
import type { ClientUpdate } from '../trainer/aggregate/types.ts'
import { FEDAVG, ROBUST_DEFAULT } from '../protocol/aggregation-spec.ts'
import { DEFAULT_LORA, loraName } from '../trainer/lora/adapter.ts'
import { LINEAR_MODULES } from '../trainer/model/config.ts'
import { buildAggregator } from '../trainer/aggregate/build-aggregator.ts'

const DIM = 4096; const HIDDEN = 11008; const LAYERS = 32; const R = 8
const n = Number(process.argv[2] ?? 10)

function shapes (dim: number, hidden: number, layers: number): [string, number[]][] {
  const out: [string, number[]][] = []
  for (let l = 0; l < layers; l++) {
    for (const m of LINEAR_MODULES) {
      const [o, i] = m === 'gate_proj' || m === 'up_proj' ? [hidden, dim] : m === 'down_proj' ? [dim, hidden]
        : [dim, dim]
      out.push([loraName(l, m, 'A'), [R, i]], [loraName(l, m, 'B'), [o, R]])
    }
  }
  return out
}

// cheap deterministic noise: xorshift32 in [-1, 1)
function noise (seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 2147483648 - 1 }
}

function makeRound (dim: number, hidden: number, layers: number,
  count: number): { global: Adapter, updates: ClientUpdate[] } {
  const sh = shapes(dim, hidden, layers)
  const g = noise(1)
  const global: Adapter = { config: DEFAULT_LORA, tensors: new Map<string, Tensor>(sh.map(([name, s]) => [name,
    { shape: s, data: Float32Array.from({ length: s[0] * s[1] }, () => 0.02 * g()) }])) }
  const updates: ClientUpdate[] = []
  for (let p = 0; p < count; p++) {
    const e = noise(100 + p); const shared = noise(7)
    const tensors = new Map<string, Tensor>()
    for (const [name, t] of global.tensors) {
      const d = new Float32Array(t.data.length)
      for (let k = 0; k < d.length; k++) d[k] = t.data[k] + 0.002 * shared() + 0.001 * e()
      tensors.set(name, { shape: t.shape, data: d })
    }
    updates.push({ peer: `peer${p}`, samples: 100 + p, round: 1, baseHash: 'h',
      adapter: { config: DEFAULT_LORA, tensors } })
  }
  return { global, updates }
}

const RULES: [string, AggregationSpec][] = [
  ['meanMs', FEDAVG],
  ['medianMs', { ...FEDAVG, combine: { kind: 'median' } }],
  ['trimmedMeanMs', { ...FEDAVG, combine: { kind: 'trimmed-mean', beta: 0.2 } }],
  ['krumMs', { ...FEDAVG, filters: [{ kind: 'krum', f: 2, keep: 6 }] }],
  ['svdExactMs', { ...FEDAVG, space: 'product' }],
  ['pipelineMs', ROBUST_DEFAULT]
]

const gc = (globalThis as { gc?: () => void }).gc
const tiny = makeRound(64, 96, 2, n)
for (const [, spec] of RULES) buildAggregator(spec)(tiny.updates, { round: 1, baseHash: 'h', global: tiny.global })
const { global, updates } = makeRound(DIM, HIDDEN, LAYERS, n)
const params = [...global.tensors.values()].reduce((s, t) => s + t.data.length, 0)
const figures: Record<string, number> = {}
for (const [key, spec] of RULES) {
  gc?.()
  const t0 = performance.now()
  const res = buildAggregator(spec)(updates, { round: 1, baseHash: 'h', global })
  figures[key] = Math.round(performance.now() - t0)
  const kept = res.decisions.filter((d) => d.included).length
  console.error(`${key}: ${figures[key]} ms, ${kept}/${n} included (${res.summary})`)
}
// an attacked round: 2 peers sign-flip their deltas (in place: u = 2g - u), the cosine filter drops them, and the
// combine must rank every coordinate again (the common round above reuses the cosine pass's statistic)
for (const u of updates.slice(0, 2)) {
  for (const [name, t] of u.adapter.tensors) {
    const g = global.tensors.get(name)!.data
    for (let k = 0; k < t.data.length; k++) t.data[k] = 2 * g[k] - t.data[k]
  }
}
gc?.()
const t0 = performance.now()
const attacked = buildAggregator(ROBUST_DEFAULT)(updates, { round: 1, baseHash: 'h', global })
figures.pipelineAttackedMs = Math.round(performance.now() - t0)
console.error(`pipelineAttackedMs: ${figures.pipelineAttackedMs} ms ` +
  `(${attacked.summary}; ${attacked.decisions.filter((d) => !d.included).map((d) => d.reason).join('; ')})`)
const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024)
console.log(JSON.stringify({ bench: 'aggregate', params, updates: n, ...figures, peakRssMB }))
