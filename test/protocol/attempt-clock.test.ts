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
  return { jobId: 'j', round: 3, attempt: 0, baseHash: new Uint8Array(32), members, selected: [],
    deadlineMs: BigInt(T0 + 10_000), ...over }
}
function ctx (over: Partial<ClockContext> = {}): ClockContext {
  return { progress: { since: T0, accepted: -1 }, timing, toleranceMs: 2_000, nowMs: T0, eligible: new Set(members),
    ...over }
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
  assert.equal(reason(checkAttemptClock(announce({ attempt: 1, deadlineMs: BigInt(T0 + 18_000) }),
    ctx({ nowMs: T0 + 8_500 }))), 'ok')
  assert.equal(reason(checkAttemptClock(announce({ attempt: 5 }), ctx({ nowMs: T0 + 20_000 }))),
    RejectReason.AttemptNotDue)
  assert.equal(reason(checkAttemptClock(announce(), ctx())), 'ok')
})

test('the deadline must be ahead and within one silence (+ tolerance)', () => {
  assert.equal(reason(checkAttemptClock(announce({ deadlineMs: BigInt(T0 - 1) }), ctx())), RejectReason.PastDeadline)
  assert.equal(reason(checkAttemptClock(announce({ deadlineMs: BigInt(T0 + 12_000) }), ctx())), 'ok')
  assert.equal(reason(checkAttemptClock(announce({ deadlineMs: BigInt(T0 + 12_001) }), ctx())),
    RejectReason.DeadlineTooFar)
  assert.equal(reason(checkAttemptClock(announce({ deadlineMs: BigInt(T0 + 86_400_000) }), ctx())),
    RejectReason.DeadlineTooFar)
})

test('every listed member must be known, and the list must hold at least half of those we know', () => {
  assert.equal(reason(checkAttemptClock(announce({ members: [...members, '12D3KooWEve'] }), ctx())),
    RejectReason.UnknownMembers)
  assert.equal(reason(checkAttemptClock(announce({ members: members.slice(0, 2) }), ctx())), 'ok')
  assert.equal(reason(checkAttemptClock(announce({ members: members.slice(0, 1) }), ctx())), RejectReason.PrunedMembers)
})

test('an attempt ahead of the clock passes only when every attempt before it is passed over (gone or unreachable)',
  () => {
  // at T0 the clock makes attempt 0 due; attempt 2 is early unless attempts 0 and 1 are both passed over
  const early = announce({ attempt: 2 })
  assert.equal(reason(checkAttemptClock(early, ctx({ passedOver: (k) => k === 0 }))), RejectReason.AttemptNotDue)
  assert.equal(reason(checkAttemptClock(early, ctx({ passedOver: (k) => k === 1 }))), RejectReason.AttemptNotDue)
  assert.equal(reason(checkAttemptClock(early, ctx({ passedOver: (k) => k < 2 }))), 'ok')
  // one silence on, attempt 1 is due by the clock: only attempt 1 needs to be passed over for attempt 2
  assert.equal(reason(checkAttemptClock(announce({ attempt: 2, deadlineMs: BigInt(T0 + 20_000) }),
    ctx({ nowMs: T0 + 10_000, passedOver: (k) => k === 1 }))), 'ok')
  // following attempt 1 whose aggregator is gone: attempt 2 is due at once, not at its deadline + grace
  const following = { since: T0, accepted: 1, acceptedDeadlineMs: T0 + 30_000 }
  const next = announce({ attempt: 2, deadlineMs: BigInt(T0 + 25_000) })
  assert.equal(reason(checkAttemptClock(next, ctx({ nowMs: T0 + 20_000, progress: following }))),
    RejectReason.AttemptNotDue)
  assert.equal(reason(checkAttemptClock(next, ctx({ nowMs: T0 + 20_000, progress: following,
    passedOver: (k) => k === 1 }))), 'ok')
  // a live, reachable aggregator between the clock's attempt and the announced one keeps it early
  assert.equal(reason(checkAttemptClock(announce({ attempt: 3, deadlineMs: BigInt(T0 + 25_000) }),
    ctx({ nowMs: T0 + 20_000, progress: following, passedOver: (k) => k === 1 }))), RejectReason.AttemptNotDue)
})
