// A members answer fits the frame an asker reads (MAX_MEMBERS_FRAME_BYTES), however large the Hellos it holds: a
// Hello carries its sender's addresses, so MAX_MEMBERS of them may not fit. And when a newcomer's asking ends.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { SignedMessage } from '@libp2p/gossipsub'
import type { Libp2p } from '@libp2p/interface'
import { joinedBy, MembersExchange } from '../../node/members-exchange.ts'
import { MembersReply } from '../../protocol/messages.ts'
import { MAX_MEMBERS, MAX_MEMBERS_FRAME_BYTES } from '../../protocol/limits.ts'

test('an answer stops at the frame an asker reads', async () => {
  const topic = 'fedit-members-answer-test'
  const exchange = new MembersExchange({
    jobId: 'j', topic, timeoutMs: 1000, host: () => ({}) as unknown as Libp2p, self: () => 'me',
    ownHello: async () => new Uint8Array(300), isLive: () => true, handedOn: () => true, membersChanged: () => {},
    joined: () => {}, reject: () => {}, log: () => {}
  })
  const now = Date.now()
  for (let i = 0; i < MAX_MEMBERS; i++) {
    const key = await generateKeyPair('Ed25519')
    // a Hello of 1.5 KB (within the 2 KB a signed Hello may have): 1,024 of them are 1.6 MB
    const msg: SignedMessage = { type: 'signed', from: peerIdFromPrivateKey(key), data: new Uint8Array(1500).fill(i),
      sequenceNumber: 1n, topic, signature: new Uint8Array(64), key: key.publicKey }
    assert.equal(exchange.heard(msg, now), true)
  }
  const reply = await exchange.answer('asker', 'j')
  const bytes = MembersReply.encode(reply).byteLength
  assert.ok(bytes <= MAX_MEMBERS_FRAME_BYTES, `an answer of ${bytes} bytes > ${MAX_MEMBERS_FRAME_BYTES}`)
  assert.ok(reply.hellos.length > 600 && reply.hellos.length < MAX_MEMBERS, `${reply.hellos.length} Hellos`)
  assert.equal(reply.agesMs.length, reply.hellos.length)
})

test('joinedBy: a newcomer asks until a server held what it knows and a job\'s worth, or 3 answers came', () => {
  // a server as new as we are: itself only, which is all we knew; a 100-member job asks again
  assert.equal(joinedBy(1, 1, 100, 1), false)
  assert.equal(joinedBy(1, 1, 1, 1), true, 'without a job size, as before')
  // a settled member of the job: 99 Hellos (its own and 98 others)
  assert.equal(joinedBy(99, 99, 100, 2), true)
  // it held fewer than we now know (we heard some it did not): not yet
  assert.equal(joinedBy(60, 90, 50, 1), false)
  // three answers end the asking whatever they held
  assert.equal(joinedBy(1, 2, 100, 3), true)
})
