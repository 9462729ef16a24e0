import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkElection, genesisBeacon, nextBeacon, witnessesOf } from '../../protocol/seeds.ts'
import { electionOrder, selectRandomK } from '../../protocol/election.ts'
import type { RoundAnnounce } from '../../protocol/messages.ts'
import { RejectReason } from '../../protocol/reject-reason.ts'

const members = ['12D3KooWAa', '12D3KooWBb', '12D3KooWCc', '12D3KooWDd', '12D3KooWEe', '12D3KooWFf']
const h = (i: number): string => i.toString(16).padStart(64, '0')

test('the beacon ignores the aggregator\'s own update and the order of the others', () => {
  const g = genesisBeacon('job')
  assert.notEqual(g, genesisBeacon('other job'))
  const agg = members[0]!
  const ups = [{ author: members[1]!, hash: h(1) }, { author: members[2]!, hash: h(2) }]
  const b = nextBeacon(g, agg, ups)
  assert.equal(nextBeacon(g, agg, [...ups].reverse()), b)
  // whatever the aggregator makes of its own update, the next seed is the same: it cannot re-draw it
  for (let i = 0; i < 20; i++) assert.equal(nextBeacon(g, agg, [...ups, { author: agg, hash: h(100 + i) }]), b)
  assert.notEqual(nextBeacon(g, agg, [ups[0]!]), b)
  assert.notEqual(nextBeacon(h(9), agg, ups), b) // chained
})

test('witnesses: w of the seeded order, never the aggregator, varying with the attempt', () => {
  const b = genesisBeacon('job')
  const agg = electionOrder(members, b, 1)[0]!
  const w = witnessesOf(members, b, 1, 0, agg, 3)
  assert.equal(w.length, 3)
  assert.ok(!w.includes(agg))
  assert.deepEqual(witnessesOf([...members].reverse(), b, 1, 0, agg, 3), w)
  assert.equal(witnessesOf(members.slice(0, 2), b, 1, 0, members[0]!, 3).length, 1)
  const draws = new Set<string>()
  for (let a = 0; a < 8; a++) draws.add(witnessesOf(members, b, 1, a, agg, 3).join())
  assert.ok(draws.size > 1)
})

test('receivers check the sender\'s place in the order and the selection against the rule', () => {
  const b = genesisBeacon('job')
  const order = electionOrder(members, b, 2)
  const selected = selectRandomK({ members, k: 3, prevGlobalHash: b, round: 2, attempt: 1 })
  const a: RoundAnnounce = { jobId: 'j', round: 2, attempt: 1, baseHash: new Uint8Array(32), members, selected,
    deadlineMs: 0n }
  assert.deepEqual(checkElection(a, order[1]!, b, 3), { ok: true })
  assert.deepEqual(checkElection({ ...a, selected: [...selected].reverse() }, order[1]!, b, 3), { ok: true })
  assert.deepEqual(checkElection(a, order[0]!, b, 3), { ok: false, reason: RejectReason.NotElected })
  const chosen = [order[1]!, ...members.filter((m) => m !== order[1]).slice(0, 2)].sort()
  const cheat = chosen.join() === [...selected].sort().join() ? members.slice(3) : chosen
  assert.deepEqual(checkElection({ ...a, selected: cheat }, order[1]!, b, 3),
    { ok: false, reason: RejectReason.BadSelection })
  assert.deepEqual(checkElection({ ...a, selected: selected.slice(0, 2) }, order[1]!, b, 3),
    { ok: false, reason: RejectReason.BadSelection })
})
