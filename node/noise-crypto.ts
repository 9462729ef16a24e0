// Noise's X25519 through node's crypto with key objects made once, and public keys imported as JWK. @libp2p/noise
// 17 (its node crypto) imports both keys of every Diffie-Hellman from DER (PKCS8, SPKI), and OpenSSL 3's decoders
// make that the cost of a handshake: 0.73 ms to import the private key, 0.16 ms the public, 0.06 ms the agreement
// itself (bench/handshake.ts), three agreements and a key pair per handshake at each end. At 100 peers in one
// process, handshakes were ~9 % of its rounds' CPU (docs/performance.md). Here a key pair we generate keeps its
// private key object (a WeakMap on the bytes noise hands back to us), and a public key is imported as JWK (0.01 ms).
// A private key we did not make goes the stock way. The same bytes out (test/node/noise-crypto.test.ts).
//
// A key pair is generated with its JWK encoding made inside the generation (as the stock crypto has its DER made),
// never exported from its key object afterwards: node 20 deadlocks its main thread when a collection, run while an
// export holds a key's lock, finalizes the generation job of that very key (its destructor takes the same lock).
// Generating and then exporting hung a process within 2,000 key pairs under memory pressure, and a 100-peer process
// (bench scale, the paper's simulation) stopped for good, idle, minutes into its run.
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto'
import type { JsonWebKey, KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@libp2p/noise'
import { defaultCrypto } from '@libp2p/noise/crypto'
import type { Uint8ArrayList } from 'uint8arraylist'

const privateKeys = new WeakMap<Uint8Array, KeyObject>()

const base64url = (bytes: Uint8Array | Uint8ArrayList): string => Buffer.from(bytes.subarray()).toString('base64url')

const okp = (x: string, d?: string): JsonWebKey => ({ kty: 'OKP', crv: 'X25519', x, ...d !== undefined ? { d } : {} })

export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  generateX25519KeyPair () {
    // node returns JWK objects for format 'jwk'; @types/node types only the PEM and DER encodings
    const { privateKey: jwk } = generateKeyPairSync('x25519', { publicKeyEncoding: { format: 'jwk' },
      privateKeyEncoding: { format: 'jwk' } } as never) as unknown as { readonly privateKey: JsonWebKey }
    const pair = { publicKey: Buffer.from(jwk.x!, 'base64url'), privateKey: Buffer.from(jwk.d!, 'base64url') }
    privateKeys.set(pair.privateKey, createPrivateKey({ key: jwk, format: 'jwk' }))
    return pair
  },
  generateX25519KeyPairFromSeed (seed) {
    const pair = defaultCrypto.generateX25519KeyPairFromSeed(seed)
    privateKeys.set(pair.privateKey, createPrivateKey({ key: okp(base64url(pair.publicKey), base64url(pair.privateKey)),
      format: 'jwk' }))
    return pair
  },
  generateX25519SharedKey (privateKey, publicKey) {
    const own = privateKey instanceof Uint8Array ? privateKeys.get(privateKey) : undefined
    if (own === undefined) return defaultCrypto.generateX25519SharedKey(privateKey, publicKey)
    const other = createPublicKey({ key: okp(base64url(publicKey)), format: 'jwk' })
    return diffieHellman({ privateKey: own, publicKey: other })
  }
}
