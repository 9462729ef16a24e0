// A peer's persisted identity: its libp2p private key (protobuf form, as libp2p writes it), file mode 0600.
import { readFileSync, statSync, existsSync } from 'node:fs'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { writeFileAtomicSync } from '../trainer/atomic-write.ts'
import { IdentityError } from './errors.ts'

export async function createKeyFile (path: string, overwrite = false): Promise<PrivateKey> {
  if (!overwrite && existsSync(path)) {
    throw new IdentityError(`${path} already exists; use --force to replace it with a new identity (its peer id ` +
      `changes)`)
  }
  const key = await generateKeyPair('Ed25519')
  writeFileAtomicSync(path, privateKeyToProtobuf(key), 0o600)
  return key
}

export function readKeyFile (path: string): PrivateKey {
  const mode = statSync(path).mode
  if ((mode & 0o077) !== 0) {
    throw new IdentityError(`${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}`)
  }
  try {
    return privateKeyFromProtobuf(readFileSync(path))
  } catch (err) {
    throw new IdentityError(`${path} is not a libp2p private key (${(err as Error).message})`)
  }
}

export async function loadOrCreateKey (path: string): Promise<PrivateKey> {
  return existsSync(path) ? readKeyFile(path) : await createKeyFile(path)
}

export function peerIdOf (key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}
