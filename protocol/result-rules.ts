// Which RoundResult a member may even consider (before its witnesses confirm it): one for the round after ours,
// within the job, on our global adapter, by the aggregator of an attempt whose announce we checked and followed.
// A result for any other round is refused whatever its sender: catching up follows a chain of confirmed results,
// never a result out of the window. Pure: the caller passes where it stands.
import type { RoundResult } from './messages.ts'
import { RejectReason } from './reject-reason.ts'
import type { Check } from './round-rules.ts'

export interface ResultContext {
  readonly sender: string
  readonly completedRound: number
  readonly totalRounds: number
  /** hex of our global adapter's hash */
  readonly globalHash: string
  /** attempt -> aggregator, for the announces of round completedRound + 1 we checked and followed */
  readonly announced: ReadonlyMap<number, string>
  /** peers with evidence against them */
  readonly excluded: ReadonlySet<string>
}

export function checkResult (r: RoundResult, baseHash: string, ctx: ResultContext): Check {
  const no = (reason: RejectReason): Check => ({ ok: false, reason })
  if (ctx.excluded.has(ctx.sender)) return no(RejectReason.Offender)
  if (r.round > ctx.totalRounds) return no(RejectReason.JobFinished)
  if (r.round <= ctx.completedRound) return no(RejectReason.StaleRound)
  if (r.round > ctx.completedRound + 1) return no(RejectReason.RoundOutOfWindow)
  if (baseHash !== ctx.globalHash) return no(RejectReason.WrongBase)
  const aggregator = ctx.announced.get(r.attempt)
  if (aggregator === undefined) return no(RejectReason.NoAnnounce)
  if (aggregator !== ctx.sender) return no(RejectReason.NotAggregator)
  return { ok: true }
}
