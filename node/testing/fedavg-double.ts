// TEST DOUBLE: the smallest sample-weighted FedAvg (the real rules live in trainer/aggregate/).
import type { AggregateFn } from '../../trainer/aggregate/types.ts'
import type { Tensor } from '../../trainer/tensor.ts'

export const fedAvgDouble: AggregateFn = (updates, ctx) => {
  const total = updates.reduce((s, u) => s + u.samples, 0)
  const tensors = new Map<string, Tensor>()
  for (const [name, g] of ctx.global.tensors) {
    const out = new Float32Array(g.data.length)
    for (const u of updates) {
      const w = u.samples / total
      const d = u.adapter.tensors.get(name)!.data
      for (let i = 0; i < out.length; i++) out[i]! += w * d[i]!
    }
    tensors.set(name, { shape: [...g.shape], data: out })
  }
  return {
    adapter: { config: ctx.global.config, tensors },
    decisions: updates.map((u) => ({ peer: u.peer, included: true, weight: u.samples / total }))
  }
}
