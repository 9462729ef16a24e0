// Liveness that scales: in a large job (here "large" from 4 members on) only the round's roles Hello at the
// heartbeat; the others stretch their interval and stay live for 3 of them. 8 real peers on 127.0.0.1: the quiet
// ones must stay in every view (elections and announce checks read it), a killed aggregator must still be
// replaced after the heartbeat's TTL (1.5 s), not after its quiet TTL (~29 s), and a killed trainer, which stays
// quiet, must be found gone by the aggregator's probes as soon.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FAST, testJob, startNet, until } from './net-fixture.ts'
import type { AnnounceEvent, Peer } from '../../node/peer.ts'
import { createFakeTrainer } from '../../node/testing/fake-trainer.ts'
import { idleIntervalMs } from '../../node/member-view.ts'
import { electionOrder } from '../../protocol/election.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'

const PEERS = 8
const DEADLINE_S = 60
// 300 ms x 8 / 0.25 = 9.6 s between a quiet member's Hellos; the first round waits that long and a little more,
// so every view (the last peer's too) has heard every quiet member once before the announce lists them
const HEARTBEAT_MS = 300
const TTL_MS = 1500
const TIMING = { ...FAST, heartbeatMs: HEARTBEAT_MS, memberTtlMs: TTL_MS, largeJobMembers: 3,
  idleHellosPerHeartbeat: 0.25, settleMs: 12_000 }
const QUIET_MS = idleIntervalMs({ baseMs: HEARTBEAT_MS, ...TIMING }, PEERS)

test('a large job\'s quiet members stay live; its killed aggregator is replaced at the heartbeat\'s pace',
  { timeout: 180_000 }, async () => {
  const { job, jobId } = testJob({ rounds: 1, peersPerRound: 2, minPeers: PEERS, roundDeadlineSeconds: DEADLINE_S,
    witnesses: { count: 1, quorum: 1 } })
  const net = await startNet(0, job, jobId, { timing: TIMING }, 60)
  try {
    let mine: AnnounceEvent | undefined
    const heard = new Set<string>()
    for (let i = 0; i < PEERS; i++) {
      const p = await net.addPeer({ trainer: createFakeTrainer({ lora: { ...job.lora }, samples: 5, delayMs: 3000 }) })
      p.events.on('announce', (a) => {
        if (a.round !== 1 || a.attempt !== 0) return
        if (a.mine) mine = a
        else heard.add(p.peerId)
      })
    }
    await until(() => mine !== undefined && heard.size === PEERS - 1, 90_000, 'round 1\'s announce at every peer')
    const a = mine!
    const alive: Peer[] = net.peers.filter((p) => p.peerId !== a.aggregator)
    // the aggregator said it Hellos at the heartbeat (it did once it announced, at the latest)
    await until(() => alive.every((p) => p.memberStatus().find((s) => s.peer === a.aggregator)?.intervalMs ===
      HEARTBEAT_MS), 20_000, 'every view to hold the aggregator at the heartbeat')
    // quiet members exist, and one heard longer ago than the heartbeat's TTL is still live in every view
    await until(() => alive.every((p) => p.memberStatus().some((s) => s.intervalMs > HEARTBEAT_MS &&
      Date.now() - s.seenAt > TTL_MS)), 30_000, 'a quiet member live past the heartbeat\'s TTL')
    for (const p of net.peers) assert.equal(p.members().length, PEERS, `${p.peerId.slice(-6)} sees every member`)
    const killedAt = Date.now()
    await net.peers.find((p) => p.peerId === a.aggregator)!.stop()
    let failoverAt = 0
    for (const p of alive) p.events.on('announce', (e) => { if (e.mine && e.attempt > 0) failoverAt ||= e.at })
    await until(() => alive.every((p) => p.global.round === 1), 60_000, 'round 1 to complete after the failover')
    assert.equal(alive[0]!.rounds[0]!.attempt, 1)
    assert.ok(failoverAt > killedAt)
    // had the aggregator been quiet, no one would have missed it before 3 quiet intervals after its last Hello
    assert.ok(failoverAt - killedAt < 3 * QUIET_MS - QUIET_MS,
      `failover ${failoverAt - killedAt} ms after the kill; a quiet member's TTL is ${3 * QUIET_MS} ms`)
    assert.equal(new Set(alive.map((p) => p.global.hash)).size, 1)
  } finally {
    await net.close()
  }
})

test('a large job\'s selected trainer stays quiet; one killed is probed, found gone and not waited for',
  { timeout: 180_000 }, async () => {
  const peers = 6
  const { job, jobId } = testJob({ rounds: 1, peersPerRound: 2, minPeers: peers, roundDeadlineSeconds: DEADLINE_S,
    witnesses: { count: 0 } })
  const net = await startNet(0, job, jobId, { timing: TIMING }, 60)
  // each peer trains when the test says
  const gates = new Map<string, () => void>()
  try {
    let mine: AnnounceEvent | undefined
    for (let i = 0; i < peers; i++) {
      const inner = createFakeTrainer({ lora: { ...job.lora }, samples: 5 })
      let open = (): void => {}
      const gate = new Promise<void>((resolve) => { open = resolve })
      const train: typeof inner.train = async (req) => { await gate; return await inner.train(req) }
      const p = await net.addPeer({ trainer: { ...inner, train } })
      gates.set(p.peerId, open)
      p.events.on('announce', (a) => { if (a.round === 1 && a.attempt === 0 && a.mine) mine = a })
    }
    await until(() => mine !== undefined, 90_000, 'round 1\'s announce')
    const a = mine!
    const aggregator = net.peers.find((p) => p.peerId === a.aggregator)!
    const beacon = aggregator.memberStatus().find((s) => s.peer !== a.aggregator)?.beacon ?? ''
    // the aggregator and the next in order (should the aggregator die, the job waits for it) keep the heartbeat
    const next = electionOrder(a.members, beacon, 1)[1]
    const victim = a.selected.find((t) => t !== next && t !== a.aggregator)
    assert.ok(victim !== undefined, `a trainer with no other role among ${a.selected.length}`)
    const other = a.selected.find((t) => t !== victim)!
    const at = (p: Peer): number | undefined => p.memberStatus().find((s) => s.peer === victim)?.intervalMs
    const others = net.peers.filter((p) => p.peerId !== victim)
    // selected, it does not take up the heartbeat: two heartbeats on, every view still holds it quiet
    await new Promise((resolve) => setTimeout(resolve, 2 * HEARTBEAT_MS))
    for (const p of others) assert.ok((at(p) ?? 0) > HEARTBEAT_MS, `${p.peerId.slice(-6)} holds the trainer quiet`)
    const killedAt = Date.now()
    await net.peers.find((p) => p.peerId === victim)!.stop()
    gates.get(other)!()
    await until(() => others.every((p) => p.global.round === 1), 30_000,
      'round 1 to complete without the killed trainer')
    const r = others[0]!.rounds[0]!
    assert.equal(r.attempt, 0)
    assert.ok(r.included.includes(other))
    assert.deepEqual(r.excluded.find((e) => e.peer === victim)?.reason, RejectReason.Gone)
    // had it been judged by its Hellos, no one would have missed it before 3 quiet intervals after its last one
    const quietMs = idleIntervalMs({ baseMs: HEARTBEAT_MS, ...TIMING }, peers)
    assert.ok(Date.now() - killedAt < 2 * quietMs, `closed ${Date.now() - killedAt} ms after the kill; a quiet ` +
      `member's TTL is ${3 * quietMs} ms`)
  } finally {
    for (const open of gates.values()) open()
    await net.close()
  }
})
