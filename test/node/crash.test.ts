// Crashes cost a few Hello intervals, not a deadline: a selected trainer that dies mid-round is not waited
// for once its Hellos stop (the collector closes when every member still live has answered), and a dead
// aggregator is replaced once its Hellos stop, not after deadline + grace. The deadline here is 60 s; the
// Hello TTL 1.5 s: both rounds must complete long before the deadline of the attempt the crash hit.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { testJob, startNet, until, within } from './net-fixture.ts'
import type { Net } from './net-fixture.ts'
import type { AnnounceEvent, Peer } from '../../node/peer.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'

const DEADLINE_S = 60

/**
 * Five peers (training takes 1.5 s, so a selected member can die before it pushes); `announced` resolves
 * with round 1's first announce once every peer holds it (listening from each peer's start: under load the
 * round can begin before every view holds all five). The job starts with all five live: with four, the fifth
 * could join as round 1 began, miss its announce, elect itself over its own view and never follow attempt 0
 * (1 run in 10 under two busy loops). Under that load an announce may still miss a peer that just joined (not
 * yet meshed): the carried start-up flake of this test, 1 run in 10 as well.
 */
async function crashNet (): Promise<{ net: Net, announced: Promise<AnnounceEvent> }> {
  const { job, jobId } = testJob({ rounds: 1, peersPerRound: 3, minPeers: 5, roundDeadlineSeconds: DEADLINE_S })
  const net = await startNet(0, job, jobId, {}, 40)
  let mine: AnnounceEvent | undefined
  const heard = new Set<string>()
  let done = (_a: AnnounceEvent): void => {}
  const announced = new Promise<AnnounceEvent>((resolve) => { done = resolve })
  for (let i = 0; i < 5; i++) {
    const p = await net.addPeer({ trainer: createFakeTrainer({ lora: { ...job.lora }, samples: 5, delayMs: 1500 }) })
    p.events.on('announce', (a) => {
      if (a.round !== 1 || a.attempt !== 0) return
      if (a.mine) mine = a
      else heard.add(p.peerId)
      if (mine !== undefined && heard.size === 4) done(mine)
    })
  }
  return { net, announced }
}

test('a selected trainer that dies is not waited for: the round closes once its Hellos stop', { timeout: 90_000 },
  async () => {
  const { net, announced } = await crashNet()
  try {
    const a = await within(announced, 30_000, 'every peer to follow attempt 0')
    const victim = a.selected.find((s) => s !== a.aggregator)!
    const killedAt = Date.now()
    await net.peers.find((p) => p.peerId === victim)!.stop()
    const alive = net.peers.filter((p) => p.peerId !== victim)
    await until(() => alive.every((p) => p.global.round === 1), 45_000, 'round 1 to complete without the dead trainer')
    const r = alive[0]!.rounds[0]!
    assert.equal(r.attempt, 0)
    assert.ok(!r.included.includes(victim))
    assert.deepEqual(r.excluded.find((e) => e.peer === victim)?.reason, RejectReason.Gone)
    assert.ok(Date.now() - killedAt < DEADLINE_S * 1000 / 2, 'closed long before the deadline')
    assert.equal(new Set(alive.map((p) => p.global.hash)).size, 1)
  } finally {
    await net.close()
  }
})

test('a dead aggregator is replaced once its Hellos stop, not after deadline + grace', { timeout: 90_000 },
  async () => {
  const { net, announced } = await crashNet()
  try {
    const a = await within(announced, 30_000, 'every peer to follow attempt 0')
    const killedAt = Date.now()
    await net.peers.find((p) => p.peerId === a.aggregator)!.stop()
    const alive: Peer[] = net.peers.filter((p) => p.peerId !== a.aggregator)
    let failoverAt = 0 // when the failover aggregator announced its attempt
    for (const p of alive) p.events.on('announce', (e) => { if (e.mine && e.attempt > 0) failoverAt ||= e.at })
    await until(() => alive.every((p) => p.global.round === 1), 45_000, 'round 1 to complete after the failover')
    const r = alive[0]!.rounds[0]!
    assert.equal(r.attempt, 1)
    assert.ok(!r.included.includes(a.aggregator))
    assert.ok(Date.now() - killedAt < DEADLINE_S * 1000 / 2, 'replaced long before the deadline')
    // the round's recorded duration runs from its first announce (attempt 0's, which every peer held before the
    // kill), not from the failover's own: that came at least one Hello TTL (1.5 s) after the kill. (Compared with
    // adoption it was flaky under load: the witnesses' confirmation comes after the recorded publish.)
    assert.ok(failoverAt > killedAt)
    assert.ok(r.seconds * 1000 >= failoverAt - killedAt,
      `round 1 recorded ${r.seconds} s; its failover was announced ${(failoverAt - killedAt) / 1000} s after the kill`)
    assert.equal(new Set(alive.map((p) => p.global.hash)).size, 1)
  } finally {
    await net.close()
  }
})
