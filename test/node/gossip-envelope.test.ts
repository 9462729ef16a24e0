// A gossip envelope handed on outside gossip opens only as its author signed it, and the members exchange keeps
// each author's Hellos in order: an old gossiped one that comes late is not taken, and a sealed one (our own,
// handed on) does not make the author's later gossiped ones look old.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { SignedMessage } from '@libp2p/gossipsub'
import { RPC } from '@libp2p/gossipsub/message'
import { envelopeOf, openEnvelope, sealEnvelope, SEALED_SEQNO } from '../../node/gossip-envelope.ts'
import { MembersExchange } from '../../node/members-exchange.ts'
import type { MembersHost } from '../../node/members-exchange.ts'
import { MAX_SIGNED_HELLO_BYTES } from '../../protocol/limits.ts'

const TOPIC = '/fedit/' + 'a'.repeat(64) + '/rounds'

test('a sealed envelope opens as its author\'s; altered, foreign or oversized ones say why', async () => {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key)
  const data = new TextEncoder().encode('a hello')
  const sealed = await sealEnvelope(key, id.toMultihash().bytes, TOPIC, data)
  const opened = await openEnvelope(sealed, TOPIC)
  assert.ok(opened.ok)
  assert.equal(opened.from, id.toString())
  assert.deepEqual(opened.data, data)
  assert.ok((opened.seqno & SEALED_SEQNO) !== 0n)

  const m = RPC.Message.decode(sealed)
  const altered = RPC.Message.encode({ ...m, data: new TextEncoder().encode('a hellO') })
  assert.deepEqual(await reason(altered), 'bad_signature')
  // another author's id with our signature
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  assert.deepEqual(await reason(RPC.Message.encode({ ...m, from: other.toMultihash().bytes })), 'bad_signature')
  assert.deepEqual(await reason(RPC.Message.encode({ ...m, signature: new Uint8Array(3) })), 'bad_signature')
  assert.deepEqual(await reason(sealed, '/fedit/other/rounds'), 'wrong_job')
  assert.deepEqual(await reason(RPC.Message.encode({ ...m, seqno: new Uint8Array(4) })), 'malformed')
  assert.deepEqual(await reason(RPC.Message.encode({ ...m, from: new Uint8Array([1, 2, 3]) })), 'malformed')
  assert.deepEqual(await reason(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])), 'malformed')
  assert.deepEqual(await reason(new Uint8Array(MAX_SIGNED_HELLO_BYTES + 1)), 'oversized')
})

test('the members exchange takes an author\'s gossiped Hellos in order, sealed ones apart', async () => {
  const key = await generateKeyPair('Ed25519')
  const from = peerIdFromPrivateKey(key)
  const signed = async (seqno: bigint): Promise<SignedMessage> => {
    // signed as gossipsub signs: the envelope it would carry opens
    const data = new TextEncoder().encode(`hello ${seqno}`)
    const s = new Uint8Array(8)
    new DataView(s.buffer).setBigUint64(0, seqno, false)
    const signature = await key.sign(new Uint8Array([...new TextEncoder().encode('libp2p-pubsub:'),
      ...RPC.Message.encode({ from: from.toMultihash().bytes, data, seqno: s, topic: TOPIC })]))
    return { type: 'signed', from, data, sequenceNumber: seqno, topic: TOPIC, signature, key: key.publicKey }
  }
  const x = new MembersExchange({ jobId: 'a'.repeat(64), topic: TOPIC, timeoutMs: 1000 } as unknown as MembersHost)
  const base = BigInt(Date.now()) * 1_000_000n
  const newer = await signed(base + 2n)
  const envelope = envelopeOf(newer)
  assert.ok(envelope !== undefined)
  const opened = await openEnvelope(envelope, TOPIC)
  assert.ok(opened.ok && opened.from === from.toString() && opened.seqno === base + 2n, 'a gossiped envelope opens')
  assert.equal(x.heard(newer, 1000), true)
  assert.equal(x.heard(await signed(base + 1n), 1001), false, 'an older Hello that came late was taken')
  assert.equal(x.heard(newer, 1002), true, 'the same Hello twice (handed on, then gossiped) is heard')
  // a sealed Hello of the author, handed on: its number is above any gossiped one, in a kind of its own
  assert.equal(x.heard(await signed(SEALED_SEQNO | 5n), 1003), true)
  assert.equal(x.heard(await signed(base + 3n), 1004), true, 'a sealed Hello made later gossip look old')
})

test('a member answers each asker once per 2 s and 4 askers a second in all', async () => {
  const key = await generateKeyPair('Ed25519')
  const from = peerIdFromPrivateKey(key).toMultihash().bytes
  const x = new MembersExchange({ jobId: 'j', topic: TOPIC, timeoutMs: 1000, self: () => 'me',
    ownHello: async () => await sealEnvelope(key, from, TOPIC, new Uint8Array([1])),
    isLive: () => true } as unknown as MembersHost)
  const reasons: string[] = []
  for (const asker of ['a', 'b', 'c', 'd', 'e']) reasons.push((await x.answer(asker, 'j')).reason)
  assert.deepEqual(reasons, ['', '', '', '', 'busy'])
  assert.equal((await x.answer('a', 'j')).reason, 'asked too soon')
  assert.equal((await x.answer('f', 'another job')).reason, 'wrong_job')
})

async function reason (bytes: Uint8Array, topic = TOPIC): Promise<string> {
  const o = await openEnvelope(bytes, topic)
  return o.ok ? 'opened' : o.reason
}
