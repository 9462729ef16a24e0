// Who counts, for this peer: a fresh peer that joins a job in progress is not a founder. It judges its own age
// as the others judge it (from about the round they first heard it), so it never elects itself by an order
// no one else holds (it logged "round 9: aggregating" while the elected aggregator announced round 9 too).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MembershipBook } from '../../node/membership-book.ts'

const SPEC = { powBits: 0, minAgeRounds: 2 }

test('a fresh peer joining at round 8 counts itself only once the others count it', () => {
  const joiner = new MembershipBook('job', SPEC, 0, new Set())
  // what the others' books say of the joiner: they first heard it with 8 rounds done
  const other = new MembershipBook('job', SPEC, 0, new Set())
  assert.equal(other.hello('me', 0n, 8, 0), undefined)
  assert.equal(joiner.hello('a', 0n, 0, 8), undefined)
  assert.equal(joiner.hello('b', 0n, 0, 7), undefined) // a Hello from a member still fetching round 8
  for (const round of [9, 10, 11, 12]) {
    assert.equal(joiner.counts('me', round, 'me'), other.counts('me', round, 'x'), `round ${round}`)
  }
  assert.equal(joiner.counts('me', 9, 'me'), false)
  assert.equal(joiner.counts('me', 11, 'me'), true)
  // members there before it came count at once (it cannot tell their age)
  assert.equal(joiner.counts('a', 9, 'me'), true)
})

test('a founder stays one: its first Hello heard was at round 0, later joiners do not change that', () => {
  const founder = new MembershipBook('job', SPEC, 0, new Set())
  founder.hello('a', 0n, 0, 0)
  founder.hello('late', 0n, 0, 3) // we missed round 1..3's results; a peer that joined later reports 3
  assert.equal(founder.counts('me', 1, 'me'), true)
  assert.equal(founder.counts('me', 4, 'me'), true)
})

test('a restarted member counts from the round it restarted at, as before', () => {
  const restarted = new MembershipBook('job', SPEC, 5, new Set())
  restarted.hello('a', 0n, 5, 8)
  assert.equal(restarted.counts('me', 9, 'me'), true)
  assert.equal(restarted.counts('a', 9, 'me'), true)
})
