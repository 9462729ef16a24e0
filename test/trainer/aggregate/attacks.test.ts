// 8 peers, 2 malicious, synthetic updates: honest deltas = a shared direction + per-peer noise. The robust
// default must land near the honest mean; plain FedAvg must not, except where validation (which FedAvg runs
// too) already rejects the attack (NaN/Inf, stale round): there both must be near, and we assert that.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { AggregationSpec } from '../../../protocol/aggregation-spec.ts'
import type { ClientUpdate } from '../../../trainer/aggregate/types.ts'
import { FEDAVG, ROBUST_DEFAULT } from '../../../protocol/aggregation-spec.ts'
import { buildAggregator } from '../../../trainer/aggregate/build-aggregator.ts'
import { DecisionKind } from '../../../trainer/aggregate/decision-kind.ts'
import { ctxFor, dist, flat, fromFlat, gaussian, norm, randomAdapter, rng, update } from './fixtures.ts'

const MULTI_KRUM: AggregationSpec = { ...FEDAVG, filters: [{ kind: 'krum', f: 2, keep: 4 }] }

type Attack = (honestDelta: Float64Array, g: () => number) => Float64Array | 'stale'
const ATTACKS: [string, Attack, DecisionKind[], boolean][] = [
  // name, attacker's delta, how the robust default must exclude it, whether FedAvg is also protected (by validation)
  ['sign flip', (d) => d.map((v) => -v), [DecisionKind.CosineOutlier], false],
  ['scaling by 100', (d) => d.map((v) => 100 * v), [DecisionKind.NormTooLarge], false],
  ['large Gaussian noise', (d, g) => d.map(() => 20 * g() * 0.05), [DecisionKind.NormTooLarge], false],
  ['NaN/Inf', (d) => d.map((v, k) => k === 17 ? NaN : k === 40 ? Infinity : v), [DecisionKind.NonFinite], true],
  ['all zeros', (d) => d.map(() => 0), [DecisionKind.NormTooSmall], false],
  ['stale round', () => 'stale', [DecisionKind.WrongRound], true]
]

function scenario (attack: Attack, seed: number): { ups: ClientUpdate[], honestMean: Float64Array, honestShift: number,
  global: ReturnType<typeof randomAdapter> } {
  const rand = rng(seed); const g = gaussian(rand)
  const global = randomAdapter(rand, 4)
  const base = flat(global)
  const dir = base.map(() => g() * 0.05) // the shared direction honest training takes
  const honest = Array.from({ length: 6 }, () => dir.map((v) => v + g() * 0.015))
  const honestMean = base.map((v, k) => v + honest.reduce((s, d) => s + d[k], 0) / 6)
  const ups = honest.map((d, i) => update(`honest${i}`, fromFlat(global, base.map((v, k) => v + d[k])), 100))
  for (let a = 0; a < 2; a++) {
    const d = attack(honest[a], g)
    ups.push(d === 'stale'
      // last round's update, replayed
      ? update(`evil${a}`, fromFlat(global, base.map((v, k) => v + honest[a][k])), 100, 3)
      : update(`evil${a}`, fromFlat(global, base.map((v, k) => v + d[k])), 100))
  }
  // interleave attackers among honest peers: arrival order must not matter
  ups.splice(3, 0, ups.pop()!)
  return { ups, honestMean, honestShift: norm(honestMean.map((v, k) => v - base[k])), global }
}

for (const [name, attack, kinds, fedavgProtected] of ATTACKS) {
  test(`attack "${name}" by 2 of 8 peers: robust default stays near the honest mean${fedavgProtected ? ' (so does ' +
    'FedAvg: validation rejects it)' : ', FedAvg does not'}`, () => {
    for (const seed of [1, 2, 3]) {
      const { ups, honestMean, honestShift, global } = scenario(attack, seed)
      const robust = buildAggregator(ROBUST_DEFAULT)(ups, ctxFor(global))
      const plain = buildAggregator(FEDAVG)(ups, ctxFor(global))
      const errRobust = dist(flat(robust.adapter), honestMean) / honestShift
      const errPlain = dist(flat(plain.adapter), honestMean) / honestShift
      const evil = robust.decisions.filter((d) => d.peer.startsWith('evil'))
      assert.equal(evil.length, 2)
      for (const d of evil) assert.ok(!d.included && kinds.includes(d.kind), `${name}: ${d.peer} ${d.kind} ${d.reason}`)
      assert.ok(robust.decisions.filter((d) => d.peer.startsWith('honest')).every((d) => d.included),
        `${name}: honest peers kept`)
      assert.ok(errRobust < 0.1, `${name} seed ${seed}: robust error ${errRobust.toFixed(3)} of the honest shift`)
      if (fedavgProtected) {
        assert.ok(errPlain < 1e-5, `${name}: FedAvg error ${errPlain}`)
        assert.equal(plain.decisions.filter((d) => !d.included).length, 2)
      } else {
        assert.ok(errPlain > 0.2, `${name} seed ${seed}: FedAvg error ${errPlain.toFixed(3)} should be large`)
      }
    }
  })
}

test('Multi-Krum also resists scaling and sign flips (f = 2, keep 4)', () => {
  for (const attack of [ATTACKS[0][1], ATTACKS[1][1], ATTACKS[2][1]]) {
    const { ups, honestMean, honestShift, global } = scenario(attack, 9)
    const res = buildAggregator(MULTI_KRUM)(ups, ctxFor(global))
    assert.ok(res.decisions.filter((d) => d.peer.startsWith('evil')).every((d) => d.kind === DecisionKind.KrumRejected))
    assert.ok(dist(flat(res.adapter), honestMean) / honestShift < 0.15)
  }
})
