// Signed statements: an author's update, an aggregator's result, a witness's attestation. Each signature covers
// a domain label and the message's protobuf bytes with the signature field empty (protons writes fields in a
// fixed order, so the bytes are the same on every peer), and is checked against the public key inside the
// signer's peer id (node/signatures.ts), so anyone can check it later: a result kept as evidence stays proof.
import { Attestation, RoundResult } from './messages.ts'
import type { UpdateCommit } from './messages.ts'
import { RejectReason } from './reject-reason.ts'
import type { Check } from './round-rules.ts'

const enc = new TextEncoder()
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** What an author signs for its update: the job, round, attempt, base, the update's hash and its sample count. */
export function updateStatement (jobId: string, round: number, attempt: number, baseHash: string, updateHash: string,
  samples: number): Uint8Array {
  return enc.encode(`fedit/update/1\n${jobId}\n${round}\n${attempt}\n${baseHash}\n${updateHash}\n${samples}`)
}

export function resultStatement (r: RoundResult): Uint8Array {
  return labelled('fedit/result/1\n', RoundResult.encode({ ...r, signature: undefined }))
}

export function attestationStatement (a: Attestation): Uint8Array {
  return labelled('fedit/attestation/1\n', Attestation.encode({ ...a, signature: new Uint8Array(0) }))
}

function labelled (label: string, body: Uint8Array): Uint8Array {
  const l = enc.encode(label)
  const out = new Uint8Array(l.byteLength + body.byteLength)
  out.set(l)
  out.set(body, l.byteLength)
  return out
}

/** Does `signature` over `statement` come from peer `signer`'s key? (node/signatures.ts: verifySigned) */
export type VerifyFn = (signer: string, statement: Uint8Array, signature: Uint8Array | undefined) => Promise<boolean>

export async function verifyUpdateCommit (verify: VerifyFn, jobId: string, round: number, attempt: number,
  baseHash: string, c: UpdateCommit): Promise<boolean> {
  return await verify(c.author, updateStatement(jobId, round, attempt, baseHash, hexOf(c.hash), c.samples), c.signature)
}

/**
 * The result commits to its updates: one signed commitment per included author, in the order of `included`,
 * each valid for this round, attempt and base; an excluded update, when the result names one, is signed too.
 */
export async function checkCommitments (r: RoundResult, verify: VerifyFn): Promise<Check> {
  const bad = (detail: string): Check => ({ ok: false, reason: `${RejectReason.BadCommitment}: ${detail}` })
  if (r.updates.length !== r.included.length) {
    return bad(`${r.updates.length} commitments for ${r.included.length} included`)
  }
  const base = hexOf(r.baseHash)
  for (let i = 0; i < r.updates.length; i++) {
    const c = r.updates[i]!
    if (c.author !== r.included[i]) return bad(`commitment ${i} is by another author`)
    if (c.hash.byteLength !== 32) return bad(`commitment ${i} hash`)
    if (!await verifyUpdateCommit(verify, r.jobId, r.round, r.attempt, base, c)) {
      return { ok: false, reason: `${RejectReason.BadSignature}: update of ${c.author.slice(-6)}` }
    }
  }
  for (const x of r.excluded) {
    if (x.update === undefined) continue
    if (x.update.author !== x.peer || !await verifyUpdateCommit(verify, r.jobId, r.round, r.attempt, base, x.update)) {
      return { ok: false, reason: `${RejectReason.BadSignature}: excluded update of ${x.peer.slice(-6)}` }
    }
  }
  return { ok: true }
}
