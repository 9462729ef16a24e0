// The shared attempt clock: when each attempt of a round may be announced, and what a receiver accepts.
// Every peer runs the same clock from what it saw of the round (when it became due, the announce it follows);
// their clocks differ by how far apart they adopted the previous result, which the tolerance covers (the
// node passes the grace: results reach every live member within it, or they fail over anyway).
//   attempt 0: due as soon as the round is (the elected aggregator goes first);
//   no announce followed yet: attempt a is due a silences after the round became due (plus the settle);
//   announce of attempt b followed: its aggregator had until its deadline + grace; attempt a > b is due then,
//     plus a - b - 1 silences.
// An attempt whose aggregator no one waits for (gone: its Hellos stopped; or it said it is unreachable) is
// passed over at once: attempt a is also accepted when every attempt from the clock's due one up to a is such.
import type { RoundAnnounce } from './messages.ts'
import { RejectReason } from './reject-reason.ts'
import type { Check } from './round-rules.ts'

export interface AttemptTiming {
  /** how long an attempt may stay silent (the job's round deadline) */
  readonly silenceMs: number
  readonly graceMs: number
  /** extra wait before the first attempt of a first round after start, else 0 */
  readonly settleMs: number
}

export interface RoundProgress {
  /** when the round became due for us: the earliest of our own start and the others' (node: ctx.sharedSince) */
  readonly since: number
  /** the attempt whose announce we follow, -1: none */
  readonly accepted: number
  /** that announce's deadline (unix ms) */
  readonly acceptedDeadlineMs?: number
}

/** The earliest time (unix ms) attempt `a` may be announced, by this peer's view of the round. */
export function attemptDueAt (p: RoundProgress, a: number, t: AttemptTiming): number {
  if (a === 0) return -Infinity
  if (p.accepted < 0 || p.acceptedDeadlineMs === undefined) return p.since + t.settleMs + a * t.silenceMs
  if (a <= p.accepted) return -Infinity // the caller refuses it as stale
  return p.acceptedDeadlineMs + t.graceMs + (a - p.accepted - 1) * t.silenceMs
}

export interface ClockContext {
  readonly progress: RoundProgress
  readonly timing: AttemptTiming
  /** how far ahead of ours another peer's clock may run */
  readonly toleranceMs: number
  readonly nowMs: number
  /** members this peer knows and counts (live, past the membership price), self included */
  readonly eligible: ReadonlySet<string>
  /** attempt k's aggregator is passed over (gone or unreachable, as this peer sees it); default: none is */
  readonly passedOver?: (attempt: number) => boolean
}

/** The latest attempt that the clock alone makes due by `limitMs` (attempt 0 always is). */
export function clockDueAttempt (p: RoundProgress, below: number, limitMs: number, t: AttemptTiming): number {
  let d = below
  while (d > 0 && attemptDueAt(p, d, t) > limitMs) d--
  return d
}

/**
 * The clock's part of an announce check: the attempt is due (within the tolerance), the deadline is ahead of us
 * and no further than one silence (+ tolerance), every listed member is one we know, and the list leaves out
 * at most half of those we know (so a sender can neither invent members nor prune them until it is elected).
 */
export function checkAttemptClock (a: RoundAnnounce, ctx: ClockContext): Check {
  const reached = attemptReached(a.attempt, ctx)
  if (!reached.ok) return reached
  const deadline = Number(a.deadlineMs)
  if (deadline < ctx.nowMs) return no(RejectReason.PastDeadline)
  if (deadline > ctx.nowMs + ctx.timing.silenceMs + ctx.toleranceMs) {
    return no(RejectReason.DeadlineTooFar, `${Math.round((deadline - ctx.nowMs) / 1000)} s ahead`)
  }
  const unknown = a.members.filter((m) => !ctx.eligible.has(m))
  if (unknown.length > 0) return no(RejectReason.UnknownMembers, `${unknown.length} of ${a.members.length}`)
  if (a.members.length * 2 < ctx.eligible.size) {
    return no(RejectReason.PrunedMembers, `${a.members.length} of ${ctx.eligible.size} known`)
  }
  return { ok: true }
}

/**
 * Is attempt `attempt` due by this clock (within the tolerance), or is every attempt from the clock's due one up to
 * it passed over? The announce check's first part; a witness asks it too of a result whose announce it missed.
 */
export function attemptReached (attempt: number,
  ctx: Pick<ClockContext, 'progress' | 'timing' | 'toleranceMs' | 'nowMs' | 'passedOver'>): Check {
  const limit = ctx.nowMs + ctx.toleranceMs
  const due = attemptDueAt(ctx.progress, attempt, ctx.timing)
  if (limit >= due) return { ok: true }
  const passedOver = ctx.passedOver ?? (() => false)
  for (let k = clockDueAttempt(ctx.progress, attempt - 1, limit, ctx.timing); k < attempt; k++) {
    if (!passedOver(k)) {
      return no(RejectReason.AttemptNotDue, `attempt ${attempt} due in ${Math.round(due - ctx.nowMs)} ms`)
    }
  }
  return { ok: true }
}

function no (reason: RejectReason, detail: string | undefined = undefined): Check {
  return { ok: false, reason: detail === undefined ? reason : `${reason}: ${detail}` }
}
