// verifySigned keeps the checks that passed (node/signatures.ts): a kept check must answer only for the very signer,
// signature and statement bytes that passed, never for a statement changed after, another signer or a bad check.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { sign, verifySigned } from '../../node/signatures.ts'

test('a kept signature check answers only for the same signer, signature and statement', async () => {
  const key = await generateKeyPair('Ed25519')
  const other = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  const otherId = peerIdFromPrivateKey(other).toString()
  const statement = new TextEncoder().encode('round 3: update abc')
  const sig = await sign(key, statement)
  assert.equal(await verifySigned(id, statement, sig), true)
  assert.equal(await verifySigned(id, statement, sig), true, 'kept')
  // the caller's buffer changed after the check: the kept copy is not the caller's
  statement[0] = 0x52
  assert.equal(await verifySigned(id, statement, sig), false, 'another statement under a kept signature')
  statement[0] = 0x72
  assert.equal(await verifySigned(otherId, statement, sig), false, 'another signer')
  const bad = sig.slice()
  bad[5] ^= 1
  assert.equal(await verifySigned(id, statement, bad), false, 'a changed signature')
  assert.equal(await verifySigned(id, statement, bad), false, 'a failed check is not kept')
  assert.equal(await verifySigned(id, statement, sig), true)
})
