// Who may confirm a result and when it counts (DESIGN.md "Verifiable rounds"). A result becomes the global
// adapter only with `quorum` agreeing attestations from the attempt's witnesses; `quorum` disagreeing ones
// contradict it. With fewer members than witnesses + 1 the quorum shrinks to the witnesses there are (a job of
// two members has one witness, a job of one none: it trusts itself).
import type { Attestation, RoundResult } from './messages.ts'
import { RejectReason } from './reject-reason.ts'

export interface WitnessSpec {
  /** witnesses drawn per attempt (job spec, default 3) */
  readonly count: number
  /** agreeing attestations that confirm a result, disagreeing ones that contradict it (default 2) */
  readonly quorum: number
}

export const DEFAULT_WITNESSES: WitnessSpec = { count: 3, quorum: 2 }

export function effectiveQuorum (witnesses: number, quorum: number): number {
  return Math.min(quorum, witnesses)
}

export type Tally = 'confirmed' | 'contradicted' | 'pending'

/** The verdict on one result from the attestations heard so far (one per witness, the first kept). */
export function tally (verdicts: ReadonlyMap<string, boolean>, witnesses: readonly string[], quorum: number): Tally {
  const q = effectiveQuorum(witnesses.length, quorum)
  let agree = 0
  let disagree = 0
  for (const w of witnesses) {
    const v = verdicts.get(w)
    if (v === true) agree++
    else if (v === false) disagree++
  }
  if (agree >= q) return 'confirmed'
  if (disagree >= q && q > 0) return 'contradicted'
  return 'pending'
}

/** Does attestation `a` speak of result `r`? (the job's history after it included: a witness vouches for both) */
export function attests (a: Attestation, r: RoundResult, aggregator: string): boolean {
  return a.round === r.round && a.attempt === r.attempt && a.aggregator === aggregator &&
    same(a.baseHash, r.baseHash) && same(a.newHash, r.newHash) && same(a.historyHash ?? NONE, r.historyHash ?? NONE)
}

/** Does attestation `a` speak of the same result as `b` (round, attempt, aggregator, base, new adapter)? */
export function sameSubject (a: Attestation, b: Attestation): boolean {
  return a.jobId === b.jobId && a.round === b.round && a.attempt === b.attempt && a.aggregator === b.aggregator &&
    same(a.baseHash, b.baseHash) && same(a.newHash, b.newHash)
}

/**
 * Does the attestation claim what a recomputation decides (the same on every machine), so that a quorum saying
 * the opposite refutes it? Agreeing always does; disagreeing only for a mismatch found in the bytes. "An update
 * could not be fetched" does not: the aggregator may have served one witness and not another.
 */
export function isRecomputationClaim (a: Attestation): boolean {
  if (a.agree) return true
  const label = a.reason.split(':')[0]
  return label === RejectReason.HashMismatch || label === RejectReason.BadCommitment ||
    label === RejectReason.BadSignature
}

/** Two results signed by one aggregator for one (round, attempt) that differ: it equivocated. */
export function isEquivocation (a: RoundResult, b: RoundResult): boolean {
  return a.jobId === b.jobId && a.round === b.round && a.attempt === b.attempt &&
    (!same(a.newHash, b.newHash) || !same(a.historyHash ?? NONE, b.historyHash ?? NONE))
}

const NONE = new Uint8Array(0)

function same (x: Uint8Array, y: Uint8Array): boolean {
  return x.byteLength === y.byteLength && x.every((v, i) => v === y[i])
}
