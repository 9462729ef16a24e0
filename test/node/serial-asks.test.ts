// Members asks one at a time, the latest one asked for meanwhile run after it (node/serial-asks.ts): an ask for an
// announce's members must not be lost because another ask was under way.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SerialAsks } from '../../node/serial-asks.ts'

test('an ask made while another is in flight runs after it; the latest waiting one wins; none twice lately',
  async () => {
    const ran: string[] = []
    const ends: Array<() => void> = []
    const asks = new SerialAsks(async (peer, why) => {
      ran.push(`${peer}:${why}`)
      await new Promise<void>((resolve) => { ends.push(resolve) })
    }, 10_000, 100)
    assert.equal(asks.ask('a', 'joining', 1000), true)
    assert.equal(asks.busy, true)
    assert.equal(asks.ask('b', 'its announce', 1001), true, 'kept to run after the one in flight')
    assert.equal(asks.ask('c', 'its announce', 1002), true, 'replaces b: the latest announce is the one that counts')
    assert.equal(asks.ask('a', 'again', 1003), false, 'asked lately')
    assert.deepEqual(ran, ['a:joining'])
    ends.shift()!()
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(ran, ['a:joining', 'c:its announce'])
    ends.shift()!()
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(asks.busy, false)
    // a failed ask frees the slot as well
    const failing = new SerialAsks(async () => { throw new Error('stream reset') }, 10_000, 100)
    failing.ask('x', 'joining')
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(failing.busy, false)
    assert.equal(failing.ask('y', 'its announce'), true)
  })

test('a peer is asked again once the ask-again time has passed', async () => {
  const asks = new SerialAsks(async () => {}, 100, 2)
  assert.equal(asks.ask('a', 'x', 0), true)
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(asks.ask('a', 'x', 50), false)
  assert.equal(asks.ask('a', 'x', 150), true)
})
