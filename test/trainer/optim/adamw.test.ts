import { test } from 'node:test'
import assert from 'node:assert/strict'
import { adamwStep, createAdamWState, clipGradNorm, globalNorm, DEFAULT_ADAMW } from '../../../trainer/optim/adamw.ts'
import { lrAt } from '../../../trainer/optim/schedule.ts'

test('adamw matches a float64 reference of torch.optim.AdamW for three steps', () => {
  const cfg = { ...DEFAULT_ADAMW, lr: 0.1, weightDecay: 0.01 }
  const p = Float32Array.from([1, -2, 0.5])
  const ref = [1, -2, 0.5]
  const m = [0, 0, 0]; const v = [0, 0, 0]
  const state = createAdamWState()
  const gs = [[0.1, -0.2, 0.3], [0.4, 0.0, -0.1], [-0.3, 0.2, 0.2]]
  for (let t = 1; t <= 3; t++) {
    const g = gs[t - 1]!
    adamwStep(new Map([['w', p]]), new Map([['w', Float32Array.from(g)]]), state, cfg)
    for (let i = 0; i < 3; i++) {
      ref[i] = ref[i]! * (1 - cfg.lr * cfg.weightDecay)
      m[i] = 0.9 * m[i]! + 0.1 * g[i]!
      v[i] = 0.999 * v[i]! + 0.001 * g[i]! * g[i]!
      const mh = m[i]! / (1 - 0.9 ** t); const vh = v[i]! / (1 - 0.999 ** t)
      ref[i] = ref[i]! - cfg.lr * mh / (Math.sqrt(vh) + cfg.eps)
    }
  }
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(p[i]! - ref[i]!) < 1e-6, `${p[i]} vs ${ref[i]}`)
  assert.equal(state.step, 3)
})

test('adamw rejects a missing or mis-sized gradient', () => {
  assert.throws(() => adamwStep(new Map([['w', new Float32Array(2)]]), new Map(), createAdamWState(), DEFAULT_ADAMW),
    /no gradient for w/)
  assert.throws(() => adamwStep(new Map([['w', new Float32Array(2)]]), new Map([['w', new Float32Array(3)]]),
    createAdamWState(), DEFAULT_ADAMW), /3 values/)
})

test('gradient clipping scales to the bound and leaves small gradients alone', () => {
  const g = new Map([['a', Float32Array.from([3, 0])], ['b', Float32Array.from([4])]])
  assert.equal(clipGradNorm(g, 10), 5)
  assert.deepEqual([...g.get('a')!], [3, 0])
  assert.equal(clipGradNorm(g, 1), 5)
  assert.ok(Math.abs(globalNorm(g) - 1) < 1e-5)
})

test('warm-up then cosine/linear decay', () => {
  const s = { kind: 'cosine' as const, warmupSteps: 10, totalSteps: 110 }
  assert.equal(lrAt(1, s, 0), 0.1)
  assert.equal(lrAt(1, s, 9), 1)
  assert.ok(Math.abs(lrAt(1, s, 60) - 0.5) < 1e-12)
  assert.ok(lrAt(1, s, 110) < 1e-12)
  assert.equal(lrAt(2, { kind: 'linear', warmupSteps: 0, totalSteps: 4 }, 2), 1)
  assert.equal(lrAt(2, { kind: 'constant', warmupSteps: 0, totalSteps: 4 }, 3), 2)
})
