// kad-dht adds a contact it is connected to, and dials none to add it (patches/@libp2p+kad-dht: it pinged every new
// contact first, and in a job where every member runs the DHT those pings were most of the connections opened while
// rounds ran).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { createHost } from '../../node/host.ts'
import type { FeditHost } from '../../node/host.ts'

interface Table { add: (p: PeerId) => Promise<void>, find: (p: PeerId) => Promise<PeerId | undefined> }

function tableOf (h: FeditHost): Table {
  return (h.services.dht as unknown as { routingTable: Table }).routingTable
}

test('a contact we are not connected to is not dialled to be added; a connected one is added', { timeout: 30_000 },
  async () => {
    const [a, c] = await Promise.all([0, 1].map(async () => await createHost({
      privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], local: true })))
    try {
      await a!.peerStore.merge(c!.peerId, { multiaddrs: c!.getMultiaddrs() })
      await tableOf(a!).add(c!.peerId)
      assert.equal(a!.getConnections(c!.peerId).length, 0, 'the routing table dialled a contact to add it')
      assert.equal(await tableOf(a!).find(c!.peerId), undefined)

      await a!.dial(c!.peerId)
      let found: PeerId | undefined
      for (let i = 0; i < 100 && found === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        found = await tableOf(a!).find(c!.peerId)
      }
      assert.ok(found?.equals(c!.peerId), 'a connected DHT peer never reached the routing table')
    } finally {
      await Promise.all([a!, c!].map(async (h) => { await h.stop() }))
    }
  })
