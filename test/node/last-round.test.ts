// Two attempts of the job's last round both confirmed: the elected aggregator's result (attempt 0) comes late,
// after its failover's (attempt 1) was confirmed and adopted by four of six peers, but two of attempt 0's witnesses
// are still on round 0 (their fetch of the failover's adapter is held), so they confirm and adopt attempt 0. Once
// the job is done every peer ends on attempt 0 by the fixed rule (lower attempt first), checked as a chain link,
// although most peers held the other (a count of Hellos would have kept attempt 1). A member that then claims an
// unconfirmed "lower" result of the round is asked, refused (chain_no_quorum) and moves no one; so does one its
// witnesses confirmed with a selection of the aggregator's choosing (bad_selection).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { RoundMessage } from '../../protocol/messages.ts'
import type { Attestation, ChainLink, RoundResult } from '../../protocol/messages.ts'
import { roundsTopic } from '../../protocol/topics.ts'
import { electionOrder, selectRandomK } from '../../protocol/election.ts'
import { genesisBeacon, witnessesOf } from '../../protocol/seeds.ts'
import { solvePow } from '../../protocol/membership.ts'
import { attestationStatement, resultStatement } from '../../protocol/signed-update.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { createHost } from '../../node/host.ts'
import { serveChain } from '../../node/chain-sync.ts'
import { libp2pTransport } from '../../node/transfer.ts'
import { sign } from '../../node/signatures.ts'
import { hex } from '../../node/hex.ts'
import type { Transport } from '../../node/types.ts'
import type { Peer } from '../../node/peer.ts'
import type { PrivateKey } from '@libp2p/interface'
import { idsOf } from './trust-fixture.ts'
import { testJob, startNet, until } from './net-fixture.ts'

/** a member with its own paid identity whose Hellos claim round 1 on another adapter, and which serves `link` */
async function claimer (jobId: string, peers: readonly Peer[], link: ChainLink): Promise<{ id: string,
  stop: () => Promise<void> }> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  const host = await createHost({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], local: true })
  await serveChain(host, { jobId, links: (from) => from === 1 ? [link] : [], timeoutMs: 5000 })
  const topic = roundsTopic(jobId)
  host.services.pubsub.subscribe(topic)
  for (const p of peers) await host.dial(multiaddr(p.multiaddrs()[0]!)).catch(() => {})
  const hello = RoundMessage.encode({ hello: { jobId, round: 1, globalHash: link.result!.newHash, beacon:
    new Uint8Array(32), reachability: 0, device: 'cpu', tokensPerSecond: 1, samples: 1, intervalMs: 300, addrs: [],
  powNonce: solvePow(jobId, id, POW_BITS) } })
  const timer = setInterval(() => { host.services.pubsub.publish(topic, hello).catch(() => {}) }, 300)
  return { id, stop: async () => { clearInterval(timer); await host.stop() } }
}

// with these identities: order[0] and order[1] select different trainers, attempt 1 does not select order[0], and
// two of attempt 0's witnesses are neither attempt 1's aggregator nor needed for its quorum
const SEED_BASE = 0
const POW_BITS = 8

test('two confirmed results of the last round: every peer ends on the lower attempt, checked; a forged lower one ' +
  'is refused', { timeout: 120_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 1, minPeers: 6, peersPerRound: 2, roundDeadlineSeconds: 3,
    membership: { powBits: POW_BITS, minAgeRounds: 0 } })
  const ids = await idsOf(6, SEED_BASE)
  const members = [...ids].sort()
  const beacon = genesisBeacon(jobId)
  const [first, failover] = electionOrder(members, beacon, 1)
  const late = witnessesOf(members, beacon, 1, 0, first!, job.witnesses.count).filter((w) => w !== failover)
    .slice(0, 2)
  // precondition of the path below (the identities are fixed)
  assert.ok(witnessesOf(members, beacon, 1, 1, failover!, job.witnesses.count)
    .filter((w) => !late.includes(w) && w !== first).length >= 2)

  // attempt 0's result is published when the test lets go
  let held: RoundResult | undefined
  let releaseFirst!: () => void
  const firstGoes = new Promise<void>((resolve) => { releaseFirst = resolve })
  const holdFirst: Transport = { ...libp2pTransport, publish: async (host, topic, data) => {
    const r = RoundMessage.decode(data).result
    if (r !== undefined && r.attempt === 0) { held = r; await firstGoes }
    await libp2pTransport.publish(host, topic, data)
  } }
  // the two late witnesses fetch nothing but attempt 0's updates and adapter until the test lets go
  let releaseLate!: () => void
  const lateGo = new Promise<void>((resolve) => { releaseLate = resolve })
  const ofFirst = (hash: string): boolean => held !== undefined &&
    (hash === hex(held.newHash) || held.updates.some((u) => hex(u.hash) === hash))
  const holdLate: Transport = { ...libp2pTransport, fetchAdapter: async (host, from, hash, opts) => {
    if (!ofFirst(hash)) await lateGo
    return await libp2pTransport.fetchAdapter(host, from, hash, opts)
  } }
  const net = await startNet(0, job, jobId, {}, SEED_BASE)
  for (const id of ids) {
    await net.addPeer(id === first ? { transport: holdFirst } : late.includes(id) ? { transport: holdLate } : {})
  }
  const byId = (id: string): (typeof net.peers)[number] => net.peers.find((p) => p.peerId === id)!
  const early = net.peers.filter((p) => !late.includes(p.peerId))
  const claimers: Array<{ stop: () => Promise<void> }> = []
  try {
    await until(() => held !== undefined, 30_000, 'the elected aggregator to aggregate the last round')
    await until(() => early.every((p) => p.global.round === 1), 30_000, 'four peers to adopt the failover result')
    const second = early[0]!.rounds.find((r) => r.round === 1)!
    assert.equal(second.attempt, 1)
    assert.notEqual(second.hash, hex(held!.newHash), 'precondition: the two attempts made different adapters')
    for (const id of late) assert.equal(byId(id).global.round, 0, 'the late witnesses are still on round 0')

    releaseFirst()
    await until(() => late.every((id) => byId(id).global.round === 1), 30_000,
      'the late witnesses to confirm and adopt attempt 0')
    for (const id of late) assert.equal(byId(id).global.hash, hex(held!.newHash))
    releaseLate()

    // 4 peers hold attempt 1, 2 hold attempt 0: all end on attempt 0
    await until(() => net.peers.every((p) => p.global.hash === hex(held!.newHash)), 30_000,
      'every peer to end on the lower attempt')
    for (const p of net.peers) {
      const log = p.rounds.filter((r) => r.round === 1)
      assert.equal(log.length, 1, 'one entry for the last round')
      assert.equal(log[0]!.attempt, 0)
      assert.equal(log[0]!.aggregator, first)
    }

    // two members (paid, counted) each claim the round with a "lower" result of attempt 0 that the elected
    // aggregator signed: one no witness confirmed; the other its two late witnesses did confirm, colluding on
    // who trains (a selection the beacon does not give)
    const keyOf = async (id: string): Promise<PrivateKey> => // startNet's identities
      await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(SEED_BASE + ids.indexOf(id) + 1))
    const selected = selectRandomK({ members, k: job.peersPerRound, prevGlobalHash: beacon, round: 1, attempt: 0 })
    const lowerLink = async (fill: number, chosen: string[], attesters: readonly string[]): Promise<ChainLink> => {
      const lower: RoundResult = { ...held!, newHash: new Uint8Array(32).fill(fill), selected: chosen, included: [],
        updates: [], excluded: [], signature: undefined }
      const attestations = await Promise.all(attesters.map(async (witness) => {
        const a: Attestation = { jobId, round: 1, attempt: 0, aggregator: first!, baseHash: lower.baseHash,
          newHash: lower.newHash, agree: true, reason: '', witness, signature: new Uint8Array(0) }
        return { ...a, signature: await sign(await keyOf(witness), attestationStatement(a)) }
      }))
      return { result: { ...lower, signature: await sign(await keyOf(first!), resultStatement(lower)) },
        aggregator: first!, members, powNonces: members.map((m) => solvePow(jobId, m, POW_BITS)), attestations }
    }
    assert.ok(hex(held!.newHash) > '01'.repeat(32), 'precondition: the forged results are the lower ones')
    const refused = new Map<string, Set<string>>()
    for (const p of net.peers) {
      p.events.on('rejected', (e) => {
        if (e.where === 'chain') refused.set(e.from, (refused.get(e.from) ?? new Set()).add(e.reason.split(':')[0]!))
      })
    }
    const unconfirmed = await claimer(jobId, net.peers, await lowerLink(0, selected, []))
    const chosen = members.filter((m) => !selected.includes(m)).slice(0, job.peersPerRound).sort()
    const colluded = await claimer(jobId, net.peers, await lowerLink(1, chosen, late))
    claimers.push(unconfirmed, colluded)
    await until(() => refused.get(unconfirmed.id)?.has(RejectReason.ChainNoQuorum) === true &&
      refused.get(colluded.id)?.has(RejectReason.BadSelection) === true, 30_000,
    () => `both lower results to be refused (${JSON.stringify([...refused].map(([k, v]) => [k.slice(-6), [...v]]))})`)
    for (const p of net.peers) assert.equal(p.global.hash, hex(held!.newHash), 'no one moved to them')
  } finally {
    releaseFirst()
    releaseLate()
    for (const c of claimers) await c.stop()
    await net.close()
  }
})
