// Factor space: every A and B tensor's delta against the global adapter, flattened (the paper's FedAvg space).
// One pass at construction measures each update's norm and, in the same read, whether it is finite.
import type { CombineSpec } from '../../protocol/aggregation-spec.ts'
import type { Adapter } from '../lora/adapter.ts'
import type { Tensor } from '../tensor.ts'
import type { DeltaSet } from './delta-set.ts'
import type { UpdateSpace } from './update-space.ts'
import { firstNonFinite, sumSquaresOfDifference } from './delta-set.ts'
import { deltaGram, orderStatisticPass, trimCount, weightedMeanInto } from './coordinate-stats.ts'
import { GlobalAdapterError } from './errors.ts'

export function factorSpace (adapters: readonly Adapter[], global: Adapter): UpdateSpace {
  const names = [...global.tensors.keys()]
  const base = names.map((n) => global.tensors.get(n)!.data)
  names.forEach((name, s) => {
    const k = firstNonFinite(base[s])
    if (k >= 0) throw new GlobalAdapterError(`global adapter: non-finite value ${base[s][k]} in ${name}[${k}]`)
  })
  const rows = adapters.map((a) => names.map((n) => a.tensors.get(n)!.data))
  const norms = new Float64Array(adapters.length)
  const nonFinite: (string | undefined)[] = adapters.map((_, i) => {
    let ss = 0
    for (let s = 0; s < names.length; s++) {
      const t = sumSquaresOfDifference(rows[i][s], base[s])
      if (!Number.isFinite(t)) {
        norms[i] = NaN
        const k = firstNonFinite(rows[i][s])
        return `non-finite value ${rows[i][s][k]} in ${names[s]}[${k}]`
      }
      ss += t
    }
    norms[i] = Math.sqrt(ss)
    return undefined
  })
  const subset = (members: readonly number[], scales: ArrayLike<number>): DeltaSet =>
    ({ base, rows: members.map((i) => rows[i]), scales: members.map((i) => scales[i]) })

  return {
    norms,
    nonFinite,
    gram: (members, scales) => deltaGram(subset(members, scales)),
    medianDots (members, scales) {
      const dots = new Float64Array(members.length)
      const sq = orderStatisticPass(subset(members, scales), { rule: 'median', dots })
      return { dots, centreNorm: Math.sqrt(sq) }
    },
    combine (members, scales, weights, rule: CombineSpec): Adapter {
      const out = base.map((b) => new Float32Array(b.length))
      const set = subset(members, scales)
      if (rule.kind === 'mean') weightedMeanInto(set, weights, out)
      else if (rule.kind === 'median') orderStatisticPass(set, { rule: 'median', out })
      else orderStatisticPass(set, { rule: 'trimmed', trim: trimCount(members.length, rule.beta), out })
      const tensors = new Map<string, Tensor>(names.map((n, s) => [n, { shape: [...global.tensors.get(n)!.shape], data: out[s] }]))
      return { config: global.config, tensors }
    }
  }
}
