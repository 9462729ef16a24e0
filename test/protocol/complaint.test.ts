// A complaint proves a dropped update by the aggregator's own signatures (its receipt and its result), never by
// the complainant's word; the evidence it becomes checks again anywhere.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Complaint, RoundResult, UpdateCommit } from '../../protocol/messages.ts'
import { checkComplaint, receiptStatement } from '../../protocol/complaint.ts'
import { droppedEvidence, verifyEvidence } from '../../protocol/evidence.ts'
import { resultStatement, updateStatement } from '../../protocol/signed-update.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { sign, verifySigned } from '../../node/signatures.ts'

const H = (fill: number): Uint8Array<ArrayBuffer> => new Uint8Array(32).fill(fill)
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex')

test('a receipt and a result that omits its update convict the aggregator; anything less is a bad complaint',
  async () => {
  const aggKey = await generateKeyPair('Ed25519')
  const trainerKey = await generateKeyPair('Ed25519')
  const aggregator = peerIdFromPrivateKey(aggKey).toString()
  const author = peerIdFromPrivateKey(trainerKey).toString()
  const jobId = 'job'
  const update: UpdateCommit = { author, hash: H(3), samples: 5,
    signature: await sign(trainerKey, updateStatement(jobId, 1, 0, hexOf(H(1)), hexOf(H(3)), 5)) }
  const r: RoundResult = { jobId, round: 1, attempt: 0, baseHash: H(1), newHash: H(2), selected: [author],
    included: [aggregator], excluded: [], trainLoss: 1, bytes: 1n, seconds: 1, adapterBytes: 1n, updates: [] }
  const result = { ...r, signature: await sign(aggKey, resultStatement(r)) }
  const receipt = await sign(aggKey, receiptStatement(jobId, 1, 0, hexOf(H(1)), author, hexOf(H(3)), 5))
  const c: Complaint = { jobId, aggregator, update, receipt, result }

  assert.deepEqual(await checkComplaint(c, verifySigned), { ok: true })
  const e = droppedEvidence(c)
  assert.equal(e.kind, RejectReason.DroppedUpdate)
  assert.equal(await verifyEvidence(e, 2, verifySigned), true)
  assert.equal(await verifyEvidence({ ...e, offender: author }, 2, verifySigned), false, 'only its aggregator')

  const bad = async (x: Complaint): Promise<string> => {
    const v = await checkComplaint(x, verifySigned)
    assert.equal(v.ok, false)
    return v.ok ? '' : v.reason
  }
  // no receipt: the trainer's word alone
  assert.match(await bad({ ...c, receipt: new Uint8Array(0) }), /bad_complaint: no valid receipt/)
  // a receipt the trainer signed itself
  assert.match(await bad({ ...c, receipt: await sign(trainerKey, receiptStatement(jobId, 1, 0, hexOf(H(1)), author,
    hexOf(H(3)), 5)) }), /no valid receipt/)
  // a receipt for another round's update
  assert.match(await bad({ ...c, receipt: await sign(aggKey, receiptStatement(jobId, 2, 0, hexOf(H(1)), author,
    hexOf(H(3)), 5)) }), /no valid receipt/)
  // a result the aggregator did not sign
  assert.match(await bad({ ...c, result: { ...result, newHash: H(9) } }), /result not signed/)
  // the result names the update (included, or excluded with a reason its witnesses judge)
  const naming = async (over: Partial<RoundResult>): Promise<Complaint> => {
    const n = { ...r, ...over }
    return { ...c, result: { ...n, signature: await sign(aggKey, resultStatement(n)) } }
  }
  assert.match(await bad(await naming({ included: [author], updates: [update] })), /names the update/)
  assert.match(await bad(await naming({ excluded: [{ peer: author, reason: 'norm', update }] })), /names the update/)
})
