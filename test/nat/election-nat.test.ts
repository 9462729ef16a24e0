// The election rule for members behind NATs (DESIGN.md "Elections that stay live") and the Hello field it
// reads: a member that said it is unreachable is skipped at once; its place in the order keeps its number.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { electableAttempt, electAggregator, electionOrder, isElectable, Reachability } from '../../protocol/election.ts'
import { checkAttemptClock } from '../../protocol/attempt-clock.ts'
import { checkElection } from '../../protocol/seeds.ts'
import { decodeRoundMessage } from '../../protocol/validation.ts'
import { RoundMessage } from '../../protocol/messages.ts'
import { reachabilityOf } from '../../node/reachability.ts'

const H = 'ab'.repeat(32)
const members = ['peerA', 'peerB', 'peerC', 'peerD', 'peerE']

test('an unreachable member is skipped: the next reachable one in the order announces at once', () => {
  const order = electionOrder(members, H, 4)
  const said = new Map(order.map((m) => [m, Reachability.Public as number]))
  assert.equal(electableAttempt(order, 0, (m) => isElectable(said.get(m)!)), 0)
  said.set(order[0]!, Reachability.Unreachable)
  said.set(order[1]!, Reachability.Unreachable)
  said.set(order[2]!, Reachability.Relayed) // reachable through a relay: electable
  const a = electableAttempt(order, 0, (m) => isElectable(said.get(m)!))
  assert.equal(a, 2)
  // the attempt number is the member's place in the order, so every member's plain check accepts its announce
  assert.equal(electAggregator(members, H, 4, a), order[2])
  // receivers accept it at once: the attempts before it (the clock's due one, 0, included) are passed over
  const now = Date.now()
  const announce = { jobId: 'j', round: 4, attempt: a, baseHash: new Uint8Array(32), members, selected: [],
    deadlineMs: BigInt(now + 30_000) }
  type Clock = ReturnType<typeof checkAttemptClock>
  const clock = (passedOver: (k: number) => boolean): Clock => checkAttemptClock(announce, {
    progress: { since: now, accepted: -1 }, timing: { silenceMs: 60_000, graceMs: 2_000, settleMs: 0 },
      toleranceMs: 2_000,
    nowMs: now, eligible: new Set(members), passedOver
  })
  assert.deepEqual(clock((k) => said.get(order[k]!) === Reachability.Unreachable), { ok: true })
  assert.equal(clock(() => false).ok, false)
  assert.deepEqual(checkElection({ ...announce, selected: [] }, order[2]!, H, 0, () => []), { ok: true })
  // a later failover goes on from there, skipping the unreachable again
  said.set(order[3]!, Reachability.Unreachable)
  assert.equal(electableAttempt(order, 3, (m) => isElectable(said.get(m)!)), 4)
})

test('when nobody is reachable the plain order stands; older peers (unsaid) stay electable', () => {
  const order = electionOrder(members, H, 2)
  assert.equal(electableAttempt(order, 1, () => false), 1)
  assert.equal(isElectable(Reachability.Unsaid), true)
  assert.equal(isElectable(Reachability.Unreachable), false)
})

test('Hello.reachability travels and is validated', () => {
  const job = 'j'.repeat(64)
  const hello = { jobId: job, round: 1, globalHash: new Uint8Array(32), beacon: new Uint8Array(32), device: 'cpu',
    tokensPerSecond: 0, samples: 1, intervalMs: 0, addrs: [] }
  const d = decodeRoundMessage(RoundMessage.encode({ hello: { ...hello, reachability: Reachability.Relayed } }), job)
  assert.ok(d.valid && d.message.kind === 'hello' && d.message.hello.reachability === Reachability.Relayed)
  const bad = decodeRoundMessage(RoundMessage.encode({ hello: { ...hello, reachability: 9 } }), 'j'.repeat(64))
  assert.ok(!bad.valid && bad.reason.startsWith('bad_field: reachability'))
})

test('reachability from the advertised addresses: public, relay only, or none', () => {
  const relay = '12D3KooWSHV4YAkziCXVFiMBk2L1KZ6X1ZykkmbVHr2UsF7okRVN'
  const of = (...a: string[]): number => reachabilityOf(a.map((s) => multiaddr(s)))
  assert.equal(of('/ip4/10.1.0.2/tcp/4001', '/ip4/11.0.0.4/tcp/4001'), Reachability.Public)
  assert.equal(of('/ip4/10.1.0.2/tcp/4001', `/ip4/11.0.0.1/tcp/4001/p2p/${relay}/p2p-circuit`), Reachability.Relayed)
  assert.equal(of('/ip4/192.168.1.5/tcp/4001', '/ip4/127.0.0.1/tcp/4001'), Reachability.Unreachable)
})
