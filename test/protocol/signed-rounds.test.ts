import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { attestationStatement, checkCommitments, resultStatement,
  updateStatement } from '../../protocol/signed-update.ts'
import { sign, verifySigned } from '../../node/signatures.ts'
import { attests, isEquivocation, tally } from '../../protocol/witness-rules.ts'
import { checkResult } from '../../protocol/result-rules.ts'
import type { ResultContext } from '../../protocol/result-rules.ts'
import type { Attestation, RoundResult, UpdateCommit } from '../../protocol/messages.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { contradictionEvidence, equivocationEvidence, falseAttestations, verifyEvidence,
  witnessEquivocationEvidence } from '../../protocol/evidence.ts'

const job = 'c'.repeat(64)
const base = new Uint8Array(32).fill(1)
const baseHex = '01'.repeat(32)

async function identity (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

async function commit (who: Awaited<ReturnType<typeof identity>>, round: number, fill: number,
  samples = 10): Promise<UpdateCommit> {
  const hash = new Uint8Array(32).fill(fill)
  const signature = await sign(who.key, updateStatement(job, round, 0, baseHex, Buffer.from(hash).toString('hex'),
    samples))
  return { author: who.id, hash, samples, signature }
}

function result (updates: UpdateCommit[], over: Partial<RoundResult> = {}): RoundResult {
  return { jobId: job, round: 1, attempt: 0, baseHash: base, newHash: new Uint8Array(32).fill(5),
    selected: updates.map((u) => u.author), included: updates.map((u) => u.author), excluded: [], trainLoss: 1,
    bytes: 1n, seconds: 1, adapterBytes: 1n, updates, ...over }
}

test('a result commits to signed updates; any forged, moved or re-dated commitment is caught', async () => {
  const [a, b] = [await identity(), await identity()]
  const ups = [await commit(a, 1, 2), await commit(b, 1, 3)]
  assert.deepEqual(await checkCommitments(result(ups), verifySigned), { ok: true })
  const reason = async (r: RoundResult): Promise<string> => {
    const c = await checkCommitments(r, verifySigned)
    return c.ok ? 'ok' : c.reason.split(':')[0]!
  }
  // inflated weight
  assert.equal(await reason(result([ups[0]!, { ...ups[1]!, samples: 1000 }])), RejectReason.BadSignature)
  // swapped update
  const swapped = { ...ups[1]!, hash: new Uint8Array(32).fill(9) }
  assert.equal(await reason(result([ups[0]!, swapped])), RejectReason.BadSignature)
  assert.equal(await reason(result([ups[0]!, { ...ups[1]!, author: a.id }], { included: [a.id, a.id] })),
    RejectReason.BadSignature)
  assert.equal(await reason(result(ups, { round: 2 })), RejectReason.BadSignature) // an old round's update replayed
  assert.equal(await reason(result(ups.slice(0, 1), { included: [a.id, b.id] })), RejectReason.BadCommitment)
  assert.equal(await reason(result(ups, { included: [b.id, a.id] })), RejectReason.BadCommitment)
  const outsider = await commit(await identity(), 1, 4)
  assert.equal(await reason(result(ups, { excluded: [{ peer: b.id, reason: 'norm', update: outsider }] })),
    RejectReason.BadSignature)
})

test('results and attestations are signed over their bytes; equivocation is two signed results for one attempt',
  async () => {
  const agg = await identity()
  const w = await identity()
  const ups = [await commit(agg, 1, 2)]
  const r1 = result(ups)
  r1.signature = await sign(agg.key, resultStatement(r1))
  assert.equal(await verifySigned(agg.id, resultStatement(r1), r1.signature), true)
  assert.equal(await verifySigned(w.id, resultStatement(r1), r1.signature), false)
  const r2 = { ...r1, newHash: new Uint8Array(32).fill(6) }
  assert.equal(await verifySigned(agg.id, resultStatement(r2), r1.signature), false)
  assert.equal(isEquivocation(r1, r2), true)
  assert.equal(isEquivocation(r1, { ...r1 }), false)
  assert.equal(isEquivocation(r1, { ...r2, attempt: 1 }), false)
  const at: Attestation = { jobId: job, round: 1, attempt: 0, aggregator: agg.id, baseHash: base, newHash: r1.newHash,
    agree: true, reason: '', signature: new Uint8Array(0), witness: w.id }
  at.signature = await sign(w.key, attestationStatement(at))
  assert.equal(await verifySigned(w.id, attestationStatement(at), at.signature), true)
  assert.equal(await verifySigned(w.id, attestationStatement({ ...at, agree: false }), at.signature), false)
  assert.equal(attests(at, r1, agg.id), true)
  assert.equal(attests(at, r2, agg.id), false)
  assert.equal(await verifySigned('not a peer id', attestationStatement(at), at.signature), false)
})

test('tally: a quorum of the drawn witnesses confirms or contradicts; others do not count', () => {
  const W = ['w1', 'w2', 'w3']
  const v = (...xs: Array<[string, boolean]>): Map<string, boolean> => new Map(xs)
  assert.equal(tally(v(['w1', true]), W, 2), 'pending')
  assert.equal(tally(v(['w1', true], ['w2', true]), W, 2), 'confirmed')
  assert.equal(tally(v(['w1', true], ['w2', false]), W, 2), 'pending')
  assert.equal(tally(v(['w1', false], ['w3', false]), W, 2), 'contradicted')
  assert.equal(tally(v(['x', true], ['y', true], ['w1', true]), W, 2), 'pending') // not witnesses
  assert.equal(tally(v(['w1', true]), ['w1'], 2), 'confirmed') // a two-member job has one witness
  assert.equal(tally(v(), [], 2), 'confirmed') // and a one-member job none
})

test('a result is considered only from the announced aggregator, for the next round, within the job', () => {
  const ctx: ResultContext = { sender: 'agg', completedRound: 3, totalRounds: 5, globalHash: baseHex,
    announced: new Map([[0, 'agg']]), excluded: new Set() }
  const r = (over: Partial<RoundResult>): RoundResult => result([], { round: 4, ...over })
  const check = (x: RoundResult, c: Partial<ResultContext> = {}, b = baseHex): string => {
    const k = checkResult(x, b, { ...ctx, ...c })
    return k.ok ? 'ok' : k.reason
  }
  assert.equal(check(r({})), 'ok')
  assert.equal(check(r({ round: 3000 })), RejectReason.JobFinished)
  assert.equal(check(r({ round: 5 })), RejectReason.RoundOutOfWindow)
  assert.equal(check(r({ round: 3 })), RejectReason.StaleRound)
  assert.equal(check(r({}), {}, 'ff'.repeat(32)), RejectReason.WrongBase)
  assert.equal(check(r({ attempt: 1 })), RejectReason.NoAnnounce)
  assert.equal(check(r({}), { sender: 'rogue' }), RejectReason.NotAggregator)
  assert.equal(check(r({}), { excluded: new Set(['agg']) }), RejectReason.Offender)
})

test('evidence proves itself: two signed results for one attempt, or a result a quorum of witnesses signed against',
  async () => {
  const agg = await identity()
  const ws = [await identity(), await identity(), await identity()]
  const signed = async (r: RoundResult): Promise<RoundResult> => ({ ...r,
    signature: await sign(agg.key, resultStatement(r)) })
  const r1 = await signed(result([await commit(agg, 1, 2)]))
  const r2 = await signed({ ...r1, newHash: new Uint8Array(32).fill(8) })
  assert.equal(await verifyEvidence(equivocationEvidence(agg.id, r1, r2), 2, verifySigned), true)
  // the same result twice
  assert.equal(await verifyEvidence(equivocationEvidence(agg.id, r1, r1), 2, verifySigned), false)
  // blames someone else
  assert.equal(await verifyEvidence(equivocationEvidence(ws[0]!.id, r1, r2), 2, verifySigned), false)
  // forged
  const forged = { ...r2, signature: r1.signature }
  assert.equal(await verifyEvidence(equivocationEvidence(agg.id, r1, forged), 2, verifySigned), false)
  const against = async (w: typeof ws[number], agree = false): Promise<Attestation> => {
    const a: Attestation = { jobId: job, round: 1, attempt: 0, aggregator: agg.id, baseHash: base, newHash: r1.newHash,
      agree, reason: RejectReason.HashMismatch, signature: new Uint8Array(0), witness: w.id }
    return { ...a, signature: await sign(w.key, attestationStatement(a)) }
  }
  const two = [await against(ws[0]!), await against(ws[1]!)]
  assert.equal(await verifyEvidence(contradictionEvidence(agg.id, r1, two), 2, verifySigned), true)
  // one witness twice
  assert.equal(await verifyEvidence(contradictionEvidence(agg.id, r1, [two[0]!, two[0]!]), 2, verifySigned), false)
  assert.equal(await verifyEvidence(contradictionEvidence(agg.id, r1, [two[0]!, await against(ws[2]!, true)]), 2,
    verifySigned), false)
  assert.equal(await verifyEvidence(contradictionEvidence(agg.id, r1, [two[0]!, { ...two[1]!, witness: ws[2]!.id }]), 2,
    verifySigned), false)
})

test('evidence against a witness: two opposite attestations, or a recomputation claim a quorum refuted', async () => {
  const agg = await identity()
  const ws = [await identity(), await identity(), await identity()]
  const att = async (w: typeof ws[number], agree: boolean, reason = RejectReason.HashMismatch as string,
    over: Partial<Attestation> = {}): Promise<Attestation> => {
    const a: Attestation = { jobId: job, round: 2, attempt: 1, aggregator: agg.id, baseHash: base,
      newHash: new Uint8Array(32).fill(5), agree, reason: agree ? '' : reason, signature: new Uint8Array(0),
      witness: w.id, ...over }
    return { ...a, signature: await sign(w.key, attestationStatement(a)) }
  }
  const ok = async (e: Parameters<typeof verifyEvidence>[0]): Promise<boolean> =>
    await verifyEvidence(e, 2, verifySigned)
  const yes = await att(ws[0]!, true)
  assert.equal(await ok(witnessEquivocationEvidence(yes, await att(ws[0]!, false))), true)
  assert.equal(await ok(witnessEquivocationEvidence(yes, await att(ws[0]!, true))), false, 'the same verdict twice')
  assert.equal(await ok(witnessEquivocationEvidence(yes, await att(ws[1]!, false))), false, 'two witnesses')
  assert.equal(await ok(witnessEquivocationEvidence(yes, await att(ws[0]!, false, RejectReason.HashMismatch,
    { newHash: new Uint8Array(32).fill(6) }))), false, 'two different results')
  // one liar among three: the quorum's agreement refutes its mismatch claim
  const liar = await att(ws[2]!, false, `${RejectReason.HashMismatch}: recomputed 0123`)
  const honest = [yes, await att(ws[1]!, true)]
  const found = falseAttestations([...honest, liar], 2)
  assert.deepEqual(found.map((e) => [e.kind, e.offender]), [[RejectReason.FalseAttestation, ws[2]!.id]])
  assert.equal(await ok(found[0]!), true)
  // refuted by one only, or by a forged attestation: no evidence
  assert.deepEqual(falseAttestations([honest[0]!, liar], 2), [])
  assert.equal(await ok({ ...found[0]!, attestations: found[0]!.attestations.slice(0, 2) }), false)
  const forged = { ...honest[1]!, witness: ws[0]!.id }
  assert.deepEqual(falseAttestations([honest[0]!, forged, liar], 2), [], 'two claims by one signer count once')
  // "could not fetch an update" is not a recomputation claim: the aggregator may have served some witnesses only
  assert.deepEqual(falseAttestations([...honest, await att(ws[2]!, false, RejectReason.UpdateUnavailable)], 2), [])
  // an agreeing witness of a result a quorum refuted by recomputation is refuted too
  const against = [await att(ws[0]!, false), await att(ws[1]!, false, RejectReason.BadCommitment)]
  const colluder = falseAttestations([...against, await att(ws[2]!, true)], 2)
  assert.deepEqual(colluder.map((e) => e.offender), [ws[2]!.id])
  assert.equal(await ok(colluder[0]!), true)
})
