// The chain store says, from the confirmed rounds it holds, which round's election first listed each member (a
// member's age as the job saw it, membership-book.ts), the same after a restart reads the chain back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChainStore } from '../../node/chain-store.ts'
import type { ChainLink } from '../../protocol/messages.ts'

function link (round: number, members: string[]): ChainLink {
  return { aggregator: members[0]!, members, powNonces: members.map(() => 0n), attestations: [],
    result: { jobId: 'j', round, attempt: 0, baseHash: new Uint8Array(32), newHash: new Uint8Array(32).fill(round),
      selected: [], included: [], excluded: [], trainLoss: 0, bytes: 0n, seconds: 0, adapterBytes: 0n, updates: [] } }
}

test('the first confirmed round listing each member, kept across a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-chain-'))
  try {
    const chain = new ChainStore(dir, () => {})
    chain.append([link(2, ['a', 'b', 'c'])])
    chain.append([link(1, ['a', 'b']), link(3, ['a', 'b', 'c', 'd'])]) // caught up on round 1 later
    assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((m) => chain.firstListed(m)), [1, 1, 2, 3, undefined])
    await chain.saved()
    const again = new ChainStore(dir, () => {})
    again.load()
    assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((m) => again.firstListed(m)), [1, 1, 2, 3, undefined])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
