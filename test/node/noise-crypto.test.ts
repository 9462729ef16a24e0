// Noise's X25519 with key objects made once (node/noise-crypto.ts) agrees with @libp2p/noise's own crypto byte for
// byte, for the keys we make, a static key from a seed, keys we did not make, and public keys in pieces; refuses a
// malformed or low-order public key; never exports a key it generated (node 20 can deadlock on that); and two real
// hosts handshake over it on 127.0.0.1.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { defaultCrypto } from '@libp2p/noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { noiseCrypto } from '../../node/noise-crypto.ts'
import { createHost } from '../../node/host.ts'

test('the agreement is the stock one\'s, whoever made the keys and however the public key comes', () => {
  const eq = (a: Uint8Array, b: Uint8Array, what: string): void => { assert.equal(Buffer.compare(a, b), 0, what) }
  for (let i = 0; i < 20; i++) {
    const ours = noiseCrypto.generateX25519KeyPair()
    const theirs = defaultCrypto.generateX25519KeyPair()
    const fromSeed = noiseCrypto.generateX25519KeyPairFromSeed(randomBytes(32))
    const stock = defaultCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey)
    eq(noiseCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey), stock, 'our key, their public key')
    eq(noiseCrypto.generateX25519SharedKey(theirs.privateKey, ours.publicKey), stock, 'a key we did not make')
    const pieces = new Uint8ArrayList(theirs.publicKey.subarray(0, 7), theirs.publicKey.subarray(7))
    eq(noiseCrypto.generateX25519SharedKey(ours.privateKey, pieces), stock, 'a public key in pieces')
    eq(noiseCrypto.generateX25519SharedKey(fromSeed.privateKey, theirs.publicKey),
      defaultCrypto.generateX25519SharedKey(fromSeed.privateKey, theirs.publicKey), 'a static key from a seed')
    assert.equal(ours.publicKey.byteLength, 32)
    assert.equal(ours.privateKey.byteLength, 32)
  }
})

test('a key pair is never exported from its key object after it was made (node 20 can deadlock on that)', () => {
  // generated, then exported: a collection during the export that finalizes the key's own generation job takes
  // the lock the export holds, and the process hangs for good (a 100-peer simulation did; a plain loop of
  // generateKeyPairSync + export hangs within 2,000 key pairs under memory pressure, docs/performance.md)
  // the private and public key objects' own classes (PrivateKeyObject, PublicKeyObject) define export
  const sample = generateKeyPairSync('x25519')
  const protos = [Object.getPrototypeOf(sample.privateKey), Object.getPrototypeOf(sample.publicKey)] as
    Array<{ export: (...a: unknown[]) => unknown }>
  const originals = protos.map((p) => p.export)
  let exported = 0
  protos.forEach((p, i) => {
    p.export = function (this: unknown, ...args: unknown[]) { exported++; return originals[i]!.apply(this, args) }
  })
  try {
    for (let i = 0; i < 50; i++) noiseCrypto.generateX25519KeyPair()
  } finally {
    protos.forEach((p, i) => { p.export = originals[i]! })
  }
  assert.equal(exported, 0)
})

test('a malformed or low-order public key is refused (a longer one too, where the stock crypto reads 32 bytes)', () => {
  const ours = noiseCrypto.generateX25519KeyPair()
  for (const bad of [new Uint8Array(0), new Uint8Array(31).fill(9), new Uint8Array(32)]) {
    assert.throws(() => defaultCrypto.generateX25519SharedKey(ours.privateKey, bad))
    assert.throws(() => noiseCrypto.generateX25519SharedKey(ours.privateKey, bad), `${bad.byteLength} bytes`)
  }
  assert.throws(() => noiseCrypto.generateX25519SharedKey(ours.privateKey, new Uint8Array(33).fill(9)))
})

test('two hosts handshake over it and talk', { timeout: 60_000 }, async () => {
  const hosts = await Promise.all([0, 1].map(async () => await createHost({
    privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], local: true })))
  try {
    const [a, b] = hosts as [typeof hosts[0], typeof hosts[0]]
    const rtt = await a.services.ping.ping(multiaddr(b.getMultiaddrs()[0]!.toString()),
      { signal: AbortSignal.timeout(30_000) })
    assert.ok(rtt >= 0)
    assert.equal(a.getConnections(b.peerId)[0]?.encryption, '/noise')
  } finally {
    await Promise.all(hosts.map(async (h) => { await h.stop() }))
  }
})
