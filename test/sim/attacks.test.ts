// The crafted attacks of sim/attacks.ts hold the properties their papers define them by, and the colluding
// attack trainer turns a real trained adapter into them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { alieZ, craft, flatDelta, hiddenDirection, withDelta } from '../../sim/attacks.ts'
import type { CraftInput } from '../../sim/attacks.ts'
import { createAttackTrainer, createCollusion } from '../../sim/attack-trainer.ts'
import { FEDAVG, ROBUST_DEFAULT } from '../../protocol/aggregation-spec.ts'
import type { LocalTrainer } from '../../trainer/local-trainer.ts'
import type { Adapter } from '../../trainer/lora/adapter.ts'
import { createRng, normal } from '../../trainer/rng.ts'

const D = 400
const rng = createRng(3)
const dir = Float64Array.from({ length: D }, () => normal(rng) * 0.05)
const honest = Array.from({ length: 8 }, () => dir.map((v) => v + normal(rng) * 0.03))
const input = (m: number, over: Partial<CraftInput> = {}): CraftInput =>
  ({ known: honest, own: honest.slice(8 - m), n: 8, spec: ROBUST_DEFAULT, hidden: hiddenDirection(D, 1), round: 1,
    seed: 9, ...over })
const dot = (a: Float64Array, b: Float64Array): number => a.reduce((s, v, k) => s + v * b[k]!, 0)
const norm = (a: Float64Array): number => Math.sqrt(dot(a, a))
const d2 = (a: Float64Array, b: Float64Array): number => a.reduce((s, v, k) => s + (v - b[k]!) ** 2, 0)

test("ALIE's z follows Baruch et al.: 0.32 for 2 of 8, 0.52 for 3 of 10", () => {
  assert.ok(Math.abs(alieZ(8, 2) - 0.3186) < 1e-3, String(alieZ(8, 2)))
  assert.ok(Math.abs(alieZ(10, 3) - 0.5244) < 1e-3, String(alieZ(10, 3)))
})

test('min-max stays within the largest honest pairwise distance and min-sum within the largest honest sum', () => {
  const maxPair = Math.max(...honest.flatMap((a) => honest.map((b) => d2(a, b))))
  const [mm] = craft('minmax', input(2, { spec: FEDAVG }))
  assert.ok(honest.every((h) => d2(mm!, h) <= maxPair * (1 + 1e-9)))
  assert.ok(honest.some((h) => d2(mm!, h) > 0.98 * maxPair), 'as far out as allowed')
  const maxSum = Math.max(...honest.map((a) => honest.reduce((s, b) => s + d2(a, b), 0)))
  const [ms] = craft('minsum', input(2, { spec: FEDAVG }))
  assert.ok(honest.reduce((s, h) => s + d2(ms!, h), 0) <= maxSum * (1 + 1e-9))
})

test('IPM is -eps times the honest mean; copies stay just under the near-copy threshold of the spec', () => {
  const mean = honest.reduce((acc, h) => acc.map((v, k) => v + h[k]! / 8), new Float64Array(D))
  const [ipm] = craft('ipm', input(2, { spec: FEDAVG })) // no near-copy filter to dodge: the paper's exact vector
  assert.ok(ipm!.every((v, k) => Math.abs(v + 0.5 * mean[k]!) < 1e-12))
  for (const attack of ['copies', 'alie', 'ipm', 'minmax'] as const) {
    const [a, b] = craft(attack, input(2))
    const cos = dot(a!, b!) / (norm(a!) * norm(b!))
    assert.ok(cos > 0.9 && cos < 0.99, `${attack}: pairwise cosine ${cos}`)
  }
})

test('drift keeps each attacker its own norm and its component along the mean, and leans on the hidden direction',
  () => {
  const x = input(2)
  const out = craft('drift', x)
  const mean = honest.reduce((acc, h) => acc.map((v, k) => v + h[k]! / 8), new Float64Array(D))
  const mh = mean.map((v) => v / norm(mean))
  out.forEach((u, i) => {
    const o = x.own[i]!
    assert.ok(Math.abs(norm(u) - norm(o)) < 1e-9 * norm(o))
    assert.ok(Math.abs(dot(u, mh) - dot(o, mh)) < 1e-9 * norm(o))
    assert.ok(dot(u, x.hidden) > 0.2 * norm(o), 'pushes along the hidden direction')
  })
})

test('the colluding attack trainer crafts from its own trained delta and claims 1e6 samples for inflate', async () => {
  const base: Adapter = { config: { r: 1, alpha: 1, dropout: 0, targetModules: ['q_proj'] },
    tensors: new Map([['t', { shape: [D], data: new Float32Array(D) }]]) }
  let call = 0
  const inner: LocalTrainer = {
    initialAdapter: () => base,
    train: async () => ({ adapter: withDelta(base, honest[call++ % 8]!), samples: 80, trainLoss: 1, tokens: 1,
      seconds: 0 }),
    close: async () => {}
  }
  const collusion = createCollusion(ROBUST_DEFAULT, 8, 1)
  const t = createAttackTrainer(inner, 'inflate', collusion)
  const r = await t.train({ round: 1, base, seed: 1 })
  assert.equal(r.samples, 1_000_000)
  const sent = flatDelta(r.adapter, base)
  assert.ok(sent.every((v, k) => Math.abs(v + 0.5 * honest[0]![k]!) < 1e-6), 'ipm of what it knows (its own delta)')
  assert.equal(collusion.posted.get(1)!.length, 1)
})
