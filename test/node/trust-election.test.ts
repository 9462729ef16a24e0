// One source for an election's member list: the order a peer follows (Trust.order: the members less those it
// holds evidence against) and the order it checks a received announce against are computed over the same list.
// An announce listing an offender would be checked over another list than the one the receiver follows (its
// first in line can differ), so it is refused as lists_offender.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import type { RoundAnnounce, RoundResult } from '../../protocol/messages.ts'
import { electionOrder, selectRandomK } from '../../protocol/election.ts'
import { resultStatement } from '../../protocol/signed-update.ts'
import { equivocationEvidence } from '../../protocol/evidence.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { FEDAVG } from '../../protocol/aggregation-spec.ts'
import { Trust } from '../../node/trust.ts'
import { sign } from '../../node/signatures.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { testJob } from './net-fixture.ts'

const who = async (seed: number): Promise<{ key: PrivateKey, id: string }> => {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

test('an announce is checked over the members the receiver\'s own order runs over', async () => {
  const { job, jobId } = testJob({ peersPerRound: 2 })
  const dir = mkdtempSync(join(tmpdir(), 'fedit-trust-'))
  const none = (): never => { throw new Error('not used by the announce check') }
  try {
    const me = await who(200)
    const trust = new Trust({ job, jobId, stateDir: dir, aggregate: buildAggregator(FEDAVG), select: selectRandomK,
      self: () => me.id, key: () => me.key, log: () => {}, reject: () => {}, publish: async () => {},
      fetch: none, history: none, saveBeacon: async () => {}, standing: none, clock: none, passedOver: none })
    const crowd = await Promise.all([201, 202, 203, 204].map(async (k) => await who(k)))
    const ids = crowd.map((c) => c.id).sort()
    // the offender is first in line over the full list: every later place differs between the two lists
    const offender = crowd.find((c) => c.id === electionOrder(ids, trust.beacon, 1)[0])!
    const signed = async (r: RoundResult): Promise<RoundResult> => ({ ...r,
      signature: await sign(offender.key, resultStatement(r)) })
    const r: RoundResult = { jobId, round: 1, attempt: 0, baseHash: new Uint8Array(32), newHash: new Uint8Array(32)
      .fill(1), selected: [offender.id], included: [offender.id], excluded: [], trainLoss: 1, bytes: 1n, seconds: 1,
    adapterBytes: 1n, updates: [] }
    assert.equal(await trust.evidence.add(equivocationEvidence(offender.id, await signed(r),
      await signed({ ...r, newHash: new Uint8Array(32).fill(2) }))), true)

    const now = Date.now()
    const check = (members: string[], sender: string, attempt: number): string => {
      const a: RoundAnnounce = { jobId, round: 1, attempt, baseHash: new Uint8Array(32), members,
        selected: selectRandomK({ members, k: 2, prevGlobalHash: trust.beacon, round: 1, attempt }),
        deadlineMs: BigInt(now + 1000) }
      // the round has been due for two silences: attempts 0 to 2 are all due
      const c = trust.checkAnnounce(a, sender, 0, { since: now - 8000, accepted: -1 },
        { silenceMs: 4000, graceMs: 1000, settleMs: 0 }, new Set([...ids, me.id]), now)
      return c.ok ? 'ok' : c.reason
    }
    const unfiltered = electionOrder(ids, trust.beacon, 1)
    const ours = trust.order(ids, 1)
    assert.deepEqual(ours, unfiltered.slice(1), 'our order leaves the offender out')
    // attempt 1 by the second over the list with the offender: that order is not the one we follow
    assert.equal(check(ids, unfiltered[1]!, 1), RejectReason.ListsOffender)
    // over the list we follow, the same peer is first in line, and the second is our order's
    const eligible = trust.eligible(ids)
    assert.equal(check(eligible, unfiltered[1]!, 0), 'ok')
    assert.equal(check(eligible, unfiltered[1]!, 1), RejectReason.NotElected)
    assert.equal(check(eligible, ours[1]!, 1), 'ok')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
