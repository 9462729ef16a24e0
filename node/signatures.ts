// Signing and checking the protocol's statements (protocol/signed-update.ts) with libp2p keys: an Ed25519 peer
// id carries its public key, so a signature is checked from the signer's id alone.
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'

export async function sign (key: PrivateKey, statement: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await key.sign(statement))
}

/** Does `signature` over `statement` come from the key of peer id `signer`? False for ids without an inline key. */
export async function verifySigned (signer: string, statement: Uint8Array,
  signature: Uint8Array | undefined): Promise<boolean> {
  if (signature === undefined || signature.byteLength === 0 || signature.byteLength > 1024) return false
  try {
    const key = peerIdFromString(signer).publicKey
    return key !== undefined && await key.verify(statement, signature)
  } catch {
    return false
  }
}
