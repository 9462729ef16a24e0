// The checks of a round that depend on where we stand (pure: the caller passes the state and the clock).
import type { UpdateHeader } from './messages.ts'
import { RejectReason } from './reject-reason.ts'

/** A refusal's reason is a RejectReason label, optionally with ": detail" (withDetail). */
export type Check = { readonly ok: true } | { readonly ok: false, readonly reason: string }
/** What checkUpdate returns: its reasons are bare labels, so callers may switch on them. (Announces: node/trust.ts
 * composes attempt-clock.ts, seeds.ts and the round window.) */
type RuleCheck = { readonly ok: true } | { readonly ok: false, readonly reason: RejectReason }
const OK = { ok: true } as const
const no = (reason: RejectReason): RuleCheck => ({ ok: false, reason })

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

/** What the aggregator took from a sender: the update's hash, weight and its author's signature over them. */
export interface TakenCommit {
  readonly hash: Uint8Array
  readonly samples: number
  readonly signature: Uint8Array
}

/**
 * Is this push the update we already took from its sender, sent again? Its first ack came back late (a busy
 * loop) or not at all, and the author retried: it is answered with the same receipt, even after the collection
 * closed (the update was taken in time), so the author keeps its proof instead of a `duplicate` refusal.
 */
export function isResend (h: UpdateHeader, baseHashHex: string, ctx: Pick<UpdateContext, 'round' | 'attempt' |
'baseHash'>, taken: TakenCommit | undefined): boolean {
  return taken !== undefined && h.round === ctx.round && h.attempt === ctx.attempt && baseHashHex === ctx.baseHash &&
    h.samples === taken.samples && sameBytes(h.adapterHash, taken.hash) && h.signature !== undefined &&
    sameBytes(h.signature, taken.signature)
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i])
}
