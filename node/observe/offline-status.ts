// fedit status of a stopped peer: what its state folder says (state.json and rounds.json, the truth about the
// job; last-status.json, what the peer showed as it stopped; identity.key).
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { RoundInfo } from '../round-info.ts'
import { StateError } from '../errors.ts'
import { ROUNDS_KEPT } from './snapshot.ts'
import type { PeerSnapshot } from './snapshot.ts'

/** written by a peer as it stops (observability.ts), read here */
export const LAST_STATUS = 'last-status.json'

export function readStateFolder (dir: string): PeerSnapshot {
  const statePath = join(dir, 'state.json')
  if (!existsSync(dir)) throw new StateError(`${dir}: no such folder`)
  if (!existsSync(statePath)) {
    throw new StateError(`${dir} holds no peer state (no state.json): is it a --state folder?`)
  }
  let s: { jobId?: unknown, round?: unknown, hash?: unknown }
  try {
    s = JSON.parse(readFileSync(statePath, 'utf8'))
  } catch {
    throw new StateError(`${statePath} is not valid JSON`)
  }
  if (typeof s.jobId !== 'string' || !Number.isSafeInteger(s.round) || typeof s.hash !== 'string') {
    throw new StateError(`${statePath}: expected {jobId, round, hash}`)
  }
  let rounds: RoundInfo[] = []
  const roundsPath = join(dir, 'rounds.json')
  if (existsSync(roundsPath)) {
    try {
      rounds = JSON.parse(readFileSync(roundsPath, 'utf8')) as RoundInfo[]
    } catch {
      throw new StateError(`${roundsPath} is not valid JSON`)
    }
    if (!Array.isArray(rounds)) throw new StateError(`${roundsPath}: expected an array of rounds`)
  }
  let last: Partial<PeerSnapshot> = {}
  try {
    const l = JSON.parse(readFileSync(join(dir, LAST_STATUS), 'utf8')) as Partial<PeerSnapshot>
    if (l.jobId === s.jobId) last = l
  } catch {
    // none (a peer that crashed, or of an older fedit): the rest still stands
  }
  let peerId = typeof last.peerId === 'string' ? last.peerId : ''
  const keyPath = join(dir, 'identity.key')
  if (peerId === '' && existsSync(keyPath)) {
    try {
      peerId = peerIdFromPrivateKey(privateKeyFromProtobuf(readFileSync(keyPath))).toString()
    } catch {
      throw new StateError(`${keyPath} is not a libp2p private key`)
    }
  }
  const { activeRound: _a, startedAt: _s, ...training } = last.training ?? { tokensPerSecond: 0, roundsTrained: 0 }
  return {
    version: 1,
    running: false,
    at: Date.now(),
    peerId,
    jobId: s.jobId,
    ...(last.jobName !== undefined
      ? { jobName: last.jobName, jobRounds: last.jobRounds, peersPerRound: last.peersPerRound, minPeers: last.minPeers }
      : {}),
    ...(last.stage !== undefined ? { stage: `stopped (was ${last.stage})` } : {}),
    ...(last.training !== undefined ? { training } : {}),
    ...(last.counters !== undefined ? { counters: last.counters } : {}),
    completed: s.round as number,
    globalHash: s.hash,
    members: [],
    rounds: rounds.slice(-ROUNDS_KEPT)
  }
}
