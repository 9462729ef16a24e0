// Discovery on joining a job whose earlier members left: their provider records still point at them, and
// every dial to them waits for its timeout. libp2p queues peer-store writes for each pending dial that listen
// on the dial's signal; with one signal shared by all of a round's dials, a dozen such members gave
// MaxListenersExceededWarning on every join (seen with real peers; here the host is a stand-in that does
// what libp2p's dial does with the signal, so the count of pending dials is exact).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import '../../node/polyfill.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { runDiscovery } from '../../node/discovery.ts'
import type { FeditHost } from '../../node/host.ts'
import { until } from './net-fixture.ts'

test('a dozen pending dials to members who left raise no MaxListenersExceededWarning', async () => {
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(`${w.name}: ${w.message}`) }
  process.on('warning', onWarning)
  const gone: PeerId[] = []
  for (let i = 0; i < 12; i++) gone.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
  const pending = new Set<PeerId>()
  const host = {
    peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
    contentRouting: {
      provide: async () => {},
      findProviders: async function * () { for (const id of gone) yield { id, multiaddrs: [] } }
    },
    getConnections: () => [],
    peerStore: { merge: async () => {} },
    // a member who left never answers: the dial ends when its signal aborts, with a listener per queued write
    dial: async (id: PeerId, o: { signal: AbortSignal }) => {
      pending.add(id)
      await new Promise((resolve, reject) => {
        for (let k = 0; k < 2; k++) o.signal.addEventListener('abort', () => {
          reject(o.signal.reason)
        }, { once: true })
      }).finally(() => pending.delete(id))
    }
  } as unknown as FeditHost
  const stop = new AbortController()
  try {
    // every one of them dialled at once (the target of connected members is not what this test is about)
    void runDiscovery(host, { jobId: 'ab'.repeat(32), intervalMs: 1000, targetMembers: gone.length,
      signal: stop.signal })
    await until(() => pending.size === gone.length, 10_000, 'every member who left to be dialled')
    await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on the next tick
    assert.deepEqual(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')), [])
  } finally {
    stop.abort()
    process.off('warning', onWarning)
  }
})

test('a dial that fails while the walk writes the next member\'s addresses is a handled failure, not a crash',
  async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    const others: PeerId[] = []
    for (let i = 0; i < 3; i++) others.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    const said: string[] = []
    const host = {
      peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
      contentRouting: {
        provide: async () => {},
        findProviders: async function * () {
          for (const id of others) yield { id, multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/9')] }
        }
      },
      getConnections: () => [],
      // a peer-store write that waits (as behind a pending dial's queued writes on a loaded loop) ...
      peerStore: { merge: async () => { await new Promise((resolve) => setTimeout(resolve, 30)) } },
      // ... and a member that refuses at once (as one that left, whose port is closed)
      dial: async () => { throw new Error('connection refused') }
    } as unknown as FeditHost
    const stop = new AbortController()
    try {
      void runDiscovery(host, { jobId: '34'.repeat(32), intervalMs: 1000, targetMembers: others.length,
        signal: stop.signal, onError: (e) => { said.push(e.message) } })
      await until(() => said.some((l) => l.startsWith('none of 3 dials')), 5000, 'the walk to say its dials failed')
      await new Promise((resolve) => setTimeout(resolve, 50)) // unhandled rejections are reported after a turn
      assert.deepEqual(unhandled, [])
    } finally {
      stop.abort()
      process.off('unhandledRejection', onUnhandled)
    }
  })

test('discovery dials only up to the target of connected members, then stops looking', async () => {
  const others: PeerId[] = []
  for (let i = 0; i < 12; i++) others.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
  const dialled = new Set<string>()
  let provides = 0
  let lookups = 0
  const host = {
    peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
    contentRouting: {
      provide: async () => { provides++ },
      findProviders: async function * () { lookups++; for (const id of others) yield { id, multiaddrs: [] } }
    },
    // a dialled member counts as connected, as once its connection opens and it subscribes
    getConnections: (id: PeerId) => dialled.has(id.toString()) ? [{}] : [],
    peerStore: { merge: async () => {} },
    dial: async (id: PeerId) => { dialled.add(id.toString()) }
  } as unknown as FeditHost
  const stop = new AbortController()
  try {
    void runDiscovery(host, { jobId: 'cd'.repeat(32), intervalMs: 100, maxIntervalMs: 100, targetMembers: 5,
      connectedMembers: () => dialled.size, signal: stop.signal })
    await until(() => dialled.size >= 5, 10_000, 'five members to be dialled')
    const [p, l] = [provides, lookups]
    // several more walks' worth of time: connected to the target, it neither looks up nor dials nor provides (the
    // walk that reached the target provided, at once: the fake dials take no time), not for REPROVIDE_MS
    await new Promise((resolve) => setTimeout(resolve, 600))
    assert.equal(dialled.size, 5)
    assert.equal(lookups, l)
    assert.equal(provides, p, `${provides - p} provides after reaching the target`)
  } finally {
    stop.abort()
  }
})

test('a member alone whose lookups find no one says so, and keeps looking at its interval instead of backing off',
  async () => {
    let lookups = 0
    // connected (the bootstrap), so no redial; lookups find no one
    const host = await connectedHost([], 1, () => { lookups++ })
    const said: string[] = []
    const stop = new AbortController()
    try {
      // the interval is 200 ms and backing off would reach 2 s: 8 walks in 2.4 s only if the walks do not back off
      void runDiscovery(host, { jobId: 'ef'.repeat(32), intervalMs: 200, maxIntervalMs: 2000, targetMembers: 3,
        signal: stop.signal, onError: (e) => { said.push(e.message) } })
      await until(() => lookups >= 8, 2400, 'eight lookups')
      // the 1st, 2nd, 4th and 8th empty walks in a row are said, not every one
      const lines = said.filter((l) => l.startsWith('no job member found to dial'))
      assert.ok(lines.length >= 3 && lines.length <= 4, lines.join('\n'))
      assert.match(lines[0]!, /connected to none, 1 peers in the DHT routing table, 1 walks in a row/)
    } finally {
      stop.abort()
    }
  })

test('a member of a small job, connected to all of it, backs off though short of its target', async () => {
  const others: PeerId[] = []
  for (let i = 0; i < 2; i++) others.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
  let lookups = 0
  // connected to both others (and the bootstrap)
  const host = await connectedHost(others, 3, () => { lookups++ })
  const said: string[] = []
  const stop = new AbortController()
  try {
    // walking at its 100 ms interval would be ~25 lookups in 2.5 s; backing off to 2 s, 6 or fewer
    void runDiscovery(host, { jobId: '12'.repeat(32), intervalMs: 100, maxIntervalMs: 2000, targetMembers: 5,
      connectedMembers: () => others.length, signal: stop.signal, onError: (e) => { said.push(e.message) } })
    await new Promise((resolve) => setTimeout(resolve, 2500))
    assert.ok(lookups >= 2 && lookups <= 6, `${lookups} lookups`)
    assert.deepEqual(said, [])
  } finally {
    stop.abort()
  }
})

/** A stand-in host connected to every peer it asks about, whose lookups find `providers` and call `onLookup`. */
async function connectedHost (providers: readonly PeerId[], tableSize: number, onLookup: () => void):
Promise<FeditHost> {
  return {
    peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
    contentRouting: {
      provide: async () => {},
      findProviders: async function * () { onLookup(); for (const id of providers) yield { id, multiaddrs: [] } }
    },
    getConnections: () => [{}],
    services: { dht: { routingTable: { size: tableSize } } },
    peerStore: { merge: async () => {} },
    dial: async () => {}
  } as unknown as FeditHost
}
