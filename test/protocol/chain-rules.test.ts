// A chain link is checked by rules no single member controls (protocol/chain-rules.ts): the selection it lists
// is the beacon's, its attempt is one the protocol can reach and its own witnesses confirmed it; of two
// confirmed results of one round the lower attempt, then the lower hash, is the one every peer ends on.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { validateJobSpec, jobIdOf } from '../../protocol/job-spec.ts'
import { checkLink, preferredResult } from '../../protocol/chain-rules.ts'
import type { ChainContext, ChainPoint } from '../../protocol/chain-rules.ts'
import { electionOrder, selectRandomK } from '../../protocol/election.ts'
import { genesisBeacon, witnessesOf } from '../../protocol/seeds.ts'
import { attestationStatement, resultStatement, updateStatement } from '../../protocol/signed-update.ts'
import type { Attestation, ChainLink, RoundResult } from '../../protocol/messages.ts'
import { MAX_ATTEMPTS } from '../../protocol/limits.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { sign, verifySigned } from '../../node/signatures.ts'

const job = validateJobSpec({
  name: 'chain-rules', baseModel: { id: 'stories260K', sha256: '0'.repeat(64) },
  lora: { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'] },
  recipe: { learningRate: 1e-3, batchSize: 2, localSteps: 1, maxLength: 32, seed: 7 },
  rounds: 3, peersPerRound: 2, minPeers: 5, roundDeadlineSeconds: 2
})
const jobId = jobIdOf(job)
const base = new Uint8Array(32).fill(1)
const at: ChainPoint = { round: 0, hash: '01'.repeat(32), beacon: genesisBeacon(jobId) }
const ctx: ChainContext = { jobId, job, powBits: 0, excluded: new Set(), verify: verifySigned, select: selectRandomK }
const label = (c: Awaited<ReturnType<typeof checkLink>>): string => c.ok ? 'ok' : c.reason.split(':')[0]!

async function crowd (n: number): Promise<Map<string, PrivateKey>> {
  const keys = new Map<string, PrivateKey>()
  for (let i = 0; i < n; i++) {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(40 + i))
    keys.set(peerIdFromPrivateKey(key).toString(), key)
  }
  return keys
}

/**
 * A link of round 1, attempt `attempt`, as the live protocol makes it: signed by order[attempt], its trainers the
 * beacon's selection, agreed by `attesters` (default: a quorum of the witnesses that attempt draws).
 */
async function link (keys: Map<string, PrivateKey>, attempt: number, over: Partial<RoundResult> = {},
  attesters?: readonly string[], attestedAttempt = attempt): Promise<ChainLink> {
  const members = [...keys.keys()].sort()
  const aggregator = electionOrder(members, at.beacon, 1)[attempt % members.length]!
  const selected = selectRandomK({ members, k: job.peersPerRound, prevGlobalHash: at.beacon, round: 1, attempt })
  const updates = await Promise.all(selected.map(async (author, i) => {
    const hash = new Uint8Array(32).fill(10 + i)
    const statement = updateStatement(jobId, 1, attempt, at.hash, Buffer.from(hash).toString('hex'), 5)
    return { author, hash, samples: 5, signature: await sign(keys.get(author)!, statement) }
  }))
  const unsigned: RoundResult = { jobId, round: 1, attempt, baseHash: base, newHash: new Uint8Array(32).fill(3),
    selected, included: selected, excluded: [], trainLoss: 1, bytes: 1n, seconds: 1, adapterBytes: 1n, updates,
    ...over }
  const result = { ...unsigned, signature: await sign(keys.get(aggregator)!, resultStatement(unsigned)) }
  const who = attesters ?? witnessesOf(members, at.beacon, 1, attempt, aggregator, job.witnesses.count)
    .slice(0, job.witnesses.quorum)
  const attestations = await Promise.all(who.map(async (witness) => {
    const a: Attestation = { jobId, round: 1, attempt: attestedAttempt, aggregator, baseHash: base,
      newHash: result.newHash, agree: true, reason: '', witness, signature: new Uint8Array(0) }
    return { ...a, signature: await sign(keys.get(witness)!, attestationStatement(a)) }
  }))
  return { result, aggregator, members, powNonces: members.map(() => 0n), attestations }
}

test('a link lists the beacon\'s selection and includes only those it selected', async () => {
  const keys = await crowd(5)
  assert.equal(label(await checkLink(await link(keys, 0), at, ctx)), 'ok')
  assert.equal(label(await checkLink(await link(keys, 1), at, ctx)), 'ok', 'a failover confirmed by its witnesses')
  const members = [...keys.keys()].sort()
  const real = selectRandomK({ members, k: job.peersPerRound, prevGlobalHash: at.beacon, round: 1, attempt: 0 })
  const other = members.filter((m) => !real.includes(m))
  // the aggregator chose who trains (its own friends), and signed that
  const chosen = await link(keys, 0, { selected: other.slice(0, 2) })
  assert.equal(label(await checkLink(chosen, at, ctx)), RejectReason.BadSelection)
  // the right list, but an update of a member it did not select is in
  const sneaked = await link(keys, 0, { included: [real[0]!, other[0]!] })
  assert.equal(label(await checkLink(sneaked, at, ctx)), RejectReason.BadSelection)
  const dropped = await link(keys, 0, { excluded: [{ peer: other[0]!, reason: 'no_update' }] })
  assert.equal(label(await checkLink(dropped, at, ctx)), RejectReason.BadSelection)
})

test('an attempt is vouched for by its own witness quorum, and only attempts the protocol can reach count',
  async () => {
    const keys = await crowd(5)
    const members = [...keys.keys()].sort()
    const order = electionOrder(members, at.beacon, 1)
    // order[2] claims round 1 as attempt 2 (its own place), with attempt 0's witnesses' agreement relabelled: the
    // witnesses attempt 2 draws never vouched for it
    const w0 = witnessesOf(members, at.beacon, 1, 0, order[0]!, job.witnesses.count).filter((w) => w !== order[2])
    const w2 = witnessesOf(members, at.beacon, 1, 2, order[2]!, job.witnesses.count)
    const notTheirs = w0.filter((w) => !w2.includes(w))
    const forged = await link(keys, 2, {}, notTheirs.length > 0 ? notTheirs : w0, 2)
    assert.equal(label(await checkLink(forged, at, ctx)), RejectReason.ChainNoQuorum)
    // attempt-0 attestations do not confirm an attempt-2 result
    const relabelled = await link(keys, 2, {}, w2.slice(0, 2), 0)
    assert.equal(label(await checkLink(relabelled, at, ctx)), RejectReason.ChainNoQuorum)
    // an attempt past the protocol's last
    const far = await link(keys, MAX_ATTEMPTS)
    assert.equal(label(await checkLink({ ...far, result: { ...far.result!, attempt: MAX_ATTEMPTS } }, at, ctx)),
      RejectReason.AttemptNotDue)
  })

test('of two confirmed results of one round: the lower attempt, then the lower hash', () => {
  const r = (attempt: number, fill: number): RoundResult => ({ jobId, round: 1, attempt, baseHash: base,
    newHash: new Uint8Array(32).fill(fill), selected: [], included: [], excluded: [], trainLoss: 0, bytes: 0n,
    seconds: 0, adapterBytes: 0n, updates: [] })
  assert.equal(preferredResult(r(0, 9), r(1, 1)), true, 'the lower attempt, whatever its hash')
  assert.equal(preferredResult(r(1, 1), r(0, 9)), false)
  assert.equal(preferredResult(r(1, 2), r(1, 3)), true, 'one attempt: the lower hash')
  assert.equal(preferredResult(r(1, 3), r(1, 2)), false)
  assert.equal(preferredResult(r(1, 3), r(1, 3)), false, 'never prefers a result over itself')
})
