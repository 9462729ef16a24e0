import { test } from 'node:test'
import assert from 'node:assert/strict'
import { aggregatorAt, electableAttempt, electionOrder, electAggregator, selectRandomK }
  from '../../protocol/election.ts'
import { checkElection } from '../../protocol/seeds.ts'

const members = ['12D3KooWA', '12D3KooWB', '12D3KooWC', '12D3KooWD', '12D3KooWE', '12D3KooWF']
const h = (i: number): string => i.toString(16).padStart(64, '0')

test('the order is a deterministic permutation, independent of the input order', () => {
  const o = electionOrder(members, h(1), 1)
  assert.deepEqual([...o].sort(), [...members].sort())
  assert.deepEqual(electionOrder([...members].reverse(), h(1), 1), o)
  assert.deepEqual(electionOrder([...members, members[0]!], h(1), 1), o) // duplicates collapse
  assert.equal(electAggregator(members, h(1), 1), o[0])
  assert.equal(electAggregator(members, h(1), 1, 2), o[2])
})

test('the aggregator rotates as the previous hash changes', () => {
  const chosen = new Set<string>()
  for (let i = 0; i < 30; i++) chosen.add(electAggregator(members, h(i), i + 1)!)
  assert.ok(chosen.size >= 4, `only ${chosen.size} distinct aggregators over 30 rounds`)
})

test('failover order: removing the elected peer promotes the next one', () => {
  const o = electionOrder(members, h(7), 3)
  assert.deepEqual(electionOrder(members.filter((m) => m !== o[0]), h(7), 3), o.slice(1))
})

test('past the last member the order starts again, so a round whose attempts outran its members still has one due',
  () => {
  const three = members.slice(0, 3)
  const o = electionOrder(three, h(9), 4)
  assert.deepEqual([3, 4, 5, 7].map((a) => aggregatorAt(o, a)), [o[0], o[1], o[2], o[1]])
  assert.equal(electAggregator(three, h(9), 4, 3), o[0])
  assert.equal(aggregatorAt([], 0), undefined)
  // the announce check follows the same rule: attempt 3 is the first in line's again, and no one else's
  const announce = (attempt: number) => ({ jobId: 'j', round: 4, attempt, baseHash: new Uint8Array(32),
    members: three, selected: [], deadlineMs: 0n })
  assert.deepEqual(checkElection(announce(3), o[0]!, h(9), 0, () => []), { ok: true })
  assert.equal(checkElection(announce(3), o[2]!, h(9), 0, () => []).ok, false)
  // skipping the unelectable goes round too: from attempt 2 (o[2] unreachable), attempt 3 (o[0] again)
  assert.equal(electableAttempt(o, 2, (m) => m !== o[2]), 3)
  assert.equal(electableAttempt(o, 2, () => false), 2, 'no one electable: the plain order')
})

test('selection: k distinct members, deterministic, varying with the seed', () => {
  const s = selectRandomK({ members, k: 3, prevGlobalHash: h(1), round: 1, attempt: 0 })
  assert.equal(s.length, 3)
  assert.equal(new Set(s).size, 3)
  assert.ok(s.every((x) => members.includes(x)))
  assert.deepEqual(selectRandomK({ members: [...members].reverse(), k: 3, prevGlobalHash: h(1), round: 1, attempt: 0 }),
    s)
  assert.equal(selectRandomK({ members, k: 10, prevGlobalHash: h(1), round: 1, attempt: 0 }).length, 6)
  const all = new Set<string>()
  for (let i = 0; i < 20; i++) {
    selectRandomK({ members, k: 3, prevGlobalHash: h(i), round: 1, attempt: 0 }).forEach((x) => all.add(x))
  }
  assert.equal(all.size, 6)
})

test('a kept order answers as a fresh one: callers may change what they get, strings cannot collide', () => {
  const first = electionOrder(members, h(7), 3)
  first.reverse()
  assert.notDeepEqual(first, electionOrder(members, h(7), 3))
  assert.deepEqual(electionOrder(members, h(7), 3), [...first].reverse())
  // two member lists whose joined strings are alike are still told apart
  const joined = electionOrder(['12D3KooWA\n12D3KooWB'], h(7), 3)
  assert.deepEqual(joined, ['12D3KooWA\n12D3KooWB'])
  assert.equal(electionOrder(['12D3KooWA', '12D3KooWB'], h(7), 3).length, 2)
  // past ORDERS_KEPT other orders, the first is computed again, and is the same
  for (let r = 100; r < 200; r++) electionOrder(members, h(7), r)
  assert.deepEqual(electionOrder(members, h(7), 3), [...first].reverse())
})
