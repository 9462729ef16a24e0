// The elected aggregator dies after announcing, while collecting: the next in the failover order completes the round.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { electionOrder } from '../../protocol/election.ts'
import { genesisBeacon } from '../../protocol/seeds.ts'
import { testJob, startNet, until, within } from './net-fixture.ts'
import type { AnnounceEvent } from '../../node/peer.ts'

test('a silent aggregator is replaced by the next in the failover order', { timeout: 90_000 }, async () => {
  // room for a loaded machine: attempt 1 must not time out too
  const { job, jobId } = testJob({ rounds: 1, roundDeadlineSeconds: 3 })
  const net = await startNet(6, job, jobId, {}, 10)
  try {
    await until(() => net.peers.every((p) => p.members().length === 6), 20_000, 'all peers to see 6 members')
    // the aggregator stops once every other peer holds its announce (stopping right after its own publish
    // lost the announce under load: then 5 live peers < minPeers 6 could start no round at all); from
    // stop() on it publishes nothing, so it never sends a result
    let first: AnnounceEvent | undefined
    const heard = new Set<string>()
    const killed = new Promise<void>((resolve) => {
      for (const p of net.peers) {
        p.events.on('announce', (a) => {
          if (a.round !== 1 || a.attempt !== 0) return
          if (a.mine) first = a
          else heard.add(p.peerId)
          if (first !== undefined && heard.size === net.peers.length - 1) {
            net.peers.find((q) => q.peerId === first!.aggregator)!.stop().then(resolve, resolve)
          }
        })
      }
    })
    const missing = (): string => net.peers.filter((p) => p.peerId !== first?.aggregator && !heard.has(p.peerId))
      .map((p) => `${p.peerId.slice(-6)} (round ${p.global.round}, sees ${p.members().length} members)`).join(', ')
    await within(killed, 30_000, () => `every peer to follow attempt 0 (${first === undefined ? 'not announced'
      : 'announced'}; not followed by ${missing()})`)
    const dead = first!.aggregator
    const alive = net.peers.filter((p) => p.peerId !== dead)
    await until(() => alive.every((p) => p.global.round === 1), 20_000, 'round 1 to complete after failover')
    const r = alive[0]!.rounds[0]!
    const order = electionOrder(first!.members, genesisBeacon(jobId), 1)
    assert.equal(order[0], dead)
    assert.equal(r.attempt, 1)
    assert.equal(r.aggregator, order[1])
    assert.ok(!r.included.includes(dead))
    assert.equal(new Set(alive.map((p) => p.global.hash)).size, 1)
  } finally {
    await net.close()
  }
})
