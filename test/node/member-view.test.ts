// Liveness from Hellos: the TTL, a member's announced interval stretching it (capped against a hostile one), and
// the Hello interval that keeps the job's Hello traffic flat as the membership grows (quiet members stretch theirs,
// the round's roles keep the heartbeat).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { helloIntervalMs, idleIntervalMs, MemberView } from '../../node/member-view.ts'
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

const PLAN = { baseMs: 2000, largeJobMembers: 16, idleHellosPerHeartbeat: 2 }

test('Hello interval: the heartbeat in a small job or with a role; else ~2 Hellos a heartbeat for the whole job',
  () => {
  assert.equal(helloIntervalMs(PLAN, 1, false), 2000)
  assert.equal(helloIntervalMs(PLAN, 16, false), 2000)
  assert.equal(helloIntervalMs(PLAN, 20, false), 20_000)
  assert.equal(helloIntervalMs(PLAN, 20, true), 2000)
  assert.equal(helloIntervalMs(PLAN, 1024, true), 2000)
  assert.equal(helloIntervalMs(PLAN, 1024, false), MAX_HELLO_INTERVAL_MS)
  // the quiet members of the job send the plan's idleHellosPerHeartbeat per heartbeat in all while the cap allows
  for (const n of [17, 24, 30]) assert.equal(n / (idleIntervalMs(PLAN, n) / 2000), PLAN.idleHellosPerHeartbeat)
})

test('a large job\'s quiet member stays live for 3 of its long intervals, capped by the job size this view knows',
  () => {
  const v = new MemberView('me', 6000, PLAN)
  for (let i = 0; i < 19; i++) v.hello(`m${String(i).padStart(2, '0')}`, 1, 'h', 0, undefined, 2000)
  assert.equal(v.knownCount(0), 20)
  v.hello('quiet', 1, 'h', 0, undefined, 21_000) // within the cap
  v.hello('liar', 1, 'h', 0, undefined, MAX_HELLO_INTERVAL_MS) // claims more than a job of 22 allows
  assert.equal(v.knownCount(0), 22, 'recounted once a new member is heard')
  const cap = idleIntervalMs(PLAN, 22)
  assert.equal(v.isLive('quiet', 3 * 21_000), true)
  assert.equal(v.isLive('quiet', 3 * 21_000 + 1), false)
  assert.equal(v.isLive('liar', 3 * cap), true)
  assert.equal(v.isLive('liar', 3 * cap + 1), false, 'a liar is live no longer than a quiet member of the job')
  assert.equal(v.isLive('m00', 6000), true)
  assert.equal(v.isLive('m00', 6001), false, 'a member at the heartbeat is detected in the usual TTL')
  // a small job's view caps every interval at the heartbeat: 3 members, one claiming 30 s
  const small = new MemberView('me', 6000, PLAN)
  small.hello('a', 1, 'h', 0, undefined, 2000)
  small.hello('b', 1, 'h', 0, undefined, MAX_HELLO_INTERVAL_MS)
  assert.deepEqual(small.live(6001), ['me'])
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

test('members gone silent: none live, and another member\'s own Hello heard after the last of them lapsed', () => {
  const v = new MemberView('me', 3000)
  // a joiner knows the job only from handed-on Hellos: their lapse is its deafness, not their departure
  v.handedOn({ peer: 'a', round: 0, hash: 'h', beacon: '', seenAt: 1000, intervalMs: 0, reachability: 0 })
  v.handedOn({ peer: 'b', round: 0, hash: 'h', beacon: '', seenAt: 2000, intervalMs: 0, reachability: 0 })
  assert.equal(v.goneSilent(['a', 'b'], 10_000), false, 'no Hello of its own heard at all')
  v.hello('me', 0, 'h', 9000) // our own Hello is no evidence that others reach us
  assert.equal(v.goneSilent(['a', 'b'], 10_000), false)
  v.hello('c', 0, 'h', 4500) // heard before b lapsed (at 5 s): b may have been Helloing unheard since
  assert.equal(v.goneSilent(['a', 'b'], 10_000), false)
  v.hello('c', 0, 'h', 5500) // after the last of them lapsed: they are silent while c still reaches us
  assert.equal(v.goneSilent(['a', 'b'], 10_000), true)
  assert.equal(v.goneSilent(['a', 'c'], 6000), false, 'c is live')
  assert.equal(v.goneSilent(['never-heard'], 6000), true, 'a member never heard is silent once anyone was heard')
})

test('a handed-on Hello newer by its author\'s sequence replaces an older one that reached us later, our time kept',
  () => {
  const v = new MemberView('me', 6000)
  // the member's heartbeat Hello, sent before its quiet one, reached us last (gossip reorders): live 3 x 2 s
  v.hello('m', 0, 'h', 10_000, undefined, 2000)
  const quiet = { peer: 'm', round: 0, hash: 'h', beacon: '', seenAt: 9000, intervalMs: 90_000, reachability: 0 }
  assert.equal(v.handedOn(quiet), false, 'not newer by sequence: our own, later, Hello stands')
  assert.equal(v.isLive('m', 17_000), false)
  assert.equal(v.handedOn(quiet, true), true)
  assert.equal(v.lastOf('m')?.intervalMs, 90_000)
  assert.equal(v.lastOf('m')?.seenAt, 10_000, 'the server\'s older claim does not date the member back')
  assert.equal(v.isLive('m', 17_000), true)
  assert.equal(v.isLive('m', 10_000 + 3 * 90_000 + 1), false)
})
