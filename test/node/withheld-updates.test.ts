// An aggregator whose witnesses cannot fetch the updates its result names (here it stops serving them right after
// its announce, as a peer whose transfers time out under load would look): the witnesses cannot judge, so they sign
// nothing, and no one is convicted. The attempt gets no quorum and fails over; the next aggregator ends the round.
// Before, each such witness signed a disagreement, and two of them convicted an aggregator that had done nothing
// wrong, excluded for the rest of the job.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ADAPTER_PROTOCOL } from '../../protocol/topics.ts'
import type { AnnounceEvent } from '../../node/peer.ts'
import { testJob, startNet, until, within } from './net-fixture.ts'

test('witnesses that cannot fetch the updates sign nothing: no one is convicted, the round fails over',
  { timeout: 90_000 }, async () => {
    const { job, jobId } = testJob({ rounds: 1, minPeers: 5, peersPerRound: 2, roundDeadlineSeconds: 3 })
    const net = await startNet(5, job, jobId, {}, 170)
    try {
      const first = within(new Promise<AnnounceEvent>((resolve) => {
        for (const p of net.peers) {
          p.events.on('announce', (a) => {
            if (a.round !== 1 || a.attempt !== 0 || !a.mine) return
            // the updates it took (and the adapter it made) can no longer be had from it
            void p.libp2p.unhandle(ADAPTER_PROTOCOL)
            resolve(a)
          })
        }
      }), 40_000, 'attempt 0 of round 1 to be announced')
      const a = await first
      await until(() => net.peers.every((p) => p.global.round === 1), 45_000, 'round 1 to end by a failover')
      for (const p of net.peers) assert.deepEqual(p.excluded(), [], `${p.peerId.slice(-6)} convicted no one`)
      const r1 = net.peers.find((p) => p.peerId !== a.aggregator)!.rounds.find((r) => r.round === 1)!
      assert.notEqual(r1.aggregator, a.aggregator, 'a later attempt ended the round')
      assert.ok(r1.attempt > 0)
    } finally {
      await net.close()
    }
  })
