// Each defence of the robust default against an attack crafted (sim/attacks.ts) to get through the rule without
// it: synthetic honest deltas (a shared direction + per-peer noise), 8 peers. "Error" is the aggregate's distance
// to the honest mean, as a share of the honest step.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { AggregationSpec } from '../../../protocol/aggregation-spec.ts'
import type { Adapter } from '../../../trainer/lora/adapter.ts'
import type { AggregationResult, ClientUpdate } from '../../../trainer/aggregate/types.ts'
import type { JobHistory } from '../../../trainer/aggregate/history.ts'
import type { ModelAttack } from '../../../sim/attacks.ts'
import { FEDAVG, ROBUST_DEFAULT } from '../../../protocol/aggregation-spec.ts'
import { buildAggregator } from '../../../trainer/aggregate/build-aggregator.ts'
import { DecisionKind } from '../../../trainer/aggregate/decision-kind.ts'
import { craft, flatDelta, hiddenDirection, withDelta } from '../../../sim/attacks.ts'
import { encodeAdapter } from '../../../node/adapter-codec.ts'
import { ctxFor, dist, flat, gaussian, norm, randomAdapter, rng, update } from './fixtures.ts'

/** The default as it was before the threat parameter (3x median bounds, trim floor(0.2 n), no memory). */
const V1: AggregationSpec = {
  space: 'factors', clip: { kind: 'median', multiple: 3 },
    filters: [{ kind: 'norm', multiple: 3, minMultiple: 0.1 }, { kind: 'cosine', maxDistance: 1 }],
  combine: { kind: 'trimmed-mean', beta: 0.2 }, allowMixedRanks: false
}
const without = (kind: string): AggregationSpec => ({ ...ROBUST_DEFAULT,
  filters: ROBUST_DEFAULT.filters.filter((f) => f.kind !== kind) })

interface Round { ups: ClientUpdate[], honestMean: Float64Array, step: number, global: Adapter }

/**
 * n peers, the last m hostile sending `attack` crafted against `target` (omniscient); honest cosine to the mean ~0.85.
 */
function round (seed: number, n: number, m: number, attack: ModelAttack | undefined, target: AggregationSpec,
  global?: Adapter, r = 1): Round {
  const rand = rng(seed); const g = gaussian(rand)
  const g0 = global ?? randomAdapter(rand, 4)
  const size = flat(g0).length
  const dir = Float64Array.from({ length: size }, () => g() * 0.05)
  const honest = Array.from({ length: n }, () => dir.map((v) => v + g() * 0.03))
  const hm = new Float64Array(size)
  for (const d of honest.slice(0, n - m)) for (let k = 0; k < size; k++) hm[k] += d[k] / (n - m)
  const deltas = attack === undefined
    ? honest
    : [...honest.slice(0, n - m), ...craft(attack, { known: honest, own: honest.slice(n - m), n, spec: target,
      hidden: hiddenDirection(size, 5), round: r, seed })]
  const ups = deltas.map((d, i) => update(i < n - m ? `h${i}` : `x${i}`, withDelta(g0, d)))
  return { ups, honestMean: hm, step: norm(hm), global: g0 }
}

const err = (res: AggregationResult, r: Round): number => dist(flatDelta(res.adapter, r.global), r.honestMean) / r.step
const hostile = (res: AggregationResult): typeof res.decisions => res.decisions.filter((d) => d.peer.startsWith('x'))
const benignOut = (res: AggregationResult): number => res.decisions.filter((d) => d.peer.startsWith('h') &&
  !d.included).length

test('threat trim: copies tuned to the previous default pull it; trimming ceil(f n) per side removes them', () => {
  for (const seed of [1, 2, 3]) {
    const r = round(seed, 8, 2, 'copies', V1)
    const before = err(buildAggregator(V1)(r.ups, ctxFor(r.global, 4)), r)
    const res = buildAggregator({ ...V1, f: 0.25 })(r.ups, ctxFor(r.global, 4))
    assert.ok(before > 0.3, `seed ${seed}: copies move the previous default by ${before.toFixed(3)} of the honest step`)
    assert.ok(err(res, r) < before / 2,
      `seed ${seed}: with f 0.25 the error is ${err(res, r).toFixed(3)} (was ${before.toFixed(3)})`)
    assert.match(res.summary, /trimmed mean \(2 per side\) of 8 of 8/)
  }
})

test('near-copy filter: 3 Sybil copies (more than the threat trims) are excluded; without the filter they pull', () => {
  const target = { ...without('duplicate'), clip: { kind: 'median', multiple: 3 } as const,
    filters: [{ kind: 'norm', multiple: 3 } as const, { kind: 'cosine', maxDistance: 1 } as const] }
  for (const seed of [1, 2]) {
    const r = round(seed, 8, 3, 'copies', target)
    const off = buildAggregator(target)(r.ups, ctxFor(r.global, 4))
    const on = buildAggregator({ ...target, filters: [{ kind: 'duplicate', maxCosine: 0.99 },
      ...target.filters] })(r.ups, ctxFor(r.global, 4))
    assert.ok(hostile(off).every((d) => d.included), 'the copies pass the rule without the filter')
    for (const d of hostile(on)) assert.equal(d.kind, DecisionKind.NearCopy, `${d.peer}: ${d.reason}`)
    assert.equal(benignOut(on), 0)
    assert.ok(err(on, r) < err(off, r) / 2, `error ${err(on, r).toFixed(3)} with, ${err(off, r).toFixed(3)} without`)
  }
})

test('spread clip: a boosted update at 2.9x the median norm passes a 3x bound; median + 3 spreads clips it', () => {
  const mean: AggregationSpec = { ...FEDAVG, clip: { kind: 'median', multiple: 3 } }
  const r = round(4, 8, 1, undefined, mean)
  const x = r.ups[7]!
  const boosted = flatDelta(x.adapter, r.global).map((v) => v * 2.9 * norm(r.honestMean) / norm(flatDelta(x.adapter,
    r.global)))
  r.ups[7] = update('x7', withDelta(r.global, boosted))
  const off = buildAggregator(mean)(r.ups, ctxFor(r.global, 4))
  const on = buildAggregator({ ...mean, clip: { kind: 'median', multiple: 3, mads: 3 } })(r.ups, ctxFor(r.global, 4))
  assert.equal(hostile(off)[0]!.kind, DecisionKind.Included)
  assert.equal(hostile(on)[0]!.kind, DecisionKind.Clipped)
  assert.match(hostile(on)[0]!.reason!, /median .* \+ 3 x spread/)
  assert.ok(on.decisions.filter((d) => d.peer.startsWith('h')).every((d) => d.kind === DecisionKind.Included),
    'honest norms untouched')
})

test('spread cosine bound: copies just inside cosine > 0 are excluded by median - 3 spreads, not before', () => {
  const target: AggregationSpec = { ...FEDAVG, filters: [{ kind: 'cosine', maxDistance: 1 }], f: 0.25 }
  for (const seed of [5, 6]) {
    const r = round(seed, 8, 2, 'copies', target)
    const off = buildAggregator(target)(r.ups, ctxFor(r.global, 4))
    const on = buildAggregator({ ...target, filters: [{ kind: 'cosine', maxDistance: 1, mads: 3 }] })(r.ups,
      ctxFor(r.global, 4))
    assert.ok(hostile(off).every((d) => d.included))
    for (const d of hostile(on)) assert.equal(d.kind, DecisionKind.CosineOutlier, `${d.peer}: ${d.reason}`)
    assert.equal(benignOut(on), 0)
    assert.ok(err(on, r) < 0.2 && err(off, r) > 1,
      `error ${err(on, r).toFixed(3)} with, ${err(off, r).toFixed(3)} without`)
  }
})

test('sample claims: under a threat a claim of 1e6 counts as the median claim', () => {
  const r = round(7, 8, 1, 'inflate', FEDAVG)
  r.ups[7] = { ...r.ups[7]!, samples: 1_000_000 }
  const plain = buildAggregator(FEDAVG)(r.ups, ctxFor(r.global, 4))
  const clamped = buildAggregator({ ...FEDAVG, f: 0.25 })(r.ups, ctxFor(r.global, 4))
  assert.ok(hostile(plain)[0]!.weight! > 0.99)
  assert.ok(Math.abs(hostile(clamped)[0]!.weight! - 1 / 8) < 1e-12)
  assert.ok(err(clamped, r) < err(plain, r) / 4)
})

/** Rounds of one job: the same honest direction each round (new noise), the hostile drift toward a fixed direction. */
function job (spec: AggregationSpec, target: AggregationSpec,
  rounds: number): { results: AggregationResult[], share: number } {
  let global = randomAdapter(rng(99), 4)
  const start = global
  const size = flat(global).length
  let history: JobHistory | undefined
  const results: AggregationResult[] = []
  for (let t = 1; t <= rounds; t++) {
    const r = round(10 + t, 8, 2, 'drift', target, global, t)
    const res = buildAggregator(spec)(r.ups, { ...ctxFor(global, 4), ...(history !== undefined ? { history } : {}) })
    results.push(res); history = res.history; global = res.adapter
  }
  const moved = flatDelta(global, start)
  const h = hiddenDirection(size, 5)
  return { results, share: Math.abs(moved.reduce((s, v, k) => s + v * h[k]!, 0)) / norm(moved) }
}

test('history: colluders drifting toward one hidden direction pass every single round; their agreeing residuals do not',
  () => {
  const off = job(without('history'), without('history'), 4)
  const on = job(ROBUST_DEFAULT, without('history'), 4)
  assert.ok(off.results.every((res) => hostile(res).every((d) => d.included)), 'drift passes each round without memory')
  for (const res of on.results.slice(1)) {
    for (const d of hostile(res)) assert.equal(d.kind, DecisionKind.HistoryColluder, `${d.peer}: ${d.reason}`)
  }
  assert.ok(on.results.every((res) => benignOut(res) === 0), 'no honest peer excluded')
  assert.ok(on.share < off.share / 2,
    `hidden-direction share ${on.share.toFixed(3)} with, ${off.share.toFixed(3)} without`)
})

test('the robust aggregate and its history are a deterministic function of the inputs, whatever the arrival order',
  () => {
  const r = round(8, 8, 2, 'drift', ROBUST_DEFAULT)
  const first = buildAggregator(ROBUST_DEFAULT)(r.ups, ctxFor(r.global, 4))
  const h = first.history!
  const again = (ups: ClientUpdate[]): AggregationResult => buildAggregator(ROBUST_DEFAULT)(ups,
    { ...ctxFor(r.global, 4), history: h })
  const a = again(r.ups)
  const b = again([...r.ups].reverse())
  assert.deepEqual(encodeAdapter(a.adapter), encodeAdapter(b.adapter))
  assert.deepEqual([...a.history!.entries()].sort(), [...b.history!.entries()].sort())
  assert.deepEqual(a.decisions.map((d) => d.kind), [...b.decisions].reverse().map((d) => d.kind))
})

test('specs the defences cannot run are refused up front', () => {
  const product: AggregationSpec = { ...FEDAVG, space: 'product',
    filters: [{ kind: 'history', maxCosine: 0.5, minRounds: 1 }] }
  assert.throws(() => buildAggregator(product), /history filter sketches flat factor deltas/)
  assert.throws(() => buildAggregator({ ...ROBUST_DEFAULT, f: 0.5 }), /threat f 0.5 must be in \[0, 0.5\)/)
  assert.throws(() => buildAggregator({ ...FEDAVG, filters: [{ kind: 'duplicate', maxCosine: 0 }] }),
    /duplicate filter maxCosine 0 must be in \(0, 1\]/)
})

const historyAt = (maxCosine: number): AggregationSpec => ({ ...ROBUST_DEFAULT,
  filters: ROBUST_DEFAULT.filters.map((f) => f.kind === 'history' ? { ...f, maxCosine } : f) })

test('history threshold: a drift spread thin enough for the earlier 0.5 passes it and is caught by the default\'s ' +
  '0.3; spread for 0.3 it moves the model less', () => {
  const loose = historyAt(0.5)
  assert.ok(ROBUST_DEFAULT.filters.some((f) => f.kind === 'history' && f.maxCosine === 0.3))
  const passes = job(loose, loose, 5)
  const caught = job(ROBUST_DEFAULT, loose, 5)
  const adapted = job(ROBUST_DEFAULT, ROBUST_DEFAULT, 5)
  assert.ok(passes.results.every((res) => hostile(res).every((d) => d.included)), 'the drift passes 0.5 in every round')
  const out = caught.results.map((res) => hostile(res).every((d) => d.kind === DecisionKind.HistoryColluder))
  assert.ok(out.slice(2).every((x) => x), `caught at 0.3 from round 3 on: ${JSON.stringify(out)}`)
  for (const j of [passes, caught, adapted]) assert.ok(j.results.every((res) => benignOut(res) === 0))
  assert.ok(caught.share < passes.share * 0.75 && adapted.share < passes.share * 0.8,
    `hidden-direction share: ${passes.share.toFixed(3)} passing 0.5, ${caught.share.toFixed(3)} caught at 0.3, ` +
    `${adapted.share.toFixed(3)} spread thin for 0.3`)
})
