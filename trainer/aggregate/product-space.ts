// Product space: each module's update is ΔW = (alpha/r)·B·A - (alpha_g/r_g)·B_g·A_g ([out, in], never built).
// For each module we read the factors once into the Gram matrices of the stacked factors [B_1 .. B_n, B_g] and
// [A_1; ..; A_n; A_g]. Every inner product of two products is then a sum over Gram blocks,
//   <B_i A_i, B_j A_j> = sum_{a in i, b in j} GB[a,b]·GA[a,b],
// which gives exact norms, Krum distances and clip factors; the mean is re-factored by the stacking scheme.
// Peers may hold different ranks: the blocks simply have different widths.
import type { CombineSpec } from '../../protocol/aggregation-spec.ts'
import type { Adapter } from '../lora/adapter.ts'
import type { Tensor } from '../tensor.ts'
import type { UpdateSpace } from './update-space.ts'
import { loraScale } from '../lora/adapter.ts'
import { firstNonFinite } from './delta-set.ts'
import { gramOfColumns, gramOfRows, offsets } from './gram-kernel.ts'
import { refactorStacked } from './low-rank-refactor.ts'
import { AggregationSpecError, GlobalAdapterError } from './errors.ts'

interface ModuleGrams {
  readonly nameA: string
  readonly nameB: string
  readonly out: number
  readonly in: number
  readonly ranks: readonly number[] // per block: updates then the global
  readonly GB: Float64Array
  readonly GA: Float64Array
}

/** The LoRA modules of an adapter: pairs of PEFT names (…lora_A.weight, …lora_B.weight). */
export function loraModules (global: Adapter): { nameA: string, nameB: string }[] {
  const out: { nameA: string, nameB: string }[] = []
  for (const name of global.tensors.keys()) {
    if (name.endsWith('.lora_A.weight')) {
      const nameB = name.slice(0, -'.lora_A.weight'.length) + '.lora_B.weight'
      if (!global.tensors.has(nameB)) throw new GlobalAdapterError(`global adapter: ${name} has no matching ${nameB}`)
      out.push({ nameA: name, nameB })
    } else if (!name.endsWith('.lora_B.weight')) {
      throw new GlobalAdapterError(`global adapter: ${name} is not a LoRA factor (product space averages B·A only)`)
    }
  }
  if (out.length * 2 !== global.tensors.size) {
    throw new GlobalAdapterError('global adapter: some lora_B tensors have no lora_A')
  }
  return out
}

export function productSpace (adapters: readonly Adapter[], global: Adapter): UpdateSpace {
  const n = adapters.length
  const all = [...adapters, global] // block n is the global adapter
  const scales = all.map((a) => loraScale(a.config))
  const modules: ModuleGrams[] = loraModules(global).map(({ nameA, nameB }) => {
    const [out, r] = global.tensors.get(nameB)!.shape
    const inDim = global.tensors.get(nameA)!.shape[1]
    if (global.tensors.get(nameA)!.shape[0] !== r) {
      throw new GlobalAdapterError(`global adapter: ${nameA} and ${nameB} disagree on the rank`)
    }
    const ranks = all.map((a) => a.tensors.get(nameA)!.shape[0])
    const GB = gramOfColumns(all.map((a) => a.tensors.get(nameB)!.data), ranks, out)
    const GA = gramOfRows(all.map((a) => a.tensors.get(nameA)!.data), ranks, inDim)
    return { nameA, nameB, out, in: inDim, ranks, GB, GA }
  })
  // a non-finite value shows on the diagonal of its block (sum of squares), and spoils only its own rows/columns
  const nonFinite: (string | undefined)[] = new Array(n).fill(undefined)
  for (const m of modules) {
    const offs = offsets(m.ranks); const K = offs[n] + m.ranks[n]
    for (let b = 0; b <= n; b++) {
      for (let c = offs[b]; c < offs[b] + m.ranks[b]; c++) {
        if (Number.isFinite(m.GB[c * K + c]) && Number.isFinite(m.GA[c * K + c])) continue
        const where = describeNonFinite(all[b], m.nameA, m.nameB)
        if (b === n) throw new GlobalAdapterError(`global adapter: ${where}`)
        nonFinite[b] ??= where
        break
      }
    }
  }
  // P[i][j] = sum over modules of <s_i B_i A_i, s_j B_j A_j>, blocks 0..n (n = global)
  const N = n + 1
  const P = new Float64Array(N * N)
  for (const m of modules) {
    const offs = offsets(m.ranks); const K = offs[n] + m.ranks[n]
    for (let i = 0; i < N; i++) {
      if (i < n && nonFinite[i] !== undefined) continue
      for (let j = i; j < N; j++) {
        if (j < n && nonFinite[j] !== undefined) continue
        let s = 0
        for (let a = offs[i]; a < offs[i] + m.ranks[i]; a++) {
          for (let b = offs[j]; b < offs[j] + m.ranks[j]; b++) s += m.GB[a * K + b] * m.GA[a * K + b]
        }
        P[i * N + j] += scales[i] * scales[j] * s
      }
    }
  }
  for (let i = 0; i < N; i++) for (let j = 0; j < i; j++) P[i * N + j] = P[j * N + i]
  // <ΔW_i, ΔW_j> with ΔW_i = W_i - W_g
  const deltaDot = (i: number, j: number): number => P[i * N + j] - P[i * N + n] - P[n * N + j] + P[n * N + n]
  const norms = Float64Array.from({ length: n }, (_, i) => nonFinite[i] !== undefined ? NaN
    : Math.sqrt(Math.max(0, deltaDot(i, i))))

  return {
    norms,
    nonFinite,
    gram (members, sc) {
      const m = members.length
      const g = new Float64Array(m * m)
      for (let a = 0; a < m; a++) {
        for (let b = 0; b < m; b++) g[a * m + b] = sc[members[a]] * sc[members[b]] * deltaDot(members[a], members[b])
      }
      return g
    },
    combine (members, sc, weights, rule: CombineSpec): Adapter {
      if (rule.kind !== 'mean') {
        throw new AggregationSpecError(`product space supports only the 'mean' combine, not '${rule.kind}'`)
      }
      // W_g + sum_i w_i c_i (W_i - W_g) = sum_i (w_i c_i) W_i + (1 - sum_i w_i c_i) W_g
      const coef = members.map((i, t) => weights[t] * sc[i])
      const coefGlobal = 1 - coef.reduce((a, b) => a + b, 0)
      const blocks = [...members]; const blockCoef = [...coef]
      if (Math.abs(coefGlobal) > 1e-12) { blocks.push(n); blockCoef.push(coefGlobal) }
      const rOut = global.config.r; const sOut = loraScale(global.config)
      const tensors = new Map<string, Tensor>()
      for (const mod of modules) {
        const offs = offsets(mod.ranks); const K = offs[n] + mod.ranks[n]
        const idx: number[] = []
        for (const b of blocks) for (let c = 0; c < mod.ranks[b]; c++) idx.push(offs[b] + c)
        const sub = (G: Float64Array): Float64Array => {
          const k = idx.length; const o = new Float64Array(k * k)
          for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) o[a * k + b] = G[idx[a] * K + idx[b]]
          return o
        }
        const { B, A } = refactorStacked({
          B: blocks.map((b) => all[b].tensors.get(mod.nameB)!.data),
          A: blocks.map((b) => all[b].tensors.get(mod.nameA)!.data),
          ranks: blocks.map((b) => mod.ranks[b]),
          coefs: blocks.map((b, t) => blockCoef[t] * scales[b]),
          out: mod.out,
          in: mod.in,
          GB: sub(mod.GB),
          GA: sub(mod.GA)
        }, { rank: rOut, scale: sOut, fallbackA: global.tensors.get(mod.nameA)!.data })
        tensors.set(mod.nameA, { shape: [rOut, mod.in], data: A })
        tensors.set(mod.nameB, { shape: [mod.out, rOut], data: B })
      }
      // keep the global's tensor order
      return { config: global.config, tensors: new Map([...global.tensors.keys()].map((k) => [k, tensors.get(k)!])) }
    }
  }
}

function describeNonFinite (a: Adapter, nameA: string, nameB: string): string {
  for (const name of [nameA, nameB]) {
    const data = a.tensors.get(name)!.data
    const k = firstNonFinite(data)
    if (k >= 0) return `non-finite value ${data[k]} in ${name}[${k}]`
  }
  return `non-finite products in ${nameA.slice(0, -'.lora_A.weight'.length)} (values too large)`
}
