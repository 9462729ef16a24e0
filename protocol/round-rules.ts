// The checks of a round that depend on where we stand (pure: the caller passes the state and the clock).
import type { RoundAnnounce, UpdateHeader } from './messages.ts'
import { electAggregator } from './election.ts'
import { ROUND_WINDOW } from './limits.ts'
import { RejectReason } from './reject-reason.ts'

/** A refusal's reason is a RejectReason label, optionally with ": detail" (withDetail). */
export type Check = { readonly ok: true } | { readonly ok: false, readonly reason: string }
/** What checkAnnounce and checkUpdate return: their reasons are bare labels, so callers may switch on them. */
type RuleCheck = { readonly ok: true } | { readonly ok: false, readonly reason: RejectReason }
const OK = { ok: true } as const
const no = (reason: RejectReason): RuleCheck => ({ ok: false, reason })

export interface AnnounceContext {
  readonly sender: string
  /** rounds we have completed */
  readonly completedRound: number
  /** the highest attempt of this announce's round already accepted (-1: none) */
  readonly acceptedAttempt: number
  /** peers we know to be live members of the job (self included) */
  readonly knownMembers: ReadonlySet<string>
  readonly nowMs: number
}

/** Is `a` (signed by `sender`) a legitimate announce for us to follow? `prevHash` is hex of a.baseHash. */
export function checkAnnounce (a: RoundAnnounce, prevHash: string, ctx: AnnounceContext): RuleCheck {
  if (a.round <= ctx.completedRound) return no(RejectReason.StaleRound)
  if (a.round > ctx.completedRound + ROUND_WINDOW) return no(RejectReason.RoundOutOfWindow)
  if (a.round === ctx.completedRound + 1 && a.attempt <= ctx.acceptedAttempt) return no(RejectReason.StaleAttempt)
  // the sender must be the one the election over the announced members puts at this attempt
  if (electAggregator(a.members, prevHash, a.round, a.attempt) !== ctx.sender) return no(RejectReason.NotElected)
  // the announced members must mostly be peers we know, and must hold most of the peers we know, so a
  // sender can neither invent nor prune a membership until it elects itself
  const known = a.members.filter((m) => ctx.knownMembers.has(m)).length
  if (known * 2 < a.members.length || known * 2 < ctx.knownMembers.size) return no(RejectReason.UnknownMembers)
  if (Number(a.deadlineMs) < ctx.nowMs) return no(RejectReason.PastDeadline)
  return OK
}

export interface UpdateContext {
  readonly sender: string
  readonly round: number
  readonly attempt: number
  readonly baseHash: string
  readonly selected: ReadonlySet<string>
  readonly received: ReadonlySet<string>
  readonly deadlineMs: number
  readonly nowMs: number
  /** the aggregator has stopped collecting (aggregating or done) */
  readonly closed: boolean
}

/** May the aggregator take this update header? Checked before a single adapter byte is read. */
export function checkUpdate (h: UpdateHeader, baseHashHex: string, ctx: UpdateContext): RuleCheck {
  if (h.round !== ctx.round || h.attempt !== ctx.attempt) return no(RejectReason.WrongRound)
  if (baseHashHex !== ctx.baseHash) return no(RejectReason.WrongBase)
  if (!ctx.selected.has(ctx.sender)) return no(RejectReason.NotSelected)
  if (ctx.received.has(ctx.sender)) return no(RejectReason.Duplicate)
  if (ctx.closed || ctx.nowMs > ctx.deadlineMs) return no(RejectReason.Late)
  return OK
}
