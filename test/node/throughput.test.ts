import { test } from 'node:test'
import assert from 'node:assert/strict'
import { nextTokensPerSecond } from '../../node/throughput.ts'

test('tokens/s: first measurement taken as is, then smoothed; unmeasured rounds change nothing', () => {
  assert.equal(nextTokensPerSecond(0, { tokens: 1000, seconds: 2 }), 500)
  assert.equal(nextTokensPerSecond(500, { tokens: 1000, seconds: 1 }), 750)
  assert.equal(nextTokensPerSecond(500, { tokens: 1000, seconds: 0 }), 500)
  assert.equal(nextTokensPerSecond(500, { tokens: 0, seconds: 3 }), 500)
  assert.equal(nextTokensPerSecond(0, { tokens: Number.NaN, seconds: 1 }), 0)
})
