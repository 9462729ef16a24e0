// Evidence against a peer, kept in the state folder and shown to anyone: self-contained and checkable
// without trusting whoever kept it (every piece is signed by its author).
//   equivocation: two results one aggregator signed for one (round, attempt), with different adapters;
//   contradicted: a result its aggregator signed, and a quorum of that attempt's witnesses signed disagreeing;
//   witness_equivocation: two attestations one witness signed of one result, one agreeing, one not;
//   false_attestation: a witness's recomputation claim on a result, and a quorum of the result's other witnesses
//     signing the opposite claim (recomputation is deterministic: where the quorum holds, the witness lied).
//   dropped_update: a receipt its aggregator signed for an update, and its signed result that omits it.
import { Attestation, Complaint, RoundResult } from './messages.ts'
import { checkComplaint } from './complaint.ts'
import { attestationStatement, resultStatement } from './signed-update.ts'
import type { VerifyFn } from './signed-update.ts'
import { isEquivocation, isRecomputationClaim, sameSubject } from './witness-rules.ts'
import { RejectReason } from './reject-reason.ts'

export interface Evidence {
  readonly kind: typeof RejectReason.Equivocation | typeof RejectReason.Contradicted |
    typeof RejectReason.DroppedUpdate | typeof RejectReason.WitnessEquivocation | typeof RejectReason.FalseAttestation
  readonly offender: string
  readonly round: number
  readonly attempt: number
  /** base64 of the signed RoundResult(s) */
  readonly results: readonly string[]
  /**
   * base64 of Attestations: contradicted: the disagreeing ones; witness_equivocation: the offender's two;
   * false_attestation: the offender's, then the quorum's opposite ones
   */
  readonly attestations: readonly string[]
  /** dropped_update: base64 of the Complaint (receipt and update) */
  readonly complaint?: string
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))

export function equivocationEvidence (offender: string, a: RoundResult, b: RoundResult): Evidence {
  return { kind: RejectReason.Equivocation, offender, round: a.round, attempt: a.attempt, results: [a, b]
    .map((r) => b64(RoundResult.encode(r))), attestations: [] }
}

export function contradictionEvidence (offender: string, r: RoundResult, against: readonly Attestation[]): Evidence {
  return { kind: RejectReason.Contradicted, offender, round: r.round, attempt: r.attempt,
    results: [b64(RoundResult.encode(r))], attestations: against.map((a) => b64(Attestation.encode(a))) }
}

export function droppedEvidence (c: Complaint): Evidence {
  const r = c.result!
  return { kind: RejectReason.DroppedUpdate, offender: c.aggregator, round: r.round, attempt: r.attempt,
    results: [b64(RoundResult.encode(r))], attestations: [], complaint: b64(Complaint.encode(c)) }
}

export function witnessEquivocationEvidence (a: Attestation, b: Attestation): Evidence {
  return { kind: RejectReason.WitnessEquivocation, offender: a.witness, round: a.round, attempt: a.attempt,
    results: [], attestations: [a, b].map((x) => b64(Attestation.encode(x))) }
}

/**
 * Evidence against every witness of one result whose recomputation claim at least `quorum` others' claims
 * oppose. `signed`: the first attestation of each drawn witness of that result.
 */
export function falseAttestations (signed: readonly Attestation[], quorum: number): Evidence[] {
  const first = new Map<string, Attestation>()
  for (const a of signed) if (!first.has(a.witness)) first.set(a.witness, a)
  const claims = [...first.values()].filter(isRecomputationClaim)
  return claims.flatMap((a) => {
    const opposite = claims.filter((b) => b.agree !== a.agree)
    if (opposite.length < quorum || quorum < 1) return []
    return [{ kind: RejectReason.FalseAttestation, offender: a.witness, round: a.round, attempt: a.attempt,
      results: [], attestations: [a, ...opposite].map((x) => b64(Attestation.encode(x))) }]
  })
}

/** Does the evidence prove what it says? `quorum`: disagreeing attestations needed (contradicted). */
export async function verifyEvidence (e: Evidence, quorum: number, verifySigned: VerifyFn): Promise<boolean> {
  try {
    if (e.kind === RejectReason.WitnessEquivocation || e.kind === RejectReason.FalseAttestation) {
      return await verifyWitnessEvidence(e, quorum, verifySigned)
    }
    const results = e.results.map((s) => RoundResult.decode(unb64(s)))
    for (const r of results) if (!await verifySigned(e.offender, resultStatement(r), r.signature)) return false
    if (e.kind === RejectReason.Equivocation) return results.length === 2 && isEquivocation(results[0]!, results[1]!)
    if (e.kind === RejectReason.DroppedUpdate) {
      const c = Complaint.decode(unb64(e.complaint ?? ''))
      return c.aggregator === e.offender && (await checkComplaint(c, verifySigned)).ok
    }
    const r = results[0]
    if (results.length !== 1 || r === undefined) return false
    const signers = new Set<string>()
    for (const s of e.attestations) {
      const a = Attestation.decode(unb64(s))
      if (a.agree || a.round !== r.round || a.attempt !== r.attempt || a.aggregator !== e.offender) return false
      if (!await verifySigned(a.witness, attestationStatement(a), a.signature)) return false
      signers.add(a.witness)
    }
    return signers.size >= quorum
  } catch {
    return false
  }
}

async function verifyWitnessEvidence (e: Evidence, quorum: number, verifySigned: VerifyFn): Promise<boolean> {
  const atts = e.attestations.map((s) => Attestation.decode(unb64(s)))
  const own = atts[0]
  if (own === undefined || own.witness !== e.offender) return false
  if (own.round !== e.round || own.attempt !== e.attempt) return false
  for (const a of atts) {
    if (!sameSubject(a, own) || !await verifySigned(a.witness, attestationStatement(a), a.signature)) return false
  }
  if (e.kind === RejectReason.WitnessEquivocation) {
    return atts.length === 2 && atts[1]!.witness === e.offender && atts[1]!.agree !== own.agree
  }
  if (!isRecomputationClaim(own)) return false
  const others = new Set<string>()
  for (const a of atts.slice(1)) {
    if (a.witness === e.offender || a.agree === own.agree || !isRecomputationClaim(a)) return false
    others.add(a.witness)
  }
  return quorum >= 1 && others.size >= quorum
}
