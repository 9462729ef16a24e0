// A member's Hello carries where it listens (node/member-addresses.ts): our own addresses go without our id, and a
// member's are told to the peer store once, again only when they change, so a dial of a member we never connected
// to needs no DHT lookup. The last case: real peers take an outside member's word for where it listens.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { multiaddr } from '@multiformats/multiaddr'
import { MemberAddresses, ownAddrs } from '../../node/member-addresses.ts'
import { RoundMessage } from '../../protocol/messages.ts'
import { roundsTopic } from '../../protocol/topics.ts'
import { solvePow } from '../../protocol/membership.ts'
import { createHost } from '../../node/host.ts'
import { testJob, startNet } from './net-fixture.ts'

test('our own addresses go without our id, at most 4', async () => {
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const relay = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const listening = [
    multiaddr(`/ip4/127.0.0.1/tcp/4001/p2p/${self.toString()}`),
    multiaddr(`/ip4/10.0.0.1/tcp/4001/p2p/${relay.toString()}/p2p-circuit/p2p/${self.toString()}`),
    ...[1, 2, 3].map((i) => multiaddr(`/ip4/192.168.0.${i}/tcp/4001`))
  ]
  const out = ownAddrs(listening, self).map((b) => multiaddr(b).toString())
  assert.deepEqual(out, ['/ip4/127.0.0.1/tcp/4001', `/ip4/10.0.0.1/tcp/4001/p2p/${relay.toString()}/p2p-circuit`,
    '/ip4/192.168.0.1/tcp/4001', '/ip4/192.168.0.2/tcp/4001'])
})

test('a member\'s addresses reach the peer store once, and again when they change', async () => {
  const merged: Array<{ peer: string, addrs: string[] }> = []
  const store = { merge: async (peer: PeerId, data: { multiaddrs?: Multiaddr[] }) => {
    merged.push({ peer: peer.toString(), addrs: (data.multiaddrs ?? []).map((a) => a.toString()) })
    return undefined as never
  } }
  const book = new MemberAddresses(store, () => {})
  const m = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const a = Uint8Array.from(multiaddr('/ip4/127.0.0.1/tcp/1').bytes)
  const b = Uint8Array.from(multiaddr('/ip4/127.0.0.1/tcp/2').bytes)
  book.heard(m, [a])
  book.heard(m, [Uint8Array.from(a)]) // the same address in another Hello
  book.heard(m, [])
  book.heard(m, [a, b])
  assert.deepEqual(merged, [
    { peer: m.toString(), addrs: ['/ip4/127.0.0.1/tcp/1'] },
    { peer: m.toString(), addrs: ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2'] }
  ])
})

test('a member\'s Hello puts the addresses it says into a peer\'s store', { timeout: 60_000 }, async () => {
  const powBits = 8
  const { job, jobId } = testJob({ rounds: 1, minPeers: 8, peersPerRound: 2,
    membership: { powBits, minAgeRounds: 0 } })
  const net = await startNet(2, job, jobId, {}, 20)
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key)
  // an address the member does not listen on: only its Hello can have told the peers of it
  const said = '/ip4/127.0.0.1/tcp/9'
  const host = await createHost({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], local: true })
  const topic = roundsTopic(jobId)
  host.services.pubsub.subscribe(topic)
  const hello = RoundMessage.encode({ hello: { jobId, round: 0, globalHash: new Uint8Array(32), beacon:
    new Uint8Array(32), reachability: 0, device: 'cpu', tokensPerSecond: 1, samples: 1, intervalMs: 300,
    powNonce: solvePow(jobId, id.toString(), powBits), addrs: [Uint8Array.from(multiaddr(said).bytes)] } })
  const timer = setInterval(() => { host.services.pubsub.publish(topic, hello).catch(() => {}) }, 300)
  try {
    for (const p of net.peers) await host.dial(multiaddr(p.multiaddrs()[0]!))
    const stored = async (p: typeof net.peers[number]): Promise<string[]> =>
      (await p.libp2p.peerStore.get(id).catch(() => undefined))?.addresses.map((a) => a.multiaddr.toString()) ?? []
    for (let i = 0; i < 100; i++) {
      if ((await Promise.all(net.peers.map(stored))).every((a) => a.includes(said))) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    for (const p of net.peers) assert.ok((await stored(p)).includes(said), `${p.peerId.slice(-6)} lacks ${said}`)
  } finally {
    clearInterval(timer)
    await host.stop()
    await net.close()
  }
})
