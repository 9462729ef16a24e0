// Whom a member asks for a global adapter: holders it is connected to (one try each), then the sources it was given
// that it is connected to, then the other holders, then the other sources; never itself. Each once first, then the
// further tries of those that get more: a source that stalls costs one try's limit before the next is asked.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FETCH_TRIES, fetchOrder } from '../../node/global-fetch.ts'

test('connected holders and sources are asked before those a dial would reach', () => {
  const holders = ['h1', 'h2', 'h3', 'h4', 'h5', 'me', 'agg']
  const connected = new Set(['h2', 'h5', 'agg'])
  for (let i = 0; i < 20; i++) {
    const sources = fetchOrder(holders, ['agg', 'w1', 'me'], 'me', (p) => connected.has(p))
    const order = sources.map((s) => s.peer)
    assert.deepEqual([...order.slice(0, 2)].sort(), ['h2', 'h5'])
    assert.equal(order[2], 'agg', 'a given source we are connected to, before any dial')
    assert.deepEqual([...order.slice(3, 6)].sort(), ['h1', 'h3', 'h4'])
    assert.equal(order[6], 'w1')
    // each once first; then the others' further tries in the same order, from their second try on (a connected
    // holder's claim is its word alone: one try in all; the others three)
    assert.deepEqual(sources.slice(0, 7).map((s) => [s.tries, s.firstTry ?? 0]), Array(7).fill([1, 0]))
    assert.deepEqual(sources.slice(7).map((s) => s.peer), order.slice(2, 7))
    assert.deepEqual(sources.slice(7).map((s) => [s.tries, s.firstTry]), Array(5).fill([2, 1]))
  }
  // the given sources keep the caller's (shuffled) order within each group
  const order = fetchOrder([], ['w2', 'agg', 'w1', 'w3'], 'me', (p) => p === 'w1' || p === 'w3').map((s) => s.peer)
  assert.deepEqual(order, ['w1', 'w3', 'w2', 'agg', 'w1', 'w3', 'w2', 'agg'])
  // one try asked of each: no second pass
  assert.deepEqual(fetchOrder([], ['agg', 'w1'], 'me', () => true, 1).map((s) => s.peer), ['agg', 'w1'])
  // a source that has just failed us (its early fetch timed out) is asked after every other, connected or not
  assert.deepEqual(fetchOrder(['h1'], ['agg', 'w1'], 'me', (p) => p !== 'w1', FETCH_TRIES, ['agg'])
    .map((s) => [s.peer, s.tries]), [['h1', 1], ['w1', 1], ['agg', 1], ['w1', 2], ['agg', 2]])
})

test('the connected holders are drawn in random order, so a crowd spreads over them', () => {
  const holders = Array.from({ length: 6 }, (_, i) => `h${i}`)
  const firsts = new Set<string>()
  for (let i = 0; i < 200; i++) firsts.add(fetchOrder(holders, [], 'me', () => true)[0]!.peer)
  assert.equal(firsts.size, holders.length)
})
