// Liveness from Hellos: the TTL, a member's announced interval stretching it (capped against a hostile one), and
// the Hello interval that keeps each peer's share of the Hello traffic flat as the membership grows.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HELLOS_PER_HEARTBEAT, helloIntervalMs, MemberView } from '../../node/member-view.ts'
import { MAX_HELLO_INTERVAL_MS } from '../../protocol/limits.ts'
import { Reachability } from '../../protocol/election.ts'

test('a member is live for the TTL, or for 3 of its announced intervals if longer (at most 3 x the cap)', () => {
  const v = new MemberView('me', 6000)
  v.hello('a', 1, 'h', 0)
  v.hello('b', 1, 'h', 0, undefined, 10_000)
  v.hello('c', 1, 'h', 0, undefined, 10 * MAX_HELLO_INTERVAL_MS) // validation refuses this; the view caps it anyway
  assert.deepEqual(v.live(6000), ['a', 'b', 'c', 'me'])
  assert.deepEqual(v.live(6001), ['b', 'c', 'me'])
  assert.equal(v.isLive('b', 30_000), true)
  assert.equal(v.isLive('b', 30_001), false)
  assert.equal(v.isLive('c', 3 * MAX_HELLO_INTERVAL_MS), true)
  assert.equal(v.isLive('c', 3 * MAX_HELLO_INTERVAL_MS + 1), false)
  assert.deepEqual(v.holdersOf('h', 20_000), ['b', 'c'])
  v.hello('b', 2, 'h2', 40_000) // a Hello without an interval: back to the view's TTL
  assert.equal(v.isLive('b', 46_001), false)
})

test('Hello interval: the heartbeat up to HELLOS_PER_HEARTBEAT members, then in proportion, capped', () => {
  assert.equal(helloIntervalMs(2000, 1), 2000)
  assert.equal(helloIntervalMs(2000, HELLOS_PER_HEARTBEAT), 2000)
  assert.equal(helloIntervalMs(2000, 4 * HELLOS_PER_HEARTBEAT), 8000)
  assert.equal(helloIntervalMs(2000, 1024), Math.min(MAX_HELLO_INTERVAL_MS, 64_000))
  // each peer hears about HELLOS_PER_HEARTBEAT Hellos per base heartbeat while the cap allows
  for (const n of [64, 128, 256]) assert.equal(n / (helloIntervalMs(2000, n) / 2000), HELLOS_PER_HEARTBEAT)
})

test('a member\'s reachability is what its last Hello said, kept past its liveness', () => {
  const v = new MemberView('me', 6000)
  v.hello('a', 1, 'h', 0, undefined, 0, '', Reachability.Relayed)
  v.hello('b', 1, 'h', 0)
  assert.deepEqual(v.statuses(0).map((s) => [s.peer, s.reachability]), [['a', Reachability.Relayed], ['b', 0]])
  v.hello('a', 2, 'h', 1000, undefined, 0, '', Reachability.Public)
  assert.equal(v.reachabilityOf('a'), Reachability.Public)
  assert.equal(v.reachabilityOf('nobody'), Reachability.Unsaid)
})

test('the shared start of a round: when a majority of live counted peers first said they stood on the round before',
  () => {
  const v = new MemberView('me', 60_000)
  v.hello('a', 1, 'h1', 1000)
  v.hello('a', 2, 'h2', 5000) // adopted round 2 at 5 s
  v.hello('a', 2, 'h2', 7000) // later Hellos of the same round move nothing
  v.hello('b', 2, 'h2', 5200)
  v.hello('liar', 2, 'x', 100) // claims round 2 long before anyone: a minority of liars does not move it
  v.hello('c', 3, 'h3', 9000) // jumped straight past it
  v.hello('d', 1, 'h1', 4000) // still behind
  v.hello('me', 2, 'h2', 8000) // our own (late) view is not evidence
  const honest = (p: string): boolean => p !== 'liar'
  // a, b, c, d: the majority's (3rd earliest of 4) first word of round 2 or later
  assert.equal(v.reachedAt(2, 10_000, honest), 9000)
  // with the liar: 5 peers, the 3rd earliest, which a single liar moved only to the next honest report
  assert.equal(v.reachedAt(2, 10_000, () => true), 5200)
  assert.equal(v.reachedAt(3, 10_000, honest), undefined, 'no majority stands on round 3 yet')
  v.forget('d')
  assert.equal(v.reachedAt(2, 10_000, honest), 5200)
  // peers no longer live do not count
  assert.equal(v.reachedAt(2, 65_201, honest), 9000) // b's last Hello (5.2 s) is past the TTL
})
