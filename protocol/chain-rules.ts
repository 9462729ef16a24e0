// Catching up by a chain of confirmed results (DESIGN.md "Catch-up by a chain of confirmed results"): a peer
// behind checks each round it missed by rules no single member controls, from the last round it trusts:
//   the link follows the one before (round + 1, its base is our adapter, within the job);
//   its members paid the job's price (proof of work in the link, allow-list when the job has one);
//   its aggregator is order[attempt] over those members by the beacon we computed, and signed the result, which
//   commits to signed updates;
//   its `selected` list is the beacon's selection for that attempt (as the live announce check), and it includes
//   or excludes only those members;
//   the attempt clock, as far as it can be checked after the fact: the attempt is one the protocol can reach
//   (< MAX_ATTEMPTS), and an attempt past 0 is vouched for by its witness quorum (an honest witness attests only
//   an attempt its own clock accepted, node/trust.ts); between two confirmed attempts of one round the lower
//   wins (preferredResult);
//   a full quorum of the witnesses that beacon draws (never the aggregator) signed agreeing attestations of it
//   (a round of fewer members than a full quorum needs: all it drew, if it lists at least the job's minPeers).
// The next beacon follows from the link's included updates, so the chain's seeds are recomputed, never taken.
// Pure: the caller passes the signature check.
import type { ChainLink, RoundResult } from './messages.ts'
import type { JobSpec } from './job-spec.ts'
import { electAggregator } from './election.ts'
import type { SelectFn } from './election.ts'
import { verifyPow } from './membership.ts'
import { checkResultSelection, nextBeacon, witnessesOf } from './seeds.ts'
import { attests, effectiveQuorum } from './witness-rules.ts'
import { attestationStatement, checkCommitments, resultStatement } from './signed-update.ts'
import type { VerifyFn } from './signed-update.ts'
import { HASH_BYTES, MAX_ATTEMPTS, MAX_MEMBERS, MAX_PEER_ID_CHARS } from './limits.ts'
import { RejectReason, withDetail } from './reject-reason.ts'

/** where a verified chain stands: the last confirmed round, its adapter's hash and the next round's beacon */
export interface ChainPoint { readonly round: number, readonly hash: string, readonly beacon: string }

export interface ChainContext {
  readonly jobId: string
  readonly job: JobSpec
  /** proof-of-work bits an identity must show (0 in a private job) */
  readonly powBits: number
  readonly allowList?: ReadonlySet<string>
  /** peers we hold evidence against: left out of the witness draw, as the live peers did */
  readonly excluded: ReadonlySet<string>
  readonly verify: VerifyFn
  /** the job's selection rule (the one the live announce check uses) */
  readonly select: SelectFn
}

export type LinkCheck =
  | { readonly ok: true, readonly next: ChainPoint }
  | { readonly ok: false, readonly reason: string }

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex')

export async function checkLink (l: ChainLink, at: ChainPoint, ctx: ChainContext): Promise<LinkCheck> {
  const no = (reason: RejectReason, detail?: string): LinkCheck => ({ ok: false, reason: withDetail(reason, detail) })
  const r = l.result
  if (r === undefined) return no(RejectReason.Malformed, 'no result')
  if (r.jobId !== ctx.jobId) return no(RejectReason.WrongJob)
  if (r.round > ctx.job.rounds) return no(RejectReason.JobFinished)
  if (r.round !== at.round + 1) return no(RejectReason.ChainBroken, `round ${r.round} after ${at.round}`)
  if (hexOf(r.baseHash) !== at.hash) return no(RejectReason.ChainBroken, `round ${r.round} is not on our adapter`)
  if (r.newHash.byteLength !== HASH_BYTES) return no(RejectReason.BadField, 'newHash')
  const m = l.members
  if (m.length === 0 || m.length > MAX_MEMBERS || l.powNonces.length !== m.length) {
    return no(RejectReason.BadField, 'members')
  }
  for (let i = 0; i < m.length; i++) {
    if (m[i]!.length > MAX_PEER_ID_CHARS || (i > 0 && m[i - 1]! >= m[i]!)) return no(RejectReason.BadField, 'members')
    if (ctx.allowList !== undefined && !ctx.allowList.has(m[i]!)) return no(RejectReason.NotAllowed, m[i]!.slice(-6))
    if (!verifyPow(ctx.jobId, m[i]!, l.powNonces[i]!, ctx.powBits)) {
      return no(RejectReason.BadProofOfWork, m[i]!.slice(-6))
    }
  }
  if (r.attempt >= MAX_ATTEMPTS) return no(RejectReason.AttemptNotDue, `round ${r.round} attempt ${r.attempt}`)
  if (electAggregator(m, at.beacon, r.round, r.attempt) !== l.aggregator) {
    return no(RejectReason.NotElected, `round ${r.round} attempt ${r.attempt}`)
  }
  const selection = checkResultSelection(r, m, at.beacon, ctx.job.peersPerRound, ctx.select)
  if (!selection.ok) return selection
  if (!await ctx.verify(l.aggregator, resultStatement(r), r.signature)) return no(RejectReason.BadSignature, 'result')
  const commits = await checkCommitments(r, ctx.verify)
  if (!commits.ok) return { ok: false, reason: commits.reason }
  const witnesses = witnessesOf(m.filter((p) => !ctx.excluded.has(p)), at.beacon, r.round, r.attempt, l.aggregator,
    ctx.job.witnesses.count)
  // the job's full quorum; a round of fewer members than that needs (a small job's first rounds) confirms with
  // every witness it drew, as the live gate does, only when it lists at least the job's minPeers members: no
  // round starts with fewer, so forging one takes as many paid identities as the job's author asked for
  const full = Math.max(1, ctx.job.witnesses.quorum)
  const quorum = m.length >= ctx.job.minPeers ? Math.max(1, effectiveQuorum(witnesses.length, full)) : full
  const agreeing = new Set<string>()
  for (const a of l.attestations.slice(0, witnesses.length)) {
    if (!a.agree || !witnesses.includes(a.witness) || agreeing.has(a.witness) || !attests(a, r, l.aggregator)) continue
    if (await ctx.verify(a.witness, attestationStatement(a), a.signature)) agreeing.add(a.witness)
  }
  if (agreeing.size < quorum) {
    return no(RejectReason.ChainNoQuorum, `round ${r.round}: ${agreeing.size} of ${quorum} witnesses`)
  }
  const next = nextBeacon(at.beacon, l.aggregator, r.updates.map((u) => ({ author: u.author, hash: hexOf(u.hash) })))
  return { ok: true, next: { round: r.round, hash: hexOf(r.newHash), beacon: next } }
}

export interface CheckedChain {
  readonly valid: readonly ChainLink[]
  readonly head: ChainPoint
  /** the point the last valid link was checked from (`at` when none was) */
  readonly before: ChainPoint
  /** why the first link that does not check was refused */
  readonly reason?: string
}

/** The links from `at` on that check, in order, up to the first that does not (its reason). */
export async function checkChain (links: readonly ChainLink[], at: ChainPoint, ctx: ChainContext):
Promise<CheckedChain> {
  let head = at
  let before = at
  for (let i = 0; i < links.length; i++) {
    const c = await checkLink(links[i]!, head, ctx)
    if (!c.ok) return { valid: links.slice(0, i), head, before, reason: c.reason }
    before = head
    head = c.next
  }
  return { valid: links, head, before }
}

/**
 * Of two confirmed results of one round (a late first aggregator and its failover, each confirmed by its own
 * witnesses), the one every peer ends on: the lower attempt (the one the clock was due for first), then the lower
 * adapter hash. A fixed rule, so honest peers agree without counting anyone; it is applied only to a result whose
 * link checked.
 */
export function preferredResult (a: RoundResult, b: RoundResult): boolean {
  if (a.attempt !== b.attempt) return a.attempt < b.attempt
  return hexOf(a.newHash) < hexOf(b.newHash)
}
