// The attempt clock holds for results too. As soon as round 1's attempt 0 is announced, the member second in the
// failover order publishes a result of attempt 1, with no announce, long before attempt 1 is due: its own update
// (selected by the beacon for attempt 1), honestly aggregated, so a witness's recomputation would agree with it.
// A witness attests only an attempt its own clock accepted: no one judges it, and the round completes with attempt
// 0's result (a link's witness quorum thereby vouches for its attempt, protocol/chain-rules.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { RoundMessage } from '../../protocol/messages.ts'
import type { Attestation, RoundResult } from '../../protocol/messages.ts'
import { roundsTopic } from '../../protocol/topics.ts'
import { electionOrder, selectRandomK } from '../../protocol/election.ts'
import { genesisBeacon } from '../../protocol/seeds.ts'
import { resultStatement, updateStatement } from '../../protocol/signed-update.ts'
import { FEDAVG } from '../../protocol/aggregation-spec.ts'
import { buildAggregator } from '../../trainer/aggregate/build-aggregator.ts'
import { aggregateRound } from '../../node/round-aggregate.ts'
import { sign } from '../../node/signatures.ts'
import { unhex } from '../../node/hex.ts'
import type { AnnounceEvent } from '../../node/types.ts'
import { idsOf } from './trust-fixture.ts'
import { testJob, startNet, until } from './net-fixture.ts'

// with these identities order[1] is among attempt 1's selected trainers
const SEED_BASE = 145

test('a result of an attempt that is not due, published without an announce, is witnessed by no one',
  { timeout: 90_000 }, async () => {
    const { job, jobId } = testJob({ rounds: 1, minPeers: 5, peersPerRound: 2, roundDeadlineSeconds: 6 })
    const ids = await idsOf(5, SEED_BASE)
    const beacon = genesisBeacon(jobId)
    const net = await startNet(0, job, jobId, {}, SEED_BASE)
    const announced = new Map<string, AnnounceEvent>()
    const verdicts: Attestation[] = []
    try {
      for (let i = 0; i < ids.length; i++) {
        const p = await net.addPeer()
        p.events.on('announce', (a) => { if (a.round === 1 && a.attempt === 0) announced.set(p.peerId, a) })
        p.libp2p.services.pubsub.addEventListener('message', (e) => {
          let a: Attestation | undefined
          try { a = RoundMessage.decode(e.detail.data).attestation } catch { return } // another topic's bytes
          if (a?.round === 1 && a.attempt === 1) verdicts.push(a)
        })
      }
      await until(() => announced.size > 0, 30_000, 'attempt 0 of round 1 to be announced')
      const { members, aggregator: first } = [...announced.values()][0]!
      const early = electionOrder(members, beacon, 1)[1]!
      const selected = selectRandomK({ members, k: job.peersPerRound, prevGlobalHash: beacon, round: 1, attempt: 1 })
      assert.ok(selected.includes(early), 'precondition: order[1] is selected in attempt 1')
      const m = net.peers.find((p) => p.peerId === early)!
      const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(SEED_BASE + ids.indexOf(early) + 1))
      // its update: the round's base adapter, which it serves by hash as its global
      const base = m.global
      const signature = await sign(key, updateStatement(jobId, 1, 1, base.hash, base.hash, 5))
      const agg = aggregateRound(buildAggregator(FEDAVG), [{ peer: early, samples: 5, round: 1, baseHash: base.hash,
        adapter: base.adapter }], { round: 1, baseHash: base.hash, global: base.adapter })
      const r: RoundResult = { jobId, round: 1, attempt: 1, baseHash: unhex(base.hash), newHash: unhex(agg.hash),
        selected, included: [early], excluded: [], trainLoss: 1, bytes: 1n, seconds: 0.1,
        adapterBytes: BigInt(agg.bytes.byteLength),
        updates: [{ author: early, hash: unhex(base.hash), samples: 5, signature }] }
      const result = { ...r, signature: await sign(key, resultStatement(r)) }
      await m.libp2p.services.pubsub.publish(roundsTopic(jobId), RoundMessage.encode({ result }))

      await until(() => net.peers.every((p) => p.global.round === 1), 60_000, 'round 1 to complete')
      for (const p of net.peers) {
        const r1 = p.rounds.find((x) => x.round === 1)
        if (r1 === undefined) continue // caught up past it
        assert.equal(r1.attempt, 0, 'round 1 completed by its elected aggregator')
        assert.equal(r1.aggregator, first)
      }
      assert.deepEqual(verdicts.map((a) => `${a.witness.slice(-6)} ${a.agree}`), [], 'no witness judged attempt 1')
    } finally {
      await net.close()
    }
  })
