// validate -> clip -> filter -> combine, over whichever space the spec names. Each stage narrows the set of
// members (indices of updates still in) and records why the others left; nothing here touches tensors directly.
import type { AggregationSpec } from '../../protocol/aggregation-spec.ts'
import type { AggregationContext, AggregationResult, ClientUpdate, Decision } from './types.ts'
import type { UpdateSpace } from './update-space.ts'
import type { Exclusion } from './robust-rules.ts'
import { DecisionKind, fmt } from './decision-kind.ts'
import { validateStructure } from './validate.ts'
import { clipScales, cosineOutliers, krumOutliers, median, nearCopies, normOutliers } from './robust-rules.ts'
import type { CombineSpec } from '../../protocol/aggregation-spec.ts'
import { byzantineCount } from '../../protocol/aggregation-spec.ts'
import type { JobHistory } from './history.ts'
import { trimCount } from './coordinate-stats.ts'
import { SKETCH_DIM, addSketch, historyOutliers, nextHistory } from './history.ts'
import { factorSpace } from './factor-space.ts'
import { productSpace } from './product-space.ts'
import { AggregationSpecError } from './errors.ts'

type Outcome = { kind: DecisionKind, reason: string }

export function runPipeline (spec: AggregationSpec, arrived: readonly ClientUpdate[],
  ctx: AggregationContext): AggregationResult {
  // computed in a fixed order (by peer id, stable), so float sums, and so the new global's hash and the next
  // election, do not depend on the order in which updates happened to arrive; decisions keep arrival order
  const order = arrived.map((_, i) => i).sort((a, b) => arrived[a].peer < arrived[b].peer ? -1
    : arrived[a].peer > arrived[b].peer ? 1 : a - b)
  const res = runOrdered(spec, order.map((i) => arrived[i]), ctx)
  const decisions: Decision[] = new Array(arrived.length)
  order.forEach((i, k) => { decisions[i] = res.decisions[k] })
  return { ...res, decisions }
}

function runOrdered (spec: AggregationSpec, updates: readonly ClientUpdate[],
  ctx: AggregationContext): AggregationResult {
  const n = updates.length
  const outcome: (Outcome | undefined)[] = new Array(n).fill(undefined)
  // validate: structure first (cheap), one update per peer
  const seen = new Set<string>()
  const structural: number[] = []
  updates.forEach((u, i) => {
    if (seen.has(u.peer)) {
      outcome[i] = { kind: DecisionKind.Duplicate, reason: `second update from ${u.peer} this round` }
      return
    }
    seen.add(u.peer)
    const v = validateStructure(u, ctx, { mixedRanks: spec.allowMixedRanks })
    if (v.valid) structural.push(i)
    else outcome[i] = { kind: v.kind, reason: v.reason }
  })
  if (structural.length === 0) return unchanged(updates, ctx, outcome, 'no update passed validation')
  // validate: values (the space's first read measures norms and finiteness together)
  const space: UpdateSpace = (spec.space === 'product' ? productSpace
    : factorSpace)(structural.map((i) => updates[i].adapter), ctx.global)
  let members: number[] = [] // indices into `structural` / the space
  structural.forEach((u, s) => {
    const bad = space.nonFinite[s]
    if (bad !== undefined) outcome[u] = { kind: DecisionKind.NonFinite, reason: bad }
    else members.push(s)
  })
  if (members.length === 0) return unchanged(updates, ctx, outcome, 'no update passed validation')
  // clip: bound judged on the norms as sent
  const clip = clipScales(members.map((s) => space.norms[s]), spec.clip)
  const scales = new Float64Array(structural.length).fill(1)
  const clipReason: (string | undefined)[] = new Array(structural.length).fill(undefined)
  members.forEach((s, t) => { scales[s] = clip.scales[t]; clipReason[s] = clip.reasons[t] })
  // filter: outliers are judged against the majority, so they need at least 3 updates. Of two that
  // disagree strongly in size, neither can be trusted (either may be the attacker): keep the global.
  if (spec.filters.length > 0 && members.length === 2) {
    const [a, b] = members.map((s) => space.norms[s])
    const limit = spec.filters.find((f) => f.kind === 'norm')?.multiple ?? 3
    const g = space.gram(members, scales) // 2x2 inner products of the (clipped) deltas
    const cos = g[1] / Math.sqrt(g[0] * g[3])
    const apart = Math.max(a, b) > limit * Math.min(a, b)
    if (apart || cos < 0) {
      const how = apart ? `norms ${fmt(a)} and ${fmt(b)}, more than ${limit}x apart`
        : `opposite directions, cosine ${fmt(cos)}`
      const reason = `2 updates disagree (${how}): too few to tell which is the outlier`
      for (const s of members) outcome[structural[s]] = { kind: DecisionKind.Undecidable, reason }
      return unchanged(updates, ctx, outcome, 'two disagreeing updates')
    }
  }
  const valid = [...members] // passed validation: their residuals go into the job's history
  const peerOf = (s: number): string => updates[structural[s]].peer
  for (const f of members.length < 3 ? [] : spec.filters) {
    let excl: Exclusion[]
    if (f.kind === 'duplicate') {
      excl = nearCopies(space.gram(members, scales), members.length, f.maxCosine, members.map(peerOf))
    } else if (f.kind === 'history') {
      excl = historyOutliers(members.map(peerOf), ctx.history, f.maxCosine, f.minRounds)
    } else if (f.kind === 'norm') {
      excl = normOutliers(members.map((s) => space.norms[s]), f)
    } else if (f.kind === 'cosine') {
      if (space.medianDots === undefined) {
        throw new AggregationSpecError('the cosine filter needs a coordinate-wise median (factor space)')
      }
      const { dots, centreNorm } = space.medianDots(members, scales,
        effectiveCombine(spec.combine, members.length, spec.f))
      excl = cosineOutliers(dots, members.map((s) => space.norms[s] * scales[s]), centreNorm, f)
    } else {
      const kf = { ...f, f: Math.max(f.f, byzantineCount(members.length, spec.f)) }
      excl = krumOutliers(space.gram(members, scales), members.length, kf, members.map(peerOf))
    }
    const out = new Set<number>()
    for (const e of excl) {
      out.add(e.index)
      outcome[structural[members[e.index]]] = { kind: e.kind, reason: e.reason }
    }
    members = members.filter((_, t) => !out.has(t))
    if (members.length === 0) return unchanged(updates, ctx, outcome, `every update was filtered out (${f.kind})`)
  }
  // combine: sample-weighted for the mean, equal weights for the order statistics. Under a threat (f > 0) a claim
  // counts for at most the round's median claim: one peer claiming 1e6 samples would otherwise be the mean.
  const claims = members.map((s) => updates[structural[s]].samples)
  const cap = (spec.f ?? 0) > 0 ? median(claims) : Infinity
  const samples = claims.map((x) => Math.min(x, cap))
  const total = samples.reduce((a, b) => a + b, 0)
  const weights = spec.combine.kind === 'mean' ? samples.map((x) => x / total) : samples.map(() => 1 / members.length)
  const combine = effectiveCombine(spec.combine, members.length, spec.f)
  const adapter = space.combine(members, scales, weights, combine)
  const history = spec.filters.some((f) => f.kind === 'history')
    ? historyAfter(space, valid, scales, peerOf, adapter, ctx) : undefined
  const memberOf = new Map(members.map((s, t) => [structural[s], t]))
  const decisions: Decision[] = updates.map((u, i) => {
    const t = memberOf.get(i)
    if (t !== undefined) {
      const w = weights[t]
      const clipped = clipReason[members[t]]
      return clipped !== undefined
        ? { peer: u.peer, included: true, kind: DecisionKind.Clipped, reason: clipped, weight: w }
        : { peer: u.peer, included: true, kind: DecisionKind.Included, weight: w }
    }
    const o = outcome[i]!
    return { peer: u.peer, included: false, kind: o.kind, reason: o.reason }
  })
  const rule = combine.kind === 'trimmed-mean' ? `trimmed mean (${trimText(members.length, combine.beta)} per side)`
    : combine.kind
  const summary = `${rule} of ${members.length} of ${n} updates in ${spec.space} space (median ` +
    `norm ${fmt(medianOf(space.norms, members))})`
  return { adapter, decisions, unchanged: false, summary, ...(history !== undefined ? { history } : {}) }
}

/** The combine rule with its trim raised to the threat: at least ceil(f·m) values dropped at each end. */
function effectiveCombine (c: CombineSpec, m: number, f: number | undefined): CombineSpec {
  if (c.kind !== 'trimmed-mean') return c
  const b = byzantineCount(m, f)
  return b / m > c.beta ? { kind: 'trimmed-mean', beta: b / m } : c
}

function trimText (m: number, beta: number): string {
  return String(trimCount(m, beta))
}

/** Each valid update's residual against the aggregate step, added to the job's history (factor space only). */
function historyAfter (space: UpdateSpace, valid: readonly number[], scales: Float64Array,
  peerOf: (s: number) => string,
  adapter: AggregationResult['adapter'], ctx: AggregationContext): JobHistory | undefined {
  if (space.sketch === undefined) return undefined
  const names = [...ctx.global.tensors.keys()]
  const step = new Float64Array(SKETCH_DIM)
  addSketch(step, names.map((n) => adapter.tensors.get(n)!.data), names.map((n) => ctx.global.tensors.get(n)!.data), 1)
  const sent = new Map(valid.map((s) => [peerOf(s), space.sketch!(s, scales[s])]))
  return nextHistory(ctx.history, sent, step, ctx.round)
}

function medianOf (norms: Float64Array, members: readonly number[]): number {
  const a = Float64Array.from(members, (s) => norms[s]).sort()
  const m = a.length
  return (m & 1) === 1 ? a[m >> 1] : 0.5 * (a[m / 2 - 1] + a[m / 2])
}

function unchanged (updates: readonly ClientUpdate[], ctx: AggregationContext,
  outcome: readonly (Outcome | undefined)[], why: string): AggregationResult {
  const decisions: Decision[] = updates.map((u, i) => ({ peer: u.peer, included: false, kind: outcome[i]!.kind,
    reason: outcome[i]!.reason }))
  const summary = updates.length === 0 ? 'no updates arrived; global adapter kept unchanged'
    : `${why}; global adapter kept unchanged`
  return { adapter: ctx.global, decisions, unchanged: true, summary }
}
