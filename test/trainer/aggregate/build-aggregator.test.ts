import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { AggregationSpec } from '../../../protocol/aggregation-spec.ts'
import type { Adapter } from '../../../trainer/lora/adapter.ts'
import { FEDAVG, ROBUST_DEFAULT } from '../../../protocol/aggregation-spec.ts'
import { loraName } from '../../../trainer/lora/adapter.ts'
import { buildAggregator, checkAggregationSpec } from '../../../trainer/aggregate/build-aggregator.ts'
import { AggregationSpecError } from '../../../trainer/aggregate/errors.ts'
import { DecisionKind } from '../../../trainer/aggregate/decision-kind.ts'
import { BASE, ctxFor, dist, flat, fromFlat, norm, randomAdapter, rng, update } from './fixtures.ts'

const MEDIAN: AggregationSpec = { ...FEDAVG, combine: { kind: 'median' } }
const TRIMMED: AggregationSpec = { ...FEDAVG, combine: { kind: 'trimmed-mean', beta: 0.2 } }
const KRUM: AggregationSpec = { ...FEDAVG, filters: [{ kind: 'krum', f: 1, keep: 2 }] }
const PRODUCT: AggregationSpec = { ...FEDAVG, space: 'product' }
const ALL: [string, AggregationSpec][] = [['fedavg', FEDAVG], ['robust', ROBUST_DEFAULT], ['median', MEDIAN],
  ['trimmed', TRIMMED], ['krum', KRUM], ['product', PRODUCT]]

test('FedAvg averages A and B separately, weighted by samples (hand-computed)', () => {
  const rand = rng(1)
  const global = randomAdapter(rand, 2)
  const g = flat(global)
  const x = g.map((v) => v + 1); const y = g.map((v) => v - 3)
  const res = buildAggregator(FEDAVG)([update('x', fromFlat(global, x), 30), update('y', fromFlat(global, y), 10)],
    ctxFor(global))
  // 0.75 * (+1) + 0.25 * (-3) = 0
  assert.ok(dist(flat(res.adapter), g) < 1e-5)
  assert.deepEqual(res.decisions.map((d) => [d.peer, d.included, d.kind, d.weight]),
    [['x', true, 'included', 0.75], ['y', true, 'included', 0.25]])
  assert.equal(res.unchanged, false)
  assert.match(res.summary, /mean of 2 of 2 updates in factors space/)
})

test('a single update aggregates to itself under every rule', () => {
  const rand = rng(2)
  const global = randomAdapter(rand, 2)
  const one = randomAdapter(rand, 2)
  for (const [name, spec] of ALL) {
    const res = buildAggregator(spec)([update('solo', one, 7)], ctxFor(global))
    assert.equal(res.decisions[0].included, true, name)
    if (spec.space === 'factors') {
      assert.ok(dist(flat(res.adapter), flat(one)) < 1e-5, name)
    }
  }
})

test('permutation invariance: the order of arrival does not change the result', () => {
  const rand = rng(3)
  const global = randomAdapter(rand, 2)
  const peers = Array.from({ length: 7 }, () => randomAdapter(rand, 2))
  // one outlier, so filters act
  peers[6] = fromFlat(global, flat(global).map((v, k) => v + (flat(peers[6])[k] - v) * 50))
  const ups = peers.map((p, i) => update(`peer${i}`, p, 10 + i))
  const order = [4, 6, 0, 2, 5, 1, 3]
  for (const [name, spec] of ALL) {
    const a = buildAggregator(spec)(ups, ctxFor(global))
    const b = buildAggregator(spec)(order.map((i) => ups[i]), ctxFor(global))
    assert.ok(dist(flat(a.adapter), flat(b.adapter)) < 1e-5 * (1 + norm(flat(a.adapter))), name)
    const byPeer = (r: typeof a): string => JSON.stringify([...r.decisions].sort((p, q) => p.peer < q.peer ? -1 : 1)
      .map((d) => [d.peer, d.kind, d.weight?.toFixed(9)]))
    assert.equal(byPeer(a), byPeer(b), name)
  }
})

test('weights are respected: a peer with more samples pulls the mean closer', () => {
  const rand = rng(4)
  const global = randomAdapter(rand, 2)
  const a = randomAdapter(rand, 2); const b = randomAdapter(rand, 2)
  const res = buildAggregator(FEDAVG)([update('a', a, 900), update('b', b, 100)], ctxFor(global))
  const want = flat(a).map((v, k) => 0.9 * v + 0.1 * flat(b)[k])
  assert.ok(dist(flat(res.adapter), want) < 1e-5)
  // order statistics are unweighted: the weight is reported as equal
  const med = buildAggregator(MEDIAN)([update('a', a, 900), update('b', b, 100)], ctxFor(global))
  assert.deepEqual(med.decisions.map((d) => d.weight), [0.5, 0.5])
})

test('validation: every reason is specific, and FedAvg validates too', () => {
  const rand = rng(5)
  const global = randomAdapter(rand, 2)
  const ok = randomAdapter(rand, 2)
  const nan = randomAdapter(rand, 2); nan.tensors.get(loraName(0, 'q_proj', 'A'))!.data[3] = NaN
  const inf = randomAdapter(rand, 2); inf.tensors.get(loraName(1, 'down_proj', 'B'))!.data[0] = -Infinity
  const missing: Adapter = { config: ok.config, tensors: new Map([...ok.tensors].slice(1)) }
  const extra: Adapter = { config: ok.config, tensors: new Map([...ok.tensors,
    ['base_model.model.lm_head.lora_A.weight', { shape: [2, 2], data: new Float32Array(4) }]]) }
  const wrongShape: Adapter = { config: ok.config, tensors: new Map([...ok.tensors]
    .map(([n, t], i) => [n, i === 0 ? { shape: [2, 11], data: new Float32Array(22) } : t])) }
  const lying: Adapter = { config: ok.config, tensors: new Map([...ok.tensors]
    .map(([n, t], i) => [n, i === 0 ? { shape: t.shape, data: new Float32Array(3) } : t])) }
  const rank4 = randomAdapter(rand, 4)
  const ups = [
    update('ok', ok),
    update('stale', ok, 100, 3),
    update('future', ok, 100, 5),
    update('base', ok, 100, 4, 'f00d'.repeat(16)),
    update('zero', ok, 0),
    update('frac', ok, 2.5),
    update('greedy', ok, 2_000_000),
    update('rank', rank4),
    update('missing', missing),
    update('extra', extra),
    update('shape', wrongShape),
    update('lying', lying),
    update('nan', nan),
    update('inf', inf),
    update('ok', ok)
  ]
  for (const spec of [FEDAVG, ROBUST_DEFAULT]) {
    const res = buildAggregator(spec)(ups, ctxFor(global))
    const got = res.decisions.map((d) => [d.peer, d.kind, d.reason])
    const qA = loraName(0, 'q_proj', 'A')
    assert.deepEqual(got, [
      ['ok', DecisionKind.Included, undefined],
      ['stale', DecisionKind.WrongRound, 'stale round 3 (expected 4)'],
      ['future', DecisionKind.WrongRound, 'future round 5 (expected 4)'],
      ['base', DecisionKind.WrongBase, `trained from base f00df00df00d... (expected ${BASE.slice(0, 12)}...)`],
      ['zero', DecisionKind.BadSamples, 'samples 0 is not a positive integer'],
      ['frac', DecisionKind.BadSamples, 'samples 2.5 is not a positive integer'],
      ['greedy', DecisionKind.BadSamples, 'samples 2000000 above the cap 1000000'],
      ['rank', DecisionKind.ConfigMismatch, "LoRA r=4 alpha=8 differs from the job's r=2 alpha=4"],
      ['missing', DecisionKind.MissingTensor, `missing tensor ${qA}`],
      ['extra', DecisionKind.UnknownTensor, 'unknown tensor base_model.model.lm_head.lora_A.weight'],
      ['shape', DecisionKind.ShapeMismatch, `shape [2,11] of ${qA} (expected [2,12])`],
      ['lying', DecisionKind.ShapeMismatch, `${qA} holds 3 values for shape [2,12]`],
      ['nan', DecisionKind.NonFinite, `non-finite value NaN in ${qA}[3]`],
      ['inf', DecisionKind.NonFinite, `non-finite value -Infinity in ${loraName(1, 'down_proj', 'B')}[0]`],
      ['ok', DecisionKind.Duplicate, 'second update from ok this round']
    ])
    assert.ok(dist(flat(res.adapter), flat(ok)) < 1e-5)
  }
})

test('few updates: none, all invalid, all filtered out -> the global adapter is kept and the result says so', () => {
  const rand = rng(6)
  const global = randomAdapter(rand, 2)
  const none = buildAggregator(ROBUST_DEFAULT)([], ctxFor(global))
  assert.equal(none.unchanged, true)
  assert.equal(none.adapter, global)
  assert.equal(none.summary, 'no updates arrived; global adapter kept unchanged')
  const stale = buildAggregator(FEDAVG)([update('a', randomAdapter(rand, 2), 10, 1)], ctxFor(global))
  assert.equal(stale.unchanged, true)
  assert.equal(stale.summary, 'no update passed validation; global adapter kept unchanged')
  // two peers pointing in opposite directions: the median is zero, so with a strict cosine bound both go
  const d = flat(randomAdapter(rand, 2)).map((v) => v * 0.1); const g = flat(global)
  const spec: AggregationSpec = { ...FEDAVG, filters: [{ kind: 'cosine', maxDistance: 0.5 }] }
  const res = buildAggregator(spec)([update('up', fromFlat(global, g.map((v, k) => v + d[k]))),
    update('down', fromFlat(global, g.map((v, k) => v - d[k])))], ctxFor(global))
  assert.equal(res.unchanged, true)
  assert.equal(res.adapter, global)
  assert.deepEqual(res.decisions.map((x) => x.kind), [DecisionKind.Undecidable, DecisionKind.Undecidable])
  assert.match(res.decisions[0].reason!, /opposite directions, cosine -1/)
  assert.equal(res.summary, 'two disagreeing updates; global adapter kept unchanged')
  // two updates under the robust default: both kept (nothing can be called an outlier of two)
  const two = buildAggregator(ROBUST_DEFAULT)([update('a', randomAdapter(rand, 2)),
    update('b', randomAdapter(rand, 2))], ctxFor(global))
  assert.equal(two.decisions.filter((x) => x.included).length, 2)
  // one honest and one scaled x100: neither can be called the outlier, so the global is kept (not the attacker)
  const honest = flat(randomAdapter(rand, 2)).map((v, k) => g[k] + 0.01 * v)
  const scaled = honest.map((v, k) => g[k] + 100 * (v - g[k]))
  const split = buildAggregator(ROBUST_DEFAULT)([update('h', fromFlat(global, honest)),
    update('x', fromFlat(global, scaled))], ctxFor(global))
  assert.equal(split.unchanged, true)
  assert.equal(split.adapter, global)
  assert.deepEqual(split.decisions.map((x) => x.kind), [DecisionKind.Undecidable, DecisionKind.Undecidable])
  assert.match(split.decisions[0].reason!, /too few to tell which is the outlier/)
  // FedAvg has no filters: it averages them (and is poisoned)
  assert.equal(buildAggregator(FEDAVG)([update('h', fromFlat(global, honest)), update('x', fromFlat(global, scaled))],
    ctxFor(global)).unchanged, false)
})

test('clipped updates are included and say so', () => {
  const rand = rng(7)
  const global = randomAdapter(rand, 2); const g = flat(global)
  const dirs = [1, 1.1, 0.9, 2.5].map((s) => g.map((v) => v + s * 0.01))
  const spec: AggregationSpec = { ...FEDAVG, clip: { kind: 'median', multiple: 2 } }
  const res = buildAggregator(spec)(dirs.map((x, i) => update(`p${i}`, fromFlat(global, x))), ctxFor(global))
  assert.equal(res.decisions[3].kind, DecisionKind.Clipped)
  assert.match(res.decisions[3].reason!, /^clipped norm [\d.]+ to [\d.]+ \(2 x median [\d.]+\)$/)
  // median of scales (1, 1.1, 0.9, 2.5) is 1.05, so the clipped delta is 2.1 x 0.01:
  // mean shift (1 + 1.1 + 0.9 + 2.1) / 4 = 1.275
  assert.ok(dist(flat(res.adapter), g.map((v) => v + 1.275 * 0.01)) < 1e-5)
})

test('specs this implementation cannot run are refused when the aggregator is built', () => {
  assert.equal(checkAggregationSpec(FEDAVG), undefined)
  assert.equal(checkAggregationSpec(ROBUST_DEFAULT), undefined)
  assert.throws(() => buildAggregator({ ...PRODUCT, combine: { kind: 'median' } }), AggregationSpecError)
  assert.throws(() => buildAggregator({ ...PRODUCT, filters: [{ kind: 'cosine', maxDistance: 1 }] }),
    /coordinate-wise median/)
  assert.throws(() => buildAggregator({ ...FEDAVG, allowMixedRanks: true }), /allowMixedRanks needs space 'product'/)
  assert.throws(() => buildAggregator({ ...FEDAVG, combine: { kind: 'trimmed-mean', beta: 0.5 } }), /beta/)
  assert.throws(() => buildAggregator({ ...FEDAVG, filters: [{ kind: 'krum', f: 1, keep: 0 }] }), /keep/)
})

test('the cosine pass\'s reused combine statistic equals a fresh one', () => {
  const rand = rng(8)
  const global = randomAdapter(rand, 2)
  const peers = Array.from({ length: 6 }, () => randomAdapter(rand, 2))
  const ups = peers.map((p, i) => update(`p${i}`, p, 10))
  const withCosine = buildAggregator(ROBUST_DEFAULT)(ups, ctxFor(global))
  assert.ok(withCosine.decisions.every((d) => d.included))
  const without = buildAggregator({ ...ROBUST_DEFAULT,
    filters: ROBUST_DEFAULT.filters.filter((f) => f.kind !== 'cosine') })(ups, ctxFor(global))
  assert.deepEqual(flat(withCosine.adapter), flat(without.adapter))
})
