// A selected trainer whose update the aggregator took (it holds the aggregator's signed receipt) and then left out
// of its signed result, neither included nor excluded, complains: the receipt and the result convict the
// aggregator without the trainer's word (protocol/complaint.ts). The round fails over and the update is
// included by the next aggregator. The aggregate itself is honest over what it names, so its witnesses agree:
// only the complaint catches the drop.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { electionOrder } from '../../protocol/election.ts'
import { genesisBeacon } from '../../protocol/seeds.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'
import { FEDAVG } from '../../protocol/aggregation-spec.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import type { AggregateFn } from '../../trainer/aggregate/types.ts'
import type { Peer } from '../../node/peer.ts'
import { testJob, startNet, until } from './net-fixture.ts'

const SEED_BASE = 130

test('an aggregator that drops a receipted update is convicted by the complaint and the round fails over',
  { timeout: 120_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 2, minPeers: 5, peersPerRound: 3, roundDeadlineSeconds: 3,
    membership: { powBits: 8, minAgeRounds: 2 } })
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    ids.push(peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32)
      .fill(SEED_BASE + i + 1))).toString())
  }
  const elected = electionOrder(ids, genesisBeacon(jobId), 1)[0]!
  // round 1's elected aggregator takes every update, then aggregates (honestly) all but one of the others'
  const honestAggregate = buildAggregator(FEDAVG)
  let victim: string | undefined
  const dropping: AggregateFn = (updates, ctx) => {
    if (ctx.round === 1 && victim === undefined) victim = updates.find((u) => u.peer !== elected)?.peer
    return honestAggregate(ctx.round === 1 ? updates.filter((u) => u.peer !== victim) : updates, ctx)
  }
  const net = await startNet(0, job, jobId, {}, SEED_BASE)
  let bad: Peer | undefined
  for (let i = 0; i < 5; i++) {
    const p = await net.addPeer(ids[i] === elected ? { aggregate: dropping } : {})
    if (ids[i] === elected) bad = p
  }
  const honest = net.peers.filter((p) => p !== bad)
  const reasons = new Set<string>()
  for (const p of honest) p.events.on('rejected', (r) => { reasons.add(r.reason.split(':')[0]!) })
  try {
    await until(() => honest.every((p) => p.global.round === job.rounds), 90_000,
      'the job to complete without the dropping aggregator')
    assert.ok(victim !== undefined, 'the aggregator dropped an update')
    assert.ok(reasons.has(RejectReason.DroppedUpdate), [...reasons].join(', '))
    for (const p of honest) assert.deepEqual(p.excluded(), [bad!.peerId], 'every honest peer excludes it')
    const dirs = readdirSync(net.dir).map((d) => join(net.dir, d, 'evidence')).filter((d) => existsSync(d))
    assert.ok(dirs.some((d) => readdirSync(d).some((f) => f.startsWith(`${RejectReason.DroppedUpdate}-r1-a0-`))),
      'the receipt and the result kept as evidence')
    // (a peer that caught up through round 1 holds no record of it)
    const round1 = honest.flatMap((p) => p.rounds.filter((r) => r.round === 1))
    assert.ok(round1.length > 0)
    for (const r1 of round1) {
      assert.ok(r1.attempt > 0, 'round 1 completed by failover')
      assert.notEqual(r1.aggregator, bad!.peerId)
    }
    assert.equal(new Set(honest.map((p) => p.global.hash)).size, 1, 'one global adapter')
  } finally {
    await net.close()
  }
})
