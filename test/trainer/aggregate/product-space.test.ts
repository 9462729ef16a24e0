import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Adapter } from '../../../trainer/lora/adapter.ts'
import type { AggregationSpec } from '../../../protocol/aggregation-spec.ts'
import { loraName } from '../../../trainer/lora/adapter.ts'
import { buildAggregator } from '../../../trainer/aggregate/build-aggregator.ts'
import { productSpace } from '../../../trainer/aggregate/product-space.ts'
import { DecisionKind } from '../../../trainer/aggregate/decision-kind.ts'
import { MODULES, ctxFor, denseProduct, randomAdapter, rng, singularValues, update } from './fixtures.ts'

const PRODUCT: AggregationSpec = { space: 'product', clip: { kind: 'none' }, filters: [], combine: { kind: 'mean' },
  allowMixedRanks: false }
const MIXED: AggregationSpec = { ...PRODUCT, allowMixedRanks: true }

/** The dense target sum_i coef_i W_i (+ coefG W_g) of a module, and how far a result is from it. */
function target (adapters: Adapter[], coefs: number[], m: typeof MODULES[number]): Float64Array {
  const W = new Float64Array(m.out * m.in)
  adapters.forEach((a, i) => {
    const d = denseProduct(a, m.layer, m.module).W
    for (let k = 0; k < W.length; k++) W[k] += coefs[i] * d[k]
  })
  return W
}

function checkOptimal (result: Adapter, W: Float64Array, m: typeof MODULES[number], r: number, label: string): void {
  const got = denseProduct(result, m.layer, m.module).W
  let err2 = 0; let tot2 = 0
  for (let k = 0; k < W.length; k++) { err2 += (W[k] - got[k]) ** 2; tot2 += W[k] ** 2 }
  const sv = singularValues(W, m.out, m.in)
  const best2 = sv.slice(r).reduce((s, v) => s + v * v, 0)
  // Eckart–Young: the error of the best rank-r approximation is the tail of the singular values
  assert.ok(Math.abs(err2 - best2) <= 1e-9 * tot2,
    `${label} ${m.module}: error² ${err2} vs optimal ${best2} (total ${tot2})`)
  const gsv = singularValues(got, m.out, m.in)
  assert.ok(gsv[r] === undefined || gsv[r] <= 1e-5 * gsv[0], `${label}: result has rank <= ${r}`)
}

test('product space: exact when the true rank <= r (peers sharing the global A, as after LoRA init)', () => {
  const rand = rng(11)
  const global = randomAdapter(rand, 4)
  const peers = [0, 1, 2].map(() => {
    const a = randomAdapter(rand, 4)
    return { config: a.config, tensors: new Map([...a.tensors]
      .map(([n, t]) => [n, n.includes('lora_A') ? global.tensors.get(n)! : t])) }
  })
  const samples = [10, 30, 60]
  const res = buildAggregator(PRODUCT)(peers.map((p, i) => update(`p${i}`, p, samples[i])), ctxFor(global))
  assert.equal(res.unchanged, false)
  for (const m of MODULES) {
    const W = target(peers, [0.1, 0.3, 0.6], m)
    const got = denseProduct(res.adapter, m.layer, m.module).W
    for (let k = 0; k < W.length; k++) assert.ok(Math.abs(W[k] - got[k]) <= 1e-5 * (1 + Math.abs(W[k])), 'exact')
    checkOptimal(res.adapter, W, m, 4, 'shared A')
  }
  assert.deepEqual(res.adapter.tensors.get(loraName(0, 'q_proj', 'A'))!.shape, [4, 12])
  assert.deepEqual(res.adapter.tensors.get(loraName(0, 'down_proj', 'B'))!.shape, [12, 4])
})

test('product space: optimal rank-r truncation (Eckart–Young) when the average has higher rank', () => {
  const rand = rng(12)
  const global = randomAdapter(rand, 3)
  const peers = [0, 1, 2, 3].map(() => randomAdapter(rand, 3))
  const res = buildAggregator(PRODUCT)(peers.map((p, i) => update(`p${i}`, p, 25)), ctxFor(global))
  for (const m of MODULES) checkOptimal(res.adapter, target(peers, [0.25, 0.25, 0.25, 0.25], m), m, 3, 'random')
})

test('product space with mixed ranks: exact when the ranks add up to <= r, optimal otherwise', () => {
  const rand = rng(13)
  const global = randomAdapter(rand, 4)
  const small = [randomAdapter(rand, 1, 1, 3), randomAdapter(rand, 2, 1, 16), randomAdapter(rand, 1, 1, 1)]
  const res = buildAggregator(MIXED)(small.map((p, i) => update(`p${i}`, p, 50)), ctxFor(global))
  assert.ok(res.decisions.every((d) => d.included))
  for (const m of MODULES) {
    const W = target(small, [1 / 3, 1 / 3, 1 / 3], m)
    const got = denseProduct(res.adapter, m.layer, m.module).W
    for (let k = 0; k < W.length; k++) assert.ok(Math.abs(W[k] - got[k]) <= 1e-5 * (1 + Math.abs(W[k])))
  }
  const big = [randomAdapter(rand, 8), randomAdapter(rand, 2), randomAdapter(rand, 5)]
  const res2 = buildAggregator(MIXED)(big.map((p, i) => update(`p${i}`, p, [1, 2, 5][i])), ctxFor(global))
  for (const m of MODULES) checkOptimal(res2.adapter, target(big, [1 / 8, 2 / 8, 5 / 8], m), m, 4, 'mixed')
  // without allowMixedRanks a different rank is a config mismatch
  const res3 = buildAggregator(PRODUCT)([update('p0', big[0]), update('p1', randomAdapter(rand, 4))], ctxFor(global))
  assert.equal(res3.decisions[0].kind, DecisionKind.ConfigMismatch)
  assert.equal(res3.decisions[1].included, true)
})

test('product space with clipping keeps the global term: W_g + sum w_i c_i (W_i - W_g), optimally truncated', () => {
  const rand = rng(14)
  const global = randomAdapter(rand, 2)
  const peers = [randomAdapter(rand, 2), randomAdapter(rand, 2), randomAdapter(rand, 2, 30)]
  const spec: AggregationSpec = { ...PRODUCT, clip: { kind: 'median', multiple: 1.5 } }
  const res = buildAggregator(spec)(peers.map((p, i) => update(`p${i}`, p, 10)), ctxFor(global))
  assert.equal(res.decisions[2].kind, DecisionKind.Clipped)
  const space = productSpace(peers, global)
  const norms = [...space.norms]
  const bound = 1.5 * [...norms].sort((a, b) => a - b)[1]
  const c = norms.map((x) => Math.min(1, bound / x))
  const coefs = c.map((ci) => ci / 3)
  for (const m of MODULES) {
    checkOptimal(res.adapter, target([...peers, global], [...coefs, 1 - coefs.reduce((a, b) => a + b, 0)], m), m, 2,
      'clipped')
  }
})

test('product-space norms and inner products equal the dense ones', () => {
  const rand = rng(15)
  const global = randomAdapter(rand, 3)
  const peers = [randomAdapter(rand, 3), randomAdapter(rand, 3)]
  const space = productSpace(peers, global)
  const g = space.gram([0, 1], [1, 0.5])
  let n0 = 0; let dot = 0
  for (const m of MODULES) {
    const w0 = denseProduct(peers[0], m.layer, m.module).W; const w1 = denseProduct(peers[1], m.layer, m.module).W;
      const wg = denseProduct(global, m.layer, m.module).W
    for (let k = 0; k < w0.length; k++) { n0 += (w0[k] - wg[k]) ** 2; dot += (w0[k] - wg[k]) * 0.5 * (w1[k] - wg[k]) }
  }
  assert.ok(Math.abs(space.norms[0] - Math.sqrt(n0)) < 1e-9 * Math.sqrt(n0))
  assert.ok(Math.abs(g[1] - dot) < 1e-9 * n0)
})

test('product space rejects NaN peers by validation and ignores them in the combine', () => {
  const rand = rng(16)
  const global = randomAdapter(rand, 2)
  const good = randomAdapter(rand, 2)
  const bad = randomAdapter(rand, 2)
  bad.tensors.get(loraName(1, 'down_proj', 'B'))!.data[5] = NaN
  const res = buildAggregator(PRODUCT)([update('bad', bad), update('good', good)], ctxFor(global))
  assert.equal(res.decisions[0].kind, DecisionKind.NonFinite)
  assert.equal(res.decisions[0].reason, `non-finite value NaN in ${loraName(1, 'down_proj', 'B')}[5]`)
  for (const m of MODULES) checkOptimal(res.adapter, target([good], [1], m), m, 2, 'nan')
})
