// A selected trainer's complaint about an update the aggregator took and then left out (DESIGN.md "Verifiable
// rounds"). It rests on the aggregator's own signatures, never on the trainer's word: when the aggregator takes a
// pushed update it signs a receipt naming (job, round, attempt, base, author, update hash, samples); a signed
// result of that attempt that neither includes nor excludes the receipted hash convicts it. A complaint without
// a valid receipt proves nothing and is only logged.
import type { Complaint } from './messages.ts'
import { resultStatement } from './signed-update.ts'
import type { VerifyFn } from './signed-update.ts'
import { RejectReason, withDetail } from './reject-reason.ts'
import type { Check } from './round-rules.ts'

const enc = new TextEncoder()
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** What an aggregator signs when it takes an update (the UpdateAck's receipt). */
export function receiptStatement (jobId: string, round: number, attempt: number, baseHash: string, author: string,
  updateHash: string, samples: number): Uint8Array {
  return enc.encode(
    `fedit/receipt/1\n${jobId}\n${round}\n${attempt}\n${baseHash}\n${author}\n${updateHash}\n${samples}`)
}

/** Does the complaint prove that its aggregator signed a receipt for an update its signed result omits? */
export async function checkComplaint (c: Complaint, verify: VerifyFn): Promise<Check> {
  const no = (detail: string): Check => ({ ok: false, reason: withDetail(RejectReason.BadComplaint, detail) })
  const r = c.result
  const u = c.update
  if (r === undefined || u === undefined || r.jobId !== c.jobId) return no('incomplete')
  if (!await verify(c.aggregator, resultStatement(r), r.signature)) return no('result not signed by the aggregator')
  const statement = receiptStatement(r.jobId, r.round, r.attempt, hexOf(r.baseHash), u.author, hexOf(u.hash), u.samples)
  if (!await verify(c.aggregator, statement, c.receipt)) return no('no valid receipt')
  const hash = hexOf(u.hash)
  const named = [...r.updates, ...r.excluded.flatMap((x) => x.update === undefined ? [] : [x.update])]
  if (named.some((n) => n.author === u.author && hexOf(n.hash) === hash)) return no('the result names the update')
  return { ok: true }
}
