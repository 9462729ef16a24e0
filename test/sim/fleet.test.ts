// Which round results a fleet reports: the first per round, then an earlier attempt's (the peers' fork choice),
// never a later attempt's; the in-process fleet's timers by its size; which peer log lines a run shows.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isNoteworthy, ResultChoice } from '../../sim/fleet.ts'
import { gatherNote, inProcessTiming } from '../../sim/fleet-in-process.ts'

test('ResultChoice: first result per round, replaced only by an earlier attempt', () => {
  const c = new ResultChoice()
  assert.equal(c.attemptOf(1), undefined)
  assert.equal(c.accept(1, 1), true, 'the failover result arrives first')
  assert.equal(c.accept(1, 1), false, 'reported once')
  assert.equal(c.accept(1, 2), false, 'a later attempt never replaces it')
  assert.equal(c.accept(1, 0), true, 'the elected aggregator arrives late: the fork choice keeps it')
  assert.equal(c.attemptOf(1), 0)
  assert.equal(c.accept(1, 1), false)
  assert.equal(c.accept(2, 0), true, 'rounds are independent')
})

test('inProcessTiming: the small fleet keeps its quick timers; 100 peers stretch them to about the defaults', () => {
  const small = { heartbeatMs: 500, memberTtlMs: 4000, tickMs: 100, settleMs: 2500, graceMs: 2000,
    discoveryIntervalMs: 1000 }
  assert.deepEqual(inProcessTiming(4), small)
  assert.deepEqual(inProcessTiming(25), small)
  const big = inProcessTiming(100)
  assert.equal(big.heartbeatMs, 2000)
  assert.equal(big.discoveryIntervalMs, 10_000)
  assert.equal(big.tickMs, 250)
  assert.ok(big.memberTtlMs! >= 3 * big.heartbeatMs! && big.graceMs! >= big.heartbeatMs!, JSON.stringify(big))
  const mid = inProcessTiming(50)
  assert.ok(mid.heartbeatMs! > 500 && mid.heartbeatMs! < 2000, JSON.stringify(mid))
})

test('isNoteworthy: the peer log lines a run shows (why a round waits), not the routine ones', () => {
  assert.equal(isNoteworthy('round 2: could not push our update (Unexpected EOF - stream closed)'), true)
  assert.equal(isNoteworthy('round 1: aggregator refused our update (duplicate)'), true)
  assert.equal(isNoteworthy('round 1: trained on 160 examples in 14.1 s, loss 4.6771, 1019 tok/s'), false)
  assert.equal(isNoteworthy('round 3: aggregating; selected FMq9mQ,1M6ydo'), false)
})

test('gatherNote: where the views stand, the peers fewest views hold and the peers whose views hold fewest', () => {
  const ids = ['A', 'B', 'C', 'D']
  // the shards answer in their own order: p3 and p1 from one thread, p0 and p2 from another
  const note = gatherNote(ids, [
    { index: 3, members: ['D'], connections: 0, gossipPeers: 0 },
    { index: 1, members: ['A', 'B', 'C'], connections: 3, gossipPeers: 2 },
    { index: 0, members: ['A', 'B', 'C'], connections: 2, gossipPeers: 2 },
    { index: 2, members: ['A', 'B'], connections: 1, gossipPeers: 1 }
  ])
  assert.match(note, /views min 1, median 3, max 3 of 4; 3 peers connected;/)
  assert.match(note, /least seen: p03 in 1 views, sees 1, 0 connections, 0 job gossip peers; p02 in 2 views, sees 2/)
  assert.match(note, /seeing fewest: p03 1, p02 2, p01 3$/)
})
