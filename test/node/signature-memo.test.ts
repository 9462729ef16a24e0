// Peers hosted in one process check each gossip message's signature once between them (node/signature-memo.ts,
// patches/@libp2p+gossipsub), and the memo takes nothing but the very message that passed: a copy with other data,
// or claiming another author, under the same signature, is checked and refused. The attacker is a libp2p node with
// keys it made itself, writing raw gossipsub RPCs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { Message } from '@libp2p/gossipsub'
import { RPC } from '@libp2p/gossipsub/message'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost } from '../../node/host.ts'
import { processSignatureMemo } from '../../node/signature-memo.ts'
import { envelopeOf, sealEnvelope } from '../../node/gossip-envelope.ts'
import { until } from './net-fixture.ts'

const TOPIC = 'fedit-signature-memo-test'

function varint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return Uint8Array.from(out)
}

test('peers in one process check a signature once, and the memo takes no altered copy', { timeout: 60_000 },
  async () => {
    const keys: PrivateKey[] = await Promise.all([0, 1, 2, 3].map(async () => await generateKeyPair('Ed25519')))
    const [a, b, c, d] = await Promise.all(keys.map(async (privateKey) =>
      await createHost({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], local: true })))
    const rogue = await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { allow: ['/ip4/127.0.0.1/ipcidr/32'] },
      services: { identify: identify() }
    })
    const hosts = [a!, b!, c!]
    // d hears only the attacker: its own seen-cache holds none of a's messages, so only the memo could pass a copy
    d!.services.pubsub.subscribe(TOPIC)
    const atD: Message[] = []
    d!.services.pubsub.addEventListener('message', (e) => { atD.push(e.detail) })
    const checks: string[] = []
    const set = processSignatureMemo.set.bind(processSignatureMemo)
    processSignatureMemo.set = (id, checked) => { checks.push(id); set(id, checked) }
    try {
      const heard = new Map(hosts.map((h) => [h, [] as Message[]]))
      for (const h of hosts) {
        h.services.pubsub.subscribe(TOPIC)
        h.services.pubsub.addEventListener('message', (e) => { heard.get(h)!.push(e.detail) })
      }
      await b!.dial(multiaddr(a!.getMultiaddrs()[0]!))
      await c!.dial(multiaddr(a!.getMultiaddrs()[0]!))
      await c!.dial(multiaddr(b!.getMultiaddrs()[0]!))
      await until(() => hosts.every((h) => h.services.pubsub.getSubscribers(TOPIC).length === 2), 10_000,
        'every host to see the other two subscribed')

      const sent = 5
      for (let i = 0; i < sent; i++) await a!.services.pubsub.publish(TOPIC, new TextEncoder().encode(`hello ${i}`))
      await until(() => heard.get(b!)!.length === sent && heard.get(c!)!.length === sent, 10_000,
        'both receivers to hear every message')
      // two receivers, each sent every message twice (by a, and handed on by the other): one check a message
      assert.equal(checks.length, sent, `${checks.length} signature checks for ${sent} messages heard by 2 peers`)

      // the attacker hands d a's first message with other data, and as c's, under a's signature; then a message a
      // did sign (sealed with its key: a replay is all an attacker can do with it), to know d has read the others
      const genuine = heard.get(b!)![0]!
      if (genuine.type !== 'signed') throw new Error('unsigned message')
      // as gossipsub sent it: its author's key inlined
      const fields = { ...RPC.Message.decode(envelopeOf(genuine)!), key: publicKeyToProtobuf(genuine.key) }
      const forgedData = { ...fields, data: new TextEncoder().encode('poisoned') }
      const forgedAuthor = { ...fields, from: c!.peerId.toMultihash().bytes }
      const marker = RPC.Message.decode(await sealEnvelope(keys[0]!, a!.peerId.toMultihash().bytes, TOPIC,
        new TextEncoder().encode('marker')))
      const stream = await rogue.dialProtocol(multiaddr(d!.getMultiaddrs()[0]!), '/meshsub/1.1.0')
      const rpc = RPC.encode({ subscriptions: [{ subscribe: true, topic: TOPIC }],
        messages: [forgedData, forgedAuthor, marker] })
      stream.send(Uint8Array.from([...varint(rpc.byteLength), ...rpc]))
      await until(() => atD.some((m) => new TextDecoder().decode(m.data) === 'marker'), 10_000,
        'd to take the marker')
      await new Promise((resolve) => setTimeout(resolve, 100))
      const texts = atD.map((m) => new TextDecoder().decode(m.data))
      assert.ok(!texts.includes('poisoned'), 'other data under a checked signature was taken')
      assert.ok(atD.every((m) => m.type === 'signed' && m.from.equals(a!.peerId)),
        'a message claiming another author under a checked signature was taken')
      assert.deepEqual(texts, ['marker'])
    } finally {
      processSignatureMemo.set = set
      await Promise.all([...hosts, d!, rogue].map(async (h) => { await h.stop() }))
    }
  })
