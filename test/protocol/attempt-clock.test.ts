import { test } from 'node:test'
import assert from 'node:assert/strict'
import { attemptDueAt, checkAttemptClock } from '../../protocol/attempt-clock.ts'
import type { ClockContext } from '../../protocol/attempt-clock.ts'
import type { RoundAnnounce } from '../../protocol/messages.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'

const members = ['12D3KooWAa', '12D3KooWBb', '12D3KooWCc', '12D3KooWDd']
const timing = { silenceMs: 10_000, graceMs: 2_000, settleMs: 0 }
const T0 = 1_000_000

function announce (over: Partial<RoundAnnounce> = {}): RoundAnnounce {
  return { jobId: 'j', round: 3, attempt: 0, baseHash: new Uint8Array(32), members, selected: [], deadlineMs: BigInt(T0 + 10_000), ...over }
}
function ctx (over: Partial<ClockContext> = {}): ClockContext {
  return { progress: { since: T0, accepted: -1 }, timing, toleranceMs: 2_000, nowMs: T0, eligible: new Set(members), ...over }
}
const reason = (c: ReturnType<typeof checkAttemptClock>): string => c.ok ? 'ok' : c.reason.split(':')[0]!

test('attempt a is due a silences after the round, or after the followed attempt expired', () => {
  assert.equal(attemptDueAt({ since: T0, accepted: -1 }, 0, timing), -Infinity)
  assert.equal(attemptDueAt({ since: T0, accepted: -1 }, 2, timing), T0 + 20_000)
  assert.equal(attemptDueAt({ since: T0, accepted: -1 }, 1, { ...timing, settleMs: 500 }), T0 + 10_500)
  // following attempt 1 (deadline D): attempt 2 at D + grace, attempt 3 one silence later
  const p = { since: T0, accepted: 1, acceptedDeadlineMs: T0 + 30_000 }
  assert.equal(attemptDueAt(p, 2, timing), T0 + 32_000)
  assert.equal(attemptDueAt(p, 3, timing), T0 + 42_000)
})

test('an announce for an attempt that is not due is refused; within the tolerance it passes', () => {
  assert.equal(reason(checkAttemptClock(announce({ attempt: 1 }), ctx())), RejectReason.AttemptNotDue)
  assert.equal(reason(checkAttemptClock(announce({ attempt: 1, deadlineMs: BigInt(T0 + 18_000) }), ctx({ nowMs: T0 + 8_500 }))), 'ok')
  assert.equal(reason(checkAttemptClock(announce({ attempt: 5 }), ctx({ nowMs: T0 + 20_000 }))), RejectReason.AttemptNotDue)
  assert.equal(reason(checkAttemptClock(announce(), ctx())), 'ok')
})

test('the deadline must be ahead and within one silence (+ tolerance)', () => {
  assert.equal(reason(checkAttemptClock(announce({ deadlineMs: BigInt(T0 - 1) }), ctx())), RejectReason.PastDeadline)
  assert.equal(reason(checkAttemptClock(announce({ deadlineMs: BigInt(T0 + 12_000) }), ctx())), 'ok')
  assert.equal(reason(checkAttemptClock(announce({ deadlineMs: BigInt(T0 + 12_001) }), ctx())), RejectReason.DeadlineTooFar)
  assert.equal(reason(checkAttemptClock(announce({ deadlineMs: BigInt(T0 + 86_400_000) }), ctx())), RejectReason.DeadlineTooFar)
})

test('every listed member must be known, and the list must hold at least half of those we know', () => {
  assert.equal(reason(checkAttemptClock(announce({ members: [...members, '12D3KooWEve'] }), ctx())), RejectReason.UnknownMembers)
  assert.equal(reason(checkAttemptClock(announce({ members: members.slice(0, 2) }), ctx())), 'ok')
  assert.equal(reason(checkAttemptClock(announce({ members: members.slice(0, 1) }), ctx())), RejectReason.PrunedMembers)
})
