// Members gone bad, with real libp2p nodes on 127.0.0.1: an admitted member (a founder: its proof of work is
// valid and its age needs no waiting) repeats an outsider's attacks from its own, counted identity, then signs
// two opposite attestations of one result; and a minority of a round's witnesses lies, stays silent or signs
// garbage. Every attack ends in a named RejectReason, the honest peers end on one global adapter, and what a
// member signed against itself or against the witnesses' quorum convicts it (evidence kept, excluded).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { RoundMessage } from '../../protocol/messages.ts'
import type { Attestation, RoundAnnounce, RoundResult } from '../../protocol/messages.ts'
import { roundsTopic } from '../../protocol/topics.ts'
import { electionOrder } from '../../protocol/election.ts'
import { genesisBeacon, witnessesOf } from '../../protocol/seeds.ts'
import { solvePow } from '../../protocol/membership.ts'
import { attestationStatement, resultStatement } from '../../protocol/signed-update.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { FEDAVG } from '../../protocol/aggregation-spec.ts'
import type { FeditHost } from '../../node/host.ts'
import { libp2pTransport } from '../../node/transfer.ts'
import { sign } from '../../node/signatures.ts'
import type { Peer, PeerOptions } from '../../node/peer.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import type { AggregateFn } from '../../trainer/aggregate/types.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { testJob, startNet, until } from './net-fixture.ts'
import { untilEvidence, collectReasons, H, idsOf, rogue } from './trust-fixture.ts'

type Msg = Parameters<typeof RoundMessage.encode>[0]

const keyOf = async (seed: number): Promise<PrivateKey> =>
  await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))

test('an admitted member repeating the outsider\'s attacks is refused each time, then convicted for what it signed',
  { timeout: 150_000 }, async () => {
  const SEED = 110
  const { job, jobId } = testJob({ rounds: 6, minPeers: 5, peersPerRound: 3,
    membership: { powBits: 8, minAgeRounds: 2 } })
  const lora = { ...job.lora, targetModules: [...job.lora.targetModules] }
  const net = await startNet(0, job, jobId, {}, SEED)
  // trainers that take a little while, so the attacks land while rounds are open
  for (let i = 0; i < 5; i++) await net.addPeer({ trainer: createFakeTrainer({ lora, samples: 5 + i, delayMs: 800 }) })
  const bad = net.peers[4]!
  const badKey = await keyOf(SEED + 5)
  const honest = net.peers.filter((p) => p !== bad)
  const topic = roundsTopic(jobId)
  const reasons = collectReasons(honest)
  // the member is admitted: honest peers follow announces that count it
  let listed = false
  for (const p of honest) p.events.on('announce', (a) => { if (a.members.includes(bad.peerId)) listed = true })
  const fakes: FeditHost[] = []
  try {
    await until(() => honest.every((p) => p.global.round >= 1), 40_000, 'round 1')
    // two fresh identities that paid their proof of work but are young, backing the member's claim
    const f = [await rogue(net, topic), await rogue(net, topic)]
    fakes.push(...f.map((x) => x.host))
    const pub = async (from: FeditHost, m: Msg): Promise<void> => {
      await from.services.pubsub.publish(topic, RoundMessage.encode(m)).catch(() => {})
    }
    const hello = (id: string): Msg => ({ hello: { jobId, round: job.rounds, globalHash: H(6), beacon: H(5),
      reachability: 0, device: 'cpu', tokensPerSecond: 1e6, samples: 100, intervalMs: 30_000, addrs: [],
      powNonce: solvePow(jobId, id, 8) } })
    let farSent = false
    const attack = async (): Promise<void> => {
      const c = Math.min(...honest.map((p) => p.global.round))
      if (c + 2 <= job.rounds) farSent = true
      const base = new Uint8Array(Buffer.from(honest[0]!.global.hash, 'hex'))
      // signed by the member, as its results would be: only where and when they are sent is wrong
      const result = async (round: number): Promise<RoundResult> => {
        const r: RoundResult = { jobId, round, attempt: 0, baseHash: base, newHash: H(9), selected: [bad.peerId],
          included: [bad.peerId], excluded: [], trainLoss: 0.01, bytes: 1n, seconds: 1, adapterBytes: 1n, updates: [] }
        return { ...r, signature: await sign(badKey, resultStatement(r)) }
      }
      const members = net.peers.map((p) => p.peerId).sort()
      const announce = (over: Partial<RoundAnnounce>): RoundAnnounce => ({ jobId, round: c + 1, attempt: 0,
        baseHash: base, members, selected: members.slice(0, 3), deadlineMs: BigInt(Date.now() + 1500), ...over })
      await pub(bad.libp2p, hello(bad.peerId)) // its own Hellos say the truth again a heartbeat later
      for (const x of f) await pub(x.host, hello(x.id))
      await pub(bad.libp2p, { result: await result(c + 2) })
      await pub(bad.libp2p, { result: await result(3000) })
      await pub(bad.libp2p, { announce: announce({ attempt: 5 }) })
      await pub(bad.libp2p, { announce: announce({ deadlineMs: BigInt(Date.now() + 86_400_000) }) })
      await pub(bad.libp2p, { announce: announce({ members: [...members, f[0]!.id].sort() }) })
    }
    const always = [RejectReason.JobFinished, RejectReason.DeadlineTooFar, RejectReason.UnknownMembers]
    const expected = (): RejectReason[] => farSent ? [...always, RejectReason.RoundOutOfWindow] : always
    const seenAll = (): boolean => expected().every((x) => reasons.has(x)) &&
      (reasons.has(RejectReason.AttemptNotDue) || reasons.has(RejectReason.NotElected))
    for (let i = 0; i < 60 && honest.some((p) => p.global.round < job.rounds - 1) && !seenAll(); i++) {
      await attack()
      await new Promise((resolve) => setTimeout(resolve, 500)) // pacing the attacker, not waiting for a state
    }
    await until(seenAll, 20_000, () => `rejections (seen: ${[...reasons].join(', ')}; far round sent: ${farSent})`)
    assert.ok(listed, 'the member was counted (listed in an announce the honest peers followed)')
    assert.deepEqual(honest.map((p) => p.excluded()), honest.map(() => []), 'refusals alone convict no one')
    assert.ok(!reasons.has(RejectReason.Offender), 'each attack was refused for what it is')

    // now it signs something contradictory: both verdicts on the next result it hears
    bad.libp2p.services.pubsub.addEventListener('message', (evt) => {
      if (evt.detail.topic !== topic) return
      const r = RoundMessage.decode(evt.detail.data).result
      if (r === undefined) return
      void (async () => {
        for (const agree of [true, false]) {
          const a: Attestation = { jobId, round: r.round, attempt: r.attempt, aggregator: evt.detail.type === 'signed'
            ? evt.detail.from.toString() : '', baseHash: r.baseHash, newHash: r.newHash, agree,
          reason: agree ? '' : RejectReason.HashMismatch, signature: new Uint8Array(0), witness: bad.peerId }
          await pub(bad.libp2p, { attestation: { ...a, signature: await sign(badKey, attestationStatement(a)) } })
        }
      })()
    })
    await until(() => honest.every((p) => p.excluded().includes(bad.peerId)) || honest.every((p) =>
      p.global.round === job.rounds), 60_000, 'the member to be convicted')
    await untilEvidence(honest, net, bad.peerId, RejectReason.WitnessEquivocation)
    await until(() => reasons.has(RejectReason.WitnessEquivocation), 10_000, 'the conviction logged as a rejection')
    await until(() => honest.every((p) => p.global.round === job.rounds), 60_000, 'the job to complete')
    assert.equal(new Set(honest.map((p) => p.global.hash)).size, 1, 'one global adapter')
    for (const bogus of [H(6), H(9)]) {
      assert.ok(honest.every((p) => p.global.hash !== Buffer.from(bogus).toString('hex')), 'moved to a bogus adapter')
    }
  } finally {
    await Promise.all(fakes.map(async (h) => await h.stop()))
    await net.close()
  }
})

type WitnessFault = 'lies' | 'stays silent' | 'signs garbage'

/**
 * A job of 5 whose round-1 witnesses (attempt 0, by the genesis beacon) include one that `fault`s: round 1 is
 * still confirmed at attempt 0 by the other two; a liar is convicted of a false attestation.
 */
async function badWitness (fault: WitnessFault, seedBase: number): Promise<void> {
  const { job, jobId } = testJob({ rounds: 2, minPeers: 5, peersPerRound: 3, roundDeadlineSeconds: 6,
    membership: { powBits: 8, minAgeRounds: 2 } })
  const ids = await idsOf(5, seedBase)
  const elected = electionOrder(ids, genesisBeacon(jobId), 1)[0]!
  const liar = witnessesOf(ids, genesisBeacon(jobId), 1, 0, elected, job.witnesses.count)[0]!
  const honestAggregate = buildAggregator(FEDAVG)
  // it recomputes something else, so it signs that the honest result does not match
  const garbage: AggregateFn = (updates, ctx) => {
    const res = honestAggregate(updates, ctx)
    for (const t of res.adapter.tensors.values()) t.data.forEach((v, i) => { t.data[i] = v * 3 })
    return res
  }
  const over: Partial<PeerOptions> = fault === 'lies'
    ? { aggregate: garbage }
    : { transport: { ...libp2pTransport, publish: async (host, topic, data) => {
        const m = RoundMessage.decode(data)
        if (m.attestation !== undefined) {
          if (fault === 'stays silent') return
          const sig = m.attestation.signature.map((b) => b ^ 0xff)
          data = RoundMessage.encode({ attestation: { ...m.attestation, agree: !m.attestation.agree, signature: sig } })
        }
        await libp2pTransport.publish(host, topic, data)
      } } }
  const net = await startNet(0, job, jobId, {}, seedBase)
  let bad: Peer | undefined
  for (const id of ids) {
    const p = await net.addPeer(id === liar ? over : {})
    if (id === liar) bad = p
  }
  const honest = net.peers.filter((p) => p !== bad)
  const reasons = collectReasons(honest)
  try {
    await until(() => honest.every((p) => p.global.round >= 1), 60_000, 'round 1 to be confirmed')
    for (const p of honest) {
      const r1 = p.rounds.find((r) => r.round === 1)!
      assert.deepEqual([r1.aggregator, r1.attempt], [elected, 0], 'round 1 confirmed at its first attempt')
    }
    if (fault === 'lies') {
      await until(() => honest.every((p) => p.excluded().length > 0), 30_000, 'the lying witness to be convicted')
      await untilEvidence(honest, net, liar, RejectReason.FalseAttestation, 1)
      await until(() => reasons.has(RejectReason.FalseAttestation), 10_000, 'the conviction logged as a rejection')
    }
    if (fault === 'signs garbage') {
      await until(() => reasons.has(RejectReason.BadSignature), 10_000, 'its garbage attestation to be refused')
    }
    await until(() => honest.every((p) => p.global.round === job.rounds), 60_000, 'the job to complete')
    assert.equal(new Set(honest.map((p) => p.global.hash)).size, 1, 'one global adapter')
    // silence and a forged signature prove nothing against it: only a signed lie convicts
    if (fault !== 'lies') for (const p of honest) assert.deepEqual(p.excluded(), [])
  } finally {
    await net.close()
  }
}

for (const [fault, seedBase] of [['lies', 120], ['stays silent', 130], ['signs garbage', 140]] as const) {
  test(`one of three witnesses that ${fault} neither blocks nor forces round 1`, { timeout: 120_000 }, async () => {
    await badWitness(fault, seedBase)
  })
}
