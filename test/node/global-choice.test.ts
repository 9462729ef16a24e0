// When a peer behind asks for the chain of confirmed results (node/global-choice.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { catchUpDue } from '../../node/global-choice.ts'
import type { CatchUpInput } from '../../node/global-choice.ts'

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
