// The job's per-peer history travels with the results between rotating aggregators, on real libp2p nodes on
// 127.0.0.1: each result names the history it started from and the one after it, members fetch the latter by
// hash, the next aggregator starts from it and every witness recomputes it. An elected aggregator that wipes a
// peer's record from the history it publishes is contradicted by its witnesses and failed over.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { electionOrder } from '../../protocol/election.ts'
import { genesisBeacon } from '../../protocol/seeds.ts'
import { ROBUST_DEFAULT } from '../../protocol/aggregation-spec.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import type { Peer } from '../../node/peer.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import type { AggregateFn } from '../../trainer/aggregate/types.ts'
import { testJob, startNet, until, netLogger } from './net-fixture.ts'

test('the history moves across aggregators, and a result with a wiped record is contradicted', { timeout: 150_000 },
  async () => {
  const { job, jobId } = testJob({ rounds: 4, minPeers: 5, peersPerRound: 3, roundDeadlineSeconds: 3,
    membership: { powBits: 8, minAgeRounds: 2 } })
  const robust = buildAggregator(ROBUST_DEFAULT)
  // the elected aggregator of round 1 drops one peer's record from the history after the round (as one covering
  // for a colluder would): its adapter is the honest one, only the history differs
  const wiping: AggregateFn = (updates, ctx) => {
    const res = robust(updates, ctx)
    if (res.history === undefined) return res
    const h = new Map(res.history)
    h.delete([...h.keys()].sort()[0]!)
    return { ...res, history: h }
  }
  const seedBase = 110
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    ids.push(peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seedBase + i + 1)))
      .toString())
  }
  const elected = electionOrder(ids, genesisBeacon(jobId), 1)[0]!
  const disagreed: string[] = []
  const net = await startNet(0, job, jobId, { aggregate: robust }, seedBase)
  let bad: Peer | undefined
  try {
    for (let i = 0; i < 5; i++) {
      const name = `p${i}`
      const log = netLogger(name)
      const p = await net.addPeer({
        ...(ids[i] === elected ? { aggregate: wiping } : {}),
        logger: (line) => { log?.(line); if (line.includes('disagree (')) disagreed.push(line) }
      })
      if (ids[i] === elected) bad = p
    }
    const honest = net.peers.filter((p) => p !== bad)
    await until(() => honest.every((p) => p.global.round === job.rounds), 120_000, 'the job to complete')
    // witnesses recomputed the history and said why they disagreed; the wiper is convicted and failed over
    assert.ok(disagreed.some((l) => l.includes(RejectReason.HistoryMismatch)), disagreed.join('\n'))
    for (const p of honest) assert.deepEqual(p.excluded(), [bad!.peerId])
    const log = honest[0]!.rounds
    assert.ok(log[0]!.attempt > 0 && log.every((r) => r.aggregator !== bad!.peerId), 'round 1 by failover')
    // every honest peer ends on one adapter and one history, which it holds
    assert.equal(new Set(honest.map((p) => p.global.hash)).size, 1)
    const hashes = new Set(honest.map((p) => p.jobHistory.hash))
    assert.equal(hashes.size, 1)
    assert.notEqual([...hashes][0], '')
    const history = honest[0]!.jobHistory.value
    assert.ok(history !== undefined && honest.every((p) => p.jobHistory.value !== undefined))
    // it travelled: the rounds had more than one aggregator, and each peer's record counts every round it was
    // included in (a history reset or lost on the way would count fewer)
    assert.ok(new Set(log.map((r) => r.aggregator)).size >= 2, log.map((r) => r.aggregator).join(','))
    for (const p of ids) {
      const included = log.filter((r) => r.included.includes(p)).length
      assert.ok((history.get(p)?.rounds ?? 0) >= included, `${p}: ${history.get(p)?.rounds} < ${included}`)
    }
    assert.ok(Math.max(...[...history.values()].map((h) => h.rounds)) >= 2)
  } finally {
    await net.close()
  }
})
