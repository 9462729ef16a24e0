// The results a member keeps to judge later (Trust: those of the round ahead of ours while we still fetch our
// global, and those whose announce we have not followed yet), attacked with keys the attackers made themselves: a
// stranger's results are not kept at all, and a listed member gone bad that floods results for every attempt holds
// one place, so the result of the next round's real aggregator is still judged once we get there; a result two
// rounds ahead waits for its round too, one three rounds ahead is not kept.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import type { RoundResult } from '../../protocol/messages.ts'
import { selectRandomK } from '../../protocol/election.ts'
import { resultStatement } from '../../protocol/signed-update.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { FEDAVG } from '../../protocol/aggregation-spec.ts'
import { Trust } from '../../node/trust.ts'
import type { TrustHost } from '../../node/trust.ts'
import { sign } from '../../node/signatures.ts'
import { hex } from '../../node/hex.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { testJob } from './net-fixture.ts'
import { H } from './trust-fixture.ts'

const fresh = async (): Promise<{ key: PrivateKey, id: string }> => {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

test('a stranger\'s results are not kept, and a member flooding results cannot push out the next aggregator\'s',
  async () => {
    const { job, jobId } = testJob({ peersPerRound: 2, rounds: 5 })
    const dir = mkdtempSync(join(tmpdir(), 'fedit-held-'))
    const none = (): never => { throw new Error('not reached by these results') }
    try {
      const [me, a1, a2, bad, stranger, a3] = await Promise.all([1, 2, 3, 4, 5, 6].map(fresh))
      const members = [me!, a1!, a2!, bad!, a3!].map((p) => p.id)
      const rejected: Array<{ from: string, reason: string, round: number }> = []
      const standing = { completed: 0, hash: hex(H(0)) }
      const host: TrustHost = { job, jobId, stateDir: dir, aggregate: buildAggregator(FEDAVG), select: selectRandomK,
        self: () => me!.id, key: () => me!.key, log: () => {}, publish: async () => {},
        reject: (from, reason, _where, round) => { rejected.push({ from, reason, round }) },
        fetch: none, history: none, saveBeacon: async () => {}, clock: none, passedOver: none,
        standing: () => standing as unknown as ReturnType<TrustHost['standing']> }
      const trust = new Trust(host)
      // we follow round 1's announce (by a1, listing the four of us) and are still fetching its global
      trust.noteAnnounce(1, 0, { aggregator: a1!.id, members })
      const result = async (by: { key: PrivateKey }, over: Partial<RoundResult>): Promise<RoundResult> => {
        const r: RoundResult = { jobId, round: 2, attempt: 0, baseHash: H(1), newHash: H(2), selected: [],
          included: [], excluded: [], trainLoss: 1, bytes: 1n, seconds: 1, adapterBytes: 1n, updates: [], ...over }
        return { ...r, signature: await sign(by.key, resultStatement(r)) }
      }
      // round 2's aggregator publishes first (on a base we will not stand on, so that its judgement shows: a refusal
      // for wrong_base once round 2 is ours); then the stranger, and the member gone bad for 20 attempts
      await trust.onResult(await result(a2!, { baseHash: H(9) }), a2!.id)
      await trust.onResult(await result(stranger!, {}), stranger!.id)
      for (let attempt = 0; attempt < 20; attempt++) await trust.onResult(await result(bad!, { attempt }), bad!.id)
      // round 3's aggregator too (two rounds ahead: kept), and a round-4 result (three ahead: not kept)
      await trust.onResult(await result(a3!, { round: 3, baseHash: H(8) }), a3!.id)
      await trust.onResult(await result(a3!, { round: 4, baseHash: H(8) }), a3!.id)
      assert.ok(rejected.every((x) => x.reason === RejectReason.RoundOutOfWindow), 'each came rounds ahead of ours')
      assert.equal(rejected.length, 24)

      /** round `round` adopted (made by `by`), the next one's announce by `next` followed: what was kept is judged */
      const adoptThenFollow = async (round: number, by: { key: PrivateKey, id: string },
        next: { id: string }): Promise<void> => {
        rejected.length = 0
        standing.completed = round
        standing.hash = hex(H(round))
        trust.advance(await result(by, { round, baseHash: H(round - 1), newHash: H(round) }), by.id)
        trust.noteAnnounce(round + 1, 0, { aggregator: next.id, members })
        await new Promise((resolve) => setImmediate(resolve))
      }
      const from = (p: { id: string }): string[] => rejected.filter((x) => x.from === p.id).map((x) => x.reason)
      await adoptThenFollow(1, a1!, a2!)
      assert.deepEqual(from(a2!), [RejectReason.WrongBase], 'the aggregator\'s result was kept and judged')
      assert.deepEqual(from(stranger!), [], 'the stranger\'s result was never kept')
      assert.ok(from(bad!).length <= 1, `the member gone bad held one place at most: ${from(bad!).join(', ')}`)
      assert.deepEqual(from(a3!), [], 'round 3\'s result waits for round 3')
      await adoptThenFollow(2, a2!, a3!)
      assert.deepEqual(from(a3!), [RejectReason.WrongBase], 'round 3\'s result was kept two rounds and judged')
      await adoptThenFollow(3, a3!, a3!)
      assert.deepEqual(from(a3!), [], 'round 4\'s result, three rounds ahead when it came, was not kept')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
