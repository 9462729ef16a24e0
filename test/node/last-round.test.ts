// Two attempts of the job's last round both confirmed: the elected aggregator's result (attempt 0) comes late,
// after its failover's (attempt 1) was confirmed and adopted by four of six peers, but two of attempt 0's witnesses
// are still on round 0 (their fetch of the failover's adapter is held), so they confirm and adopt attempt 0. Once
// the job is done every peer ends on attempt 0 by the fixed rule (lower attempt first), checked as a chain link,
// although most peers held the other (a count of Hellos would have kept attempt 1). A member that then claims an
// unconfirmed "lower" result of the round is asked, refused (chain_no_quorum) and moves no one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { RoundMessage } from '../../protocol/messages.ts'
import type { RoundResult } from '../../protocol/messages.ts'
import { roundsTopic } from '../../protocol/topics.ts'
import { electionOrder, selectRandomK } from '../../protocol/election.ts'
import { genesisBeacon, witnessesOf } from '../../protocol/seeds.ts'
import { solvePow } from '../../protocol/membership.ts'
import { resultStatement } from '../../protocol/signed-update.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { createHost } from '../../node/host.ts'
import { serveChain } from '../../node/chain-sync.ts'
import { libp2pTransport } from '../../node/transfer.ts'
import { sign } from '../../node/signatures.ts'
import { hex } from '../../node/hex.ts'
import type { Transport } from '../../node/types.ts'
import { idsOf } from './trust-fixture.ts'
import { testJob, startNet, until } from './net-fixture.ts'

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
  let rogue: Awaited<ReturnType<typeof createHost>> | undefined
  let hellos: NodeJS.Timeout | undefined
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

    // a member (paid, counted) claims the round with a "lower" result of attempt 0 that the elected aggregator
    // signed but no witness confirmed
    const key = await generateKeyPair('Ed25519')
    const rogueId = peerIdFromPrivateKey(key).toString()
    rogue = await createHost({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], local: true })
    const seed = SEED_BASE + ids.indexOf(first!) + 1 // startNet's identities
    const firstKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
    const selected = selectRandomK({ members, k: job.peersPerRound, prevGlobalHash: beacon, round: 1, attempt: 0 })
    const lower: RoundResult = { ...held!, newHash: new Uint8Array(32), selected, included: [], updates: [],
      excluded: [], signature: undefined }
    const link = { result: { ...lower, signature: await sign(firstKey, resultStatement(lower)) }, aggregator: first!,
      members, powNonces: members.map((m) => solvePow(jobId, m, POW_BITS)), attestations: [] }
    await serveChain(rogue, { jobId, links: (from) => from === 1 ? [link] : [], timeoutMs: 5000 })
    const topic = roundsTopic(jobId)
    rogue.services.pubsub.subscribe(topic)
    for (const p of net.peers) await rogue.dial(multiaddr(p.multiaddrs()[0]!)).catch(() => {})
    const refused = new Set<string>()
    for (const p of net.peers) {
      p.events.on('rejected', (e) => {
        if (e.from === rogueId && e.where === 'chain') refused.add(e.reason.split(':')[0]!)
      })
    }
    const zero = new Uint8Array(32)
    const hello = RoundMessage.encode({ hello: { jobId, round: 1, globalHash: zero, beacon: zero, reachability: 0,
      device: 'cpu', tokensPerSecond: 1, samples: 1, intervalMs: 300, powNonce: solvePow(jobId, rogueId, POW_BITS) } })
    const r = rogue
    hellos = setInterval(() => { r.services.pubsub.publish(topic, hello).catch(() => {}) }, 300)
    await until(() => refused.has(RejectReason.ChainNoQuorum), 30_000, 'the unconfirmed lower result to be refused')
    for (const p of net.peers) assert.equal(p.global.hash, hex(held!.newHash), 'no one moved to it')
  } finally {
    releaseFirst()
    releaseLate()
    clearInterval(hellos)
    await rogue?.stop()
    await net.close()
  }
})
