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

test('a joiner heard around a result\'s adoption is one age to everyone; a confirmed listing settles the rest', () => {
  const listed = new Map<string, number>()
  // a founder that adopted round 1 before it heard the joiner (its first Hello: still at round 0), and one that
  // heard it before it adopted: the joiner is a founder to both (it was young to the first until round 4, which
  // then refused announces listing it: bench scale at 100 peers, session 19)
  const late = new MembershipBook('job', SPEC, 0, new Set(), (m) => listed.get(m))
  late.hello('a', 0n, 0, 0)
  late.hello('joiner', 0n, 1, 0)
  const early = new MembershipBook('job', SPEC, 0, new Set())
  early.hello('joiner', 0n, 0, 0)
  for (const round of [2, 3, 4]) {
    assert.equal(late.counts('joiner', round, 'me'), early.counts('joiner', round, 'me'), `round ${round}`)
  }
  assert.equal(late.counts('joiner', 2, 'me'), true)
  // its own word moves its age by one round, no more: first heard at round 5 saying round 0, it is dated round 4
  late.hello('fresh', 0n, 5, 0)
  assert.equal(late.counts('fresh', 6, 'me'), false)
  assert.equal(late.counts('fresh', 7, 'me'), true)
  // first heard when it stood where we did (its earlier Hellos missed us): dated from there, young until round 5,
  // unless a confirmed round's election listed it (those who accepted that announce counted it)
  late.hello('caught', 0n, 2, 2)
  assert.equal(late.counts('caught', 4, 'me'), false)
  listed.set('caught', 3)
  assert.equal(late.counts('caught', 3, 'me'), false, 'listed by round 3 says nothing of round 3 itself')
  assert.equal(late.counts('caught', 4, 'me'), true)
  // a listed member we never heard a paying Hello from does not count; nor does one we hold evidence against
  listed.set('unheard', 1)
  assert.equal(late.counts('unheard', 3, 'me'), false)
  listed.set('joiner', 2)
  const convicted = new MembershipBook('job', SPEC, 0, new Set(['joiner']), (m) => listed.get(m))
  convicted.hello('joiner', 0n, 1, 0)
  assert.equal(convicted.counts('joiner', 3, 'me'), false)
  // ourselves too: listed by a confirmed round, we count as the others count us
  const self = new MembershipBook('job', SPEC, 0, new Set(), (m) => listed.get(m))
  self.hello('a', 0n, 0, 8) // we joined a job at round 8: dated round 7, young to ourselves until round 10
  assert.equal(self.counts('me', 9, 'me'), false)
  listed.set('me', 8)
  assert.equal(self.counts('me', 9, 'me'), true)
})

test('an announce lists a member only once it counts for every member, whichever round each first heard it in', () => {
  const listed = new Map<string, number>()
  const book = new MembershipBook('job', SPEC, 0, new Set(), (m) => listed.get(m))
  book.hello('founder', 0n, 0, 0)
  book.hello('joiner', 0n, 0, 0) // heard before we adopted round 1; another member may first hear it after
  // round 1: every member is a founder (no result adopted yet), so all are listed
  assert.equal(book.settled('founder', 1, 'me'), true)
  assert.equal(book.settled('joiner', 1, 'me'), true)
  assert.equal(book.settled('me', 1, 'me'), true)
  // round 1's election listed the founder and ourselves, not the joiner: the joiner counts for us, but to a member
  // that first heard it after adopting round 1 (and when it already stood there: no slack) it is young until round 4
  listed.set('founder', 1)
  listed.set('me', 1)
  assert.equal(book.counts('joiner', 2, 'me'), true)
  const other = new MembershipBook('job', SPEC, 0, new Set())
  other.hello('joiner', 0n, 1, 1)
  for (const round of [2, 3, 4, 5]) {
    assert.equal(book.settled('joiner', round, 'me'), other.counts('joiner', round, 'x'), `round ${round}`)
  }
  assert.equal(book.settled('founder', 2, 'me'), true)
  assert.equal(book.settled('me', 2, 'me'), true)
  // a confirmed round that listed it settles it from the round after
  listed.set('joiner', 2)
  assert.equal(book.settled('joiner', 3, 'me'), true)
  // no age to wait for (an allow-listed job): nothing to disagree on
  const open = new MembershipBook('job', { powBits: 0, minAgeRounds: 0 }, 0, new Set())
  open.hello('joiner', 0n, 3, 3)
  assert.equal(open.settled('joiner', 4, 'me'), true)
  // what does not count is never listed
  assert.equal(book.settled('stranger', 2, 'me'), false)
})
