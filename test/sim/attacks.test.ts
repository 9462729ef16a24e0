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
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { caseName } from '../../sim/poisoning.ts'
import { DecisionKind } from '../../trainer/aggregate/decision-kind.ts'
import type { JobHistory } from '../../trainer/aggregate/history.ts'

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

test('blind ALIE and min-max estimate the mean and spread from the colluders\' own training only', () => {
  const own = honest.slice(5) // 3 colluders, each with its own honestly trained delta
  const x = input(3, { known: own, own, n: 10, spec: FEDAVG }) // no near-copy filter: the papers' exact vectors
  const mean = own.reduce((acc, h) => acc.map((v, k) => v + h[k]! / 3), new Float64Array(D))
  const std = mean.map((mu, k) => Math.sqrt(own.reduce((s, h) => s + (h[k]! - mu) ** 2, 0) / 2))
  const z = alieZ(10, 3)
  const [alie] = craft('alie', x)
  assert.ok(alie!.every((v, k) => Math.abs(v - (mean[k]! - Math.sign(mean[k]!) * z * std[k]!)) < 1e-12))
  const [omniscient] = craft('alie', { ...x, known: honest })
  assert.ok(d2(alie!, omniscient!) > 0, 'the omniscient one differs: it sees every honest update')
  const [mm] = craft('minmax', x)
  const maxPair = Math.max(...own.flatMap((a) => own.map((b) => d2(a, b))))
  assert.ok(own.every((h) => d2(mm!, h) <= maxPair * (1 + 1e-9)), 'within the spread the colluders saw')
})

test('blind ALIE and min-max by 3 of 10 pass one round; the job\'s history excludes them from round 2 on', () => {
  const global: Adapter = { config: { r: 1, alpha: 1, dropout: 0, targetModules: ['q_proj'] },
    tensors: new Map([['t', { shape: [D], data: new Float32Array(D) }]]) }
  const noHistory = { ...ROBUST_DEFAULT, filters: ROBUST_DEFAULT.filters.filter((f) => f.kind !== 'history') }
  for (const attack of ['alie', 'minmax'] as const) {
    for (const spec of [ROBUST_DEFAULT, noHistory]) {
      const aggregate = buildAggregator(spec)
      const g = createRng(11)
      let history: JobHistory | undefined
      for (let round = 1; round <= 3; round++) {
        const trained = Array.from({ length: 10 }, () => dir.map((v) => v + normal(g) * 0.03))
        const own = trained.slice(7) // the colluders' own honest training, all they see
        const crafted = craft(attack, { known: own, own, n: 10, spec, hidden: hiddenDirection(D, 1), round,
          seed: 5 + round })
        const res = aggregate([...trained.slice(0, 7), ...crafted].map((d, i) => ({ peer: `p${i}`, samples: 10, round,
          baseHash: 'b', adapter: withDelta(global, d) })), { round, baseHash: 'b', global,
          ...(history !== undefined ? { history } : {}) })
        history = res.history
        const out = res.decisions.filter((d) => !d.included)
        const what = `${attack}-blind round ${round}${spec === noHistory ? ' without history' : ''}: ` +
          out.map((d) => `${d.peer} ${d.kind}`).join(', ')
        assert.ok(out.every((d) => Number(d.peer.slice(1)) >= 7), `honest kept: ${what}`)
        const caught = spec === ROBUST_DEFAULT && round >= 2
        assert.equal(out.length, caught ? 3 : 0, what)
        assert.ok(out.every((d) => d.kind === DecisionKind.HistoryColluder), what)
      }
    }
  }
})

test('the attack trainer takes the -blind names and the matrix names its blind cases so', async () => {
  const base: Adapter = { config: { r: 1, alpha: 1, dropout: 0, targetModules: ['q_proj'] },
    tensors: new Map([['t', { shape: [D], data: new Float32Array(D) }]]) }
  const inner: LocalTrainer = { initialAdapter: () => base, close: async () => {},
    train: async () => ({ adapter: withDelta(base, honest[0]!), samples: 80, trainLoss: 1, tokens: 1, seconds: 0 }) }
  const collusion = createCollusion(FEDAVG, 8, 1)
  const r = await createAttackTrainer(inner, 'minmax-blind', collusion).train({ round: 1, base, seed: 1 })
  assert.equal(collusion.posted.get(1)!.length, 1)
  assert.ok(flatDelta(r.adapter, base).every((v, k) => Math.abs(v - honest[0]![k]!) < 1e-6),
    'alone, it knows only its own delta: min-max has no spread to use')
  assert.equal(caseName({ attack: 'alie-blind', knowledge: 'omniscient', rule: 'robust' }), 'alie-blind')
  assert.equal(caseName({ attack: 'minsum', knowledge: 'colluders', rule: 'robust' }), 'minsum-blind')
})
