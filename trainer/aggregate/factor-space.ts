// Factor space: every A and B tensor's delta against the global adapter, flattened (the paper's FedAvg space).
// One pass at construction measures each update's norm and, in the same read, whether it is finite.
import type { CombineSpec } from '../../protocol/aggregation-spec.ts'
import type { Adapter } from '../lora/adapter.ts'
import type { Tensor } from '../tensor.ts'
import type { DeltaSet } from './delta-set.ts'
import type { UpdateSpace } from './update-space.ts'
import { firstNonFinite, sumSquaresOfDifference } from './delta-set.ts'
import type { OrderRule } from './coordinate-stats.ts'
import { deltaGram, orderStatisticPass, trimCount, weightedMeanInto } from './coordinate-stats.ts'
import { GlobalAdapterError } from './errors.ts'
import { SKETCH_DIM, addSketch } from './history.ts'

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
  const orderRule = (rule: CombineSpec, m: number): OrderRule | undefined =>
    rule.kind === 'median' ? { rule: 'median' } : rule.kind === 'trimmed-mean'
      ? { rule: 'trimmed', trim: trimCount(m, rule.beta) } : undefined
  const keyOf = (members: readonly number[], scales: ArrayLike<number>, rule: CombineSpec): string =>
    JSON.stringify([members, members.map((i) => scales[i]), rule])
  // the cosine filter's median pass also computes the combine statistic of the same members; when the filter
  // drops nobody (the common round) the combine step reuses it instead of ranking every coordinate again
  let speculative: { key: string, out: Float32Array[] } | undefined

  return {
    norms,
    nonFinite,
    gram: (members, scales) => deltaGram(subset(members, scales)),
    sketch (i, scale) {
      const acc = new Float64Array(SKETCH_DIM)
      addSketch(acc, rows[i], base, scale)
      return acc
    },
    medianDots (members, scales, next?: CombineSpec) {
      const dots = new Float64Array(members.length)
      const stat = next !== undefined ? orderRule(next, members.length) : undefined
      const out = stat !== undefined ? base.map((b) => new Float32Array(b.length)) : undefined
      const sq = orderStatisticPass(subset(members, scales),
        { stat: { rule: 'median' }, dots, second: stat !== undefined ? { stat, out: out! } : undefined })
      speculative = out !== undefined ? { key: keyOf(members, scales, next!), out } : undefined
      return { dots, centreNorm: Math.sqrt(sq) }
    },
    combine (members, scales, weights, rule: CombineSpec): Adapter {
      let out: Float32Array[]
      if (speculative !== undefined && speculative.key === keyOf(members, scales, rule)) {
        out = speculative.out
      } else {
        out = base.map((b) => new Float32Array(b.length))
        const set = subset(members, scales)
        const stat = orderRule(rule, members.length)
        if (stat === undefined) weightedMeanInto(set, weights, out)
        else orderStatisticPass(set, { stat, out })
      }
      speculative = undefined
      const tensors = new Map<string, Tensor>(names.map((n, s) => [n,
        { shape: [...global.tensors.get(n)!.shape], data: out[s] }]))
      return { config: global.config, tensors }
    }
  }
}
