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

test('a member first heard after round 1 counts once a confirmed round listed it, as for those that heard it earlier',
  () => {
  const listed = new Map<string, number>()
  // a founder that adopted round 1 before it heard the late joiner: young to it until round 4
  const late = new MembershipBook('job', SPEC, 0, new Set(), (m) => listed.get(m))
  late.hello('a', 0n, 0, 0)
  late.hello('joiner', 0n, 1, 0)
  // a founder that heard the joiner before adopting round 1: a founder to it
  const early = new MembershipBook('job', SPEC, 0, new Set())
  early.hello('joiner', 0n, 0, 0)
  assert.equal(early.counts('joiner', 2, 'me'), true)
  assert.equal(late.counts('joiner', 2, 'me'), false)
  // round 2's confirmed election listed it (those who accepted its announce counted it): it counts from round 3
  listed.set('joiner', 2)
  assert.equal(late.counts('joiner', 2, 'me'), false, 'listed by round 2 says nothing of round 2 itself')
  assert.equal(late.counts('joiner', 3, 'me'), true)
  // a listed member we never heard a paying Hello from does not count; nor does one we hold evidence against
  listed.set('unheard', 1)
  assert.equal(late.counts('unheard', 3, 'me'), false)
  const convicted = new MembershipBook('job', SPEC, 0, new Set(['joiner']), (m) => listed.get(m))
  convicted.hello('joiner', 0n, 1, 0)
  assert.equal(convicted.counts('joiner', 3, 'me'), false)
  // ourselves too: listed by a confirmed round, we count as the others count us
  const self = new MembershipBook('job', SPEC, 0, new Set(), (m) => listed.get(m))
  self.hello('a', 0n, 0, 8) // we joined a job at round 8: young to ourselves until round 11
  assert.equal(self.counts('me', 9, 'me'), false)
  listed.set('me', 8)
  assert.equal(self.counts('me', 9, 'me'), true)
})
