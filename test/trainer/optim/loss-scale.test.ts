import { test } from 'node:test'
import assert from 'node:assert/strict'
import { allFinite, LossScaler } from '../../../trainer/optim/loss-scale.ts'

test('loss scaling: an overflow skips the step and halves the scale; N good steps double it, within bounds', () => {
  const s = new LossScaler({ initial: 8, growthInterval: 3, min: 2, max: 16 })
  assert.equal(s.update(false), false)
  assert.equal(s.scale, 4)
  assert.equal(s.update(true), true)
  assert.equal(s.update(true), true)
  assert.equal(s.scale, 4, 'two good steps: not yet')
  s.update(true)
  assert.equal(s.scale, 8)
  s.update(true); s.update(false)
  assert.equal(s.scale, 4, 'an overflow resets the good-step count')
  s.update(false); s.update(false)
  assert.equal(s.scale, 2, 'never below min')
  for (let i = 0; i < 12; i++) s.update(true)
  assert.equal(s.scale, 16, 'never above max')
  assert.equal(allFinite([Float32Array.of(1, 2), Float32Array.of(-3)]), true)
  assert.equal(allFinite([Float32Array.of(1), Float32Array.of(0, Infinity)]), false)
  assert.equal(allFinite([Float32Array.of(NaN)]), false)
})
