// Which global adapter a peer stands on (node/global-choice.ts): catch-up quorum and timing, following the others.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { catchUpDue, catchUpQuorum, followAtSameRound } from '../../node/global-choice.ts'
import type { CatchUpInput, Standing } from '../../node/global-choice.ts'

test('catch-up quorum: two peers, or every other one when fewer', () => {
  assert.equal(catchUpQuorum(1), 1)
  assert.equal(catchUpQuorum(2), 1)
  assert.equal(catchUpQuorum(3), 2)
  assert.equal(catchUpQuorum(10), 2)
})

test('catch up at once from two rounds behind; from one only once the result is overdue', () => {
  const base: CatchUpInput = { aheadRound: 3, completed: 1, since: 1000, announcedDeadlineMs: undefined, graceMs: 500,
    now: 1000 }
  assert.equal(catchUpDue(base), true)
  const one = { ...base, aheadRound: 2 }
  assert.equal(catchUpDue(one), false) // no announce: due a grace after the round became due
  assert.equal(catchUpDue({ ...one, now: 1499 }), false)
  assert.equal(catchUpDue({ ...one, now: 1500 }), true)
  const announced = { ...one, announcedDeadlineMs: 5000 } // with an announce: its deadline + grace
  assert.equal(catchUpDue({ ...announced, now: 5499 }), false)
  assert.equal(catchUpDue({ ...announced, now: 5500 }), true)
})

test('a done peer follows what most live peers at its round hold', () => {
  const unknown: Standing = { completed: 3, hash: 'hB', attempt: -1, base: '' }
  const at = (...hs: string[]): Array<{ hash: string }> => hs.map((hash) => ({ hash }))
  assert.equal(followAtSameRound(unknown, at('hA', 'hA', 'hA'), 2), 'hA')
  assert.equal(followAtSameRound(unknown, at('hA', 'hA', 'hB'), 2), undefined, '2 against 2 (we count for ours): stay')
  assert.equal(followAtSameRound(unknown, at('hA', 'hA', 'hA', 'hB', 'hC'), 2), 'hA')
  assert.equal(followAtSameRound(unknown, at('hB', 'hB'), 2), undefined, 'they hold ours')
  assert.equal(followAtSameRound(unknown, at('hA'), 2), undefined, 'one peer is not a quorum of two')
  assert.equal(followAtSameRound(unknown, at('hA'), 1), undefined, '1 against our 1: stay')
  assert.equal(followAtSameRound(unknown, at('hA', 'hA'), 1), 'hA', 'a quorum of one among two others')
  assert.equal(followAtSameRound(unknown, at('hC', 'hC', 'hA', 'hA'), 2), 'hA',
    'a tie between others: the smaller hash')
  // two attempts of the last round both confirmed: the peers that adopted the minority's follow the majority,
  // whichever attempt made theirs; the majority stays
  assert.equal(followAtSameRound({ ...unknown, attempt: 1 }, at('hA', 'hA', 'hA'), 2), 'hA')
  assert.equal(followAtSameRound({ ...unknown, attempt: 0 }, at('hA', 'hA', 'hA'), 2), 'hA')
  assert.equal(followAtSameRound({ completed: 3, hash: 'hA', attempt: 0, base: 'h0' }, at('hA', 'hA', 'hB'), 2),
    undefined)
  assert.equal(followAtSameRound(unknown, [], 1), undefined)
})
