// Which round results a fleet reports: the first per round, then an earlier attempt's (the peers' fork choice),
// never a later attempt's.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ResultChoice } from '../../sim/fleet.ts'

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
