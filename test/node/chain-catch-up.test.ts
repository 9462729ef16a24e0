// Catching up by a chain of confirmed results (docs/round.md "Catch-up"): a peer that joins a finished job
// asks the members whose Hellos claim a later round for the chain, checks every link and adopts the adapter the
// last checked result names. Those who lie are refused with a reason and passed over: a member that claims a far
// round and serves the real chain with the last adapter swapped, and two fake identities that claim a far round,
// one serving a chain they confirm for each other, the other a truncated chain. (A restarted peer catching up by
// the chain: restart.test.ts.)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Attestation, ChainResponse, RoundMessage } from '../../protocol/messages.ts'
import type { ChainLink, RoundResult } from '../../protocol/messages.ts'
import { roundsTopic, CHAIN_PROTOCOL } from '../../protocol/topics.ts'
import { electionOrder, selectRandomK } from '../../protocol/election.ts'
import { genesisBeacon, nextBeacon } from '../../protocol/seeds.ts'
import { solvePow } from '../../protocol/membership.ts'
import { attestationStatement, resultStatement } from '../../protocol/signed-update.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { createHost } from '../../node/host.ts'
import type { FeditHost } from '../../node/host.ts'
import { serveChain } from '../../node/chain-sync.ts'
import { libp2pTransport } from '../../node/transfer.ts'
import { sign } from '../../node/signatures.ts'
import { hex } from '../../node/hex.ts'
import { TransferError } from '../../node/errors.ts'
import type { Peer, Transport } from '../../node/peer.ts'
import { testJob, startNet, until } from './net-fixture.ts'

const POW_BITS = 8
const FAR = 1000
const H = (fill: number): Uint8Array<ArrayBuffer> => new Uint8Array(32).fill(fill)

const fromRound = (links: readonly ChainLink[], from: number, max: number): ChainLink[] =>
  links.filter((l) => l.result!.round >= from).slice(0, max)

const chainOf = (dir: string): ChainLink[] => existsSync(join(dir, 'chain.bin'))
  ? ChainResponse.decode(readFileSync(join(dir, 'chain.bin'))).links : []

/** a host with its own key that pays the proof of work, says in its Hellos that it stands at round `round` and
 * serves `links` */
async function farClaimer (jobId: string, peers: readonly Peer[], round: number, links: ChainLink[]): Promise<{
  host: FeditHost, key: PrivateKey, id: string, stop: () => Promise<void> }> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  const host = await createHost({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], local: true })
  const topic = roundsTopic(jobId)
  host.services.pubsub.subscribe(topic)
  await serveChain(host, { jobId, links: (from, max) => fromRound(links, from, max), timeoutMs: 5000 })
  for (const p of peers) await host.dial(multiaddr(p.multiaddrs()[0]!)).catch(() => {})
  const powNonce = solvePow(jobId, id, POW_BITS)
  const hello = RoundMessage.encode({ hello: { jobId, round, globalHash: H(7), beacon: H(5), reachability: 0,
    device: 'cpu', tokensPerSecond: 1e6, samples: 100, intervalMs: 300, powNonce, addrs: [] } })
  const timer = setInterval(() => { host.services.pubsub.publish(topic, hello).catch(() => {}) }, 300)
  return { host, key, id, stop: async () => { clearInterval(timer); await host.stop() } }
}

test('a late joiner catches up by a checked chain; a lying member and two fake identities cannot move it',
  { timeout: 120_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 3, minPeers: 4, peersPerRound: 3,
    membership: { powBits: POW_BITS, minAgeRounds: 0 } })
  // the member gone bad: honest in its rounds, then its Hellos claim a far round
  let lying = false
  const lyingTransport: Transport = {
    ...libp2pTransport,
    publish: async (host, topic, data) => {
      const m = RoundMessage.decode(data)
      if (lying && m.hello !== undefined) data = RoundMessage.encode({ hello: { ...m.hello, round: FAR + 1 } })
      await libp2pTransport.publish(host, topic, data)
    }
  }
  const net = await startNet(0, job, jobId, {}, 110)
  for (let i = 0; i < 4; i++) await net.addPeer(i === 3 ? { transport: lyingTransport } : {})
  const bad = net.peers[3]!
  const honest = net.peers.slice(0, 3)
  const claimers: Array<{ stop: () => Promise<void> }> = []
  try {
    await until(() => net.peers.every((p) => p.global.round === job.rounds), 60_000, 'the job to complete')
    const final = honest[0]!.global.hash
    // the chain kept in the state folder (written after the adoption)
    await until(() => chainOf(join(net.dir, 'p0')).length === job.rounds, 10_000, 'the chain to be saved')
    const real = chainOf(join(net.dir, 'p0'))
    assert.deepEqual(real.map((l) => l.result!.round), [1, 2, 3])

    // the member serves its real chain with the last result's adapter swapped
    const swapped = real.map((l, i) => i < real.length - 1 ? l
      : { ...l, result: { ...l.result!, newHash: H(9) } })
    await bad.libp2p.unhandle(CHAIN_PROTOCOL)
    await serveChain(bad.libp2p, { jobId, links: (from, max) => fromRound(swapped, from, max), timeoutMs: 5000 })
    lying = true
    // two fake identities: one (claiming the furthest round, so it is asked first) serves, for whatever round it
    // is asked, a result on the asker's adapter that the two confirm for each other; the other the real round 1
    const forged: ChainLink[] = []
    const a = await farClaimer(jobId, net.peers, FAR + 2, forged)
    const b = await farClaimer(jobId, net.peers, FAR, real.slice(0, 1))
    claimers.push(a, b)
    const members = [a.id, b.id].sort()
    let beacon = genesisBeacon(jobId)
    for (const l of real) {
      const round = l.result!.round
      const aggregator = electionOrder(members, beacon, round)[0]!
      const [aggKey, witKey] = aggregator === a.id ? [a.key, b.key] : [b.key, a.key]
      // the selection is the beacon's (a link that lists another is refused before its quorum is counted)
      const selected = selectRandomK({ members, k: job.peersPerRound, prevGlobalHash: beacon, round, attempt: 0 })
      const r: RoundResult = { jobId, round, attempt: 0, baseHash: l.result!.baseHash, newHash: H(8), selected,
        included: [], excluded: [], trainLoss: 0, bytes: 0n, seconds: 0, adapterBytes: 0n, updates: [] }
      const att: Attestation = { jobId, round, attempt: 0, aggregator, baseHash: r.baseHash, newHash: r.newHash,
        agree: true, reason: '', witness: members.find((m) => m !== aggregator)!, signature: new Uint8Array(0) }
      forged.push({ result: { ...r, signature: await sign(aggKey, resultStatement(r)) }, aggregator, members,
        powNonces: members.map((m) => solvePow(jobId, m, POW_BITS)),
        attestations: [{ ...att, signature: await sign(witKey, attestationStatement(att)) }] })
      beacon = nextBeacon(beacon, l.aggregator, l.result!.updates.map((u) => ({ author: u.author, hash: hex(u.hash) })))
    }

    // the joiner's adapter fetches fail until it refused both liars' chains for their lies, so it asks each of them (a
    // refused server is passed over for a while, and the next try asks the others) before it can be done; a stream
    // that failed on a loaded machine is no lie: that server is asked again after its pass-over
    const refused = new Map<string, Set<string>>()
    const heard = (): boolean => refused.get(a.id)?.has(RejectReason.ChainNoQuorum) === true &&
      refused.get(bad.peerId)?.has(RejectReason.BadSignature) === true
    const late = await net.addPeer({ transport: { ...libp2pTransport, fetchAdapter: async (...args) => {
      if (!heard()) throw new TransferError(RejectReason.NotFound, 'held back by the test')
      return await libp2pTransport.fetchAdapter(...args)
    } } })
    late.events.on('rejected', (e) => {
      if (e.where !== 'chain') return
      refused.set(e.from, (refused.get(e.from) ?? new Set()).add(e.reason.split(':')[0]!))
    })
    await until(() => late.global.round === job.rounds, 60_000, 'the late joiner to catch up')
    assert.equal(late.global.hash, final, 'the late joiner stands on the honest adapter')
    await until(heard, 30_000, () =>
      `the liars refused (${JSON.stringify([...refused].map(([k, v]) => [k.slice(-6), [...v]]))})`)
    assert.ok(refused.get(a.id)!.has(RejectReason.ChainNoQuorum),
      `two identities cannot confirm each other (refused for ${[...refused.get(a.id)!].join(', ')})`)
    assert.ok(refused.get(bad.peerId)!.has(RejectReason.BadSignature), 'a swapped adapter breaks the signature')
    if (refused.has(b.id)) assert.ok(refused.get(b.id)!.has(RejectReason.ChainShort), 'a truncated chain is short')
    assert.ok(late.rounds.length === 0 || late.rounds.every((r) => r.aggregator !== a.id && r.aggregator !== b.id))
    // the far claims moved no one
    for (const p of [...honest, late]) assert.equal(p.global.round, job.rounds)
    assert.equal(new Set([...honest, late].map((p) => p.global.hash)).size, 1, 'one global adapter')
    await late.stop()
    assert.deepEqual(chainOf(join(net.dir, 'p4')).map((l) => l.result!.round), [1, 2, 3],
      'the checked chain kept for a restart')
  } finally {
    for (const c of claimers) await c.stop()
    await net.close()
  }
})
