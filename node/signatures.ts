// Signing and checking the protocol's statements (protocol/signed-update.ts) with libp2p keys: an Ed25519 peer
// id carries its public key, so a signature is checked from the signer's id alone.
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'

export async function sign (key: PrivateKey, statement: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await key.sign(statement))
}

// The statements this process has found well signed, for every peer it hosts: each peer of a job checks the same
// update commits and attestations, and 100 peers in one process checked each of them 100 times (~2 % of a
// 100-peer process's round time, docs/performance.md session 23). A hit needs the same signer, signature and
// statement bytes as a check that passed; a failed check is never kept. A peer alone in its process gains little
// (a witness checks the commits a result repeats).
const VERIFIED_KEPT = 4096
const verified = new Map<string, Uint8Array>()

function alreadyVerified (key: string, statement: Uint8Array): boolean {
  const kept = verified.get(key)
  return kept !== undefined && Buffer.from(kept.buffer, kept.byteOffset, kept.byteLength).equals(statement)
}

/** Does `signature` over `statement` come from the key of peer id `signer`? False for ids without an inline key. */
export async function verifySigned (signer: string, statement: Uint8Array,
  signature: Uint8Array | undefined): Promise<boolean> {
  if (signature === undefined || signature.byteLength === 0 || signature.byteLength > 1024) return false
  const sigText = Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64')
  const memoKey = `${signer}/${sigText}`
  if (alreadyVerified(memoKey, statement)) return true
  try {
    const key = peerIdFromString(signer).publicKey
    const ok = key !== undefined && await key.verify(statement, signature)
    if (ok) {
      // a Map keeps insertion order: the oldest goes first
      if (verified.size >= VERIFIED_KEPT) verified.delete(verified.keys().next().value!)
      verified.set(memoKey, statement.slice())
    }
    return ok
  } catch {
    return false
  }
}
