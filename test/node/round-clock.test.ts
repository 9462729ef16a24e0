// When the next attempt of a round is due (node/round-clock.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { dueAttempt } from '../../node/round-clock.ts'
import type { RoundClock } from '../../node/round-clock.ts'
import { MAX_ATTEMPTS } from '../../protocol/limits.ts'

const T = { silenceMs: 1000, graceMs: 300, settleMs: 0 }
const round = (over: Partial<RoundClock> = {}): RoundClock => ({ since: 10_000, accepted: -1, announcedByMe: new Set(),
  ...over })

test('without an announce: attempt 0 at once, then one more each silence', () => {
  assert.equal(dueAttempt(round(), 10_000, T), 0)
  assert.equal(dueAttempt(round(), 10_999, T), 0)
  assert.equal(dueAttempt(round(), 11_000, T), 1)
  assert.equal(dueAttempt(round(), 12_500, T), 2)
})

test('a first round waits the settle before attempt 0', () => {
  const t = { ...T, settleMs: 600 }
  assert.equal(dueAttempt(round(), 10_599, t), undefined)
  assert.equal(dueAttempt(round(), 10_600, t), 0)
  assert.equal(dueAttempt(round(), 11_600, t), 1)
})

test('with an accepted announce: nothing until its deadline + grace, then the next attempt, one more each silence',
  () => {
  const r = round({ accepted: 0, announce: { deadlineMs: 20_000 } })
  assert.equal(dueAttempt(r, 19_000, T), undefined)
  assert.equal(dueAttempt(r, 20_299, T), undefined)
  assert.equal(dueAttempt(r, 20_300, T), 1)
  assert.equal(dueAttempt(r, 21_300, T), 2)
  const later = round({ accepted: 2, announce: { deadlineMs: 20_000 } })
  assert.equal(dueAttempt(later, 20_300, T), 3)
})

test('no attempt that is followed already, that we announced, or past the last', () => {
  assert.equal(dueAttempt(round({ announcedByMe: new Set([0]) }), 10_000, T), undefined)
  assert.equal(dueAttempt(round({ announcedByMe: new Set([0]) }), 11_000, T), 1)
  // followed attempt 1, no announce kept: not re-announced
  assert.equal(dueAttempt(round({ accepted: 1 }), 11_500, T), undefined)
  assert.equal(dueAttempt(round(), 10_000 + MAX_ATTEMPTS * 1000, T), undefined)
  assert.equal(dueAttempt(round(), 10_000 + (MAX_ATTEMPTS - 1) * 1000, T), MAX_ATTEMPTS - 1)
})

test('an accepted announce whose aggregator is gone: the next attempt at once, skipping gone aggregators', () => {
  const r = round({ accepted: 0, announce: { deadlineMs: 70_000 } })
  assert.equal(dueAttempt(r, 12_000, T, (a) => a === 0), 1, 'no wait for deadline + grace')
  assert.equal(dueAttempt(r, 12_000, T, (a) => a <= 2), 3, 'attempts whose aggregator is gone are skipped')
  assert.equal(dueAttempt(r, 12_000, T, () => false), undefined, 'a live aggregator keeps its deadline')
  assert.equal(dueAttempt(round({ accepted: 0, announce: { deadlineMs: 70_000 }, announcedByMe: new Set([1]) }), 12_000,
    T, (a) => a === 0), undefined)
  assert.equal(dueAttempt(r, 12_000, T, () => true), undefined, 'nobody left to aggregate')
})
