// What makes an identity count in an open job (DESIGN.md "Membership has a price"):
//   proof of work: a nonce with sha256("fedit/pow", jobId, peerId, nonce) below 2^(256 - bits), so an identity
//     costs ~2^bits hashes to make and one hash to check, and is good for one job only;
//   age: a peer counts (elected, selected, witness, quorum) only once it has been seen live for minAgeRounds
//     rounds; the founders (seen before round 1 was done) count from the start;
//   Hello TTL: a member stays live for a few Hello intervals, the interval capped by what the job allows at the
//     membership the receiver sees, never by what the sender claims.
// A private job (allow-list) skips the price: its owner vouches for every identity.
import { createHash } from 'node:crypto'

export interface MembershipSpec {
  /** leading zero bits of the proof of work (0 = none) */
  readonly powBits: number
  /** rounds a peer must be seen live before it counts */
  readonly minAgeRounds: number
}

export const OPEN_JOB_MEMBERSHIP: MembershipSpec = { powBits: 16, minAgeRounds: 2 }
/** allow-listed jobs: the list is the price */
export const PRIVATE_JOB_MEMBERSHIP: MembershipSpec = { powBits: 0, minAgeRounds: 0 }

export function powDigest (jobId: string, peerId: string, nonce: bigint): Buffer {
  return createHash('sha256').update(`fedit/pow\n${jobId}\n${peerId}\n${nonce}`).digest()
}

export function leadingZeroBits (d: Uint8Array): number {
  let n = 0
  for (const b of d) {
    if (b === 0) { n += 8; continue }
    return n + Math.clz32(b) - 24
  }
  return n
}

export function verifyPow (jobId: string, peerId: string, nonce: bigint, bits: number): boolean {
  return bits <= 0 || leadingZeroBits(powDigest(jobId, peerId, nonce)) >= bits
}

/** Finds a nonce (expected 2^bits hashes; 16 bits take ~0.1 s on one core). Throws past maxTries. */
export function solvePow (jobId: string, peerId: string, bits: number, maxTries = 2 ** Math.min(bits + 8, 40)): bigint {
  if (bits <= 0) return 0n
  for (let i = 0n; i < BigInt(maxTries); i++) if (verifyPow(jobId, peerId, i, bits)) return i
  throw new Error(`no proof of work of ${bits} bits within ${maxTries} tries`)
}

/**
 * Does a peer first seen live when we had completed `firstSeen` rounds count in round `round`? Founders
 * (seen at 0 rounds done) and peers already there when we started (we cannot tell their age) count at once.
 */
export function oldEnough (firstSeen: number, round: number, minAgeRounds: number, ourStart = 0): boolean {
  return firstSeen <= ourStart || round - 1 - firstSeen >= minAgeRounds
}

/**
 * How long a member's Hello keeps it live: `intervals` of its interval, capped by the job's interval at our
 * membership.
 */
export function helloTtlMs (claimedIntervalMs: number, jobIntervalMs: number, baseTtlMs: number,
  intervals: number): number {
  return Math.max(baseTtlMs, intervals * Math.min(claimedIntervalMs, jobIntervalMs))
}
