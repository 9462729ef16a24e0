// A private federation's pre-shared swarm key (libp2p pnet, the go-ipfs/Kubo format):
//   /key/swarm/psk/1.0.0/
//   /base16/
//   <64 hex digits>
// Every node of the federation, bootstrap included, holds the same file; a node without it (or with
// another) fails the connection's first exchange, before any libp2p protocol runs.
import { readFileSync, existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { writeFileAtomicSync } from '../trainer/atomic-write.ts'
import { SwarmKeyError } from './errors.ts'

const HEADER = '/key/swarm/psk/1.0.0/'
const CODEC = '/base16/'

/** Checks the key's three lines; returns the bytes to hand to createHost (swarmKey). */
export function parseSwarmKey (bytes: Uint8Array, source: string): Uint8Array {
  const lines = Buffer.from(bytes).toString('utf8').split(/\r?\n/)
  const found = (line: string | undefined): string => `found "${(line ?? '').slice(0, 40)}"`
  if (lines[0] !== HEADER) throw new SwarmKeyError(`${source}:1: expected "${HEADER}", ${found(lines[0])}`)
  if (lines[1] !== CODEC) {
    throw new SwarmKeyError(`${source}:2: expected "${CODEC}" (the only encoding supported), ${found(lines[1])}`)
  }
  if (!/^[0-9a-fA-F]{64}$/.test(lines[2] ?? '')) {
    throw new SwarmKeyError(`${source}:3: expected 64 hex digits (a 32-byte key)`)
  }
  if (lines.slice(3).some((l) => l.trim() !== '')) throw new SwarmKeyError(`${source}:4: unexpected text after the key`)
  return new Uint8Array(Buffer.from(`${HEADER}\n${CODEC}\n${lines[2]!.toLowerCase()}`))
}

export function readSwarmKeyFile (path: string): Uint8Array {
  let bytes: Uint8Array
  try { bytes = readFileSync(path) } catch { throw new SwarmKeyError(`cannot read swarm key ${path}`) }
  return parseSwarmKey(bytes, path)
}

/** A new random swarm key, in the file format. */
export function newSwarmKey (): Uint8Array {
  return new Uint8Array(Buffer.from(`${HEADER}\n${CODEC}\n${randomBytes(32).toString('hex')}\n`))
}

/** Writes a new swarm key file (mode 0600); refuses to overwrite unless told. */
export function createSwarmKeyFile (path: string, overwrite = false): Uint8Array {
  if (!overwrite && existsSync(path)) {
    throw new SwarmKeyError(`${path} already exists; use --force to replace it with a new swarm key (every member ` +
      `then needs the new file)`)
  }
  const key = newSwarmKey()
  writeFileAtomicSync(path, key, 0o600)
  return key
}
