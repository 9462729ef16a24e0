// The aggregator's probe of its quiet trainers, with a ping the test answers: a trainer is gone only once a probe
// failed and nothing answered for the window; a slow probe is not a failure; a new collection starts afresh.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TrainerProbe } from '../../node/trainer-probe.ts'

const TIMING = { windowMs: 3000, everyMs: 1000 }

/** a ping whose answers the test gives: each call waits until `answer` or `fail` names its peer */
function scriptedPing (): {
  ping: (peer: string, signal: AbortSignal) => Promise<void>
  calls: string[]
  answer: (peer: string) => Promise<void>
  fail: (peer: string) => Promise<void>
} {
  const calls: string[] = []
  const pending = new Map<string, Array<{ ok: () => void, no: (e: Error) => void }>>()
  const settle = async (peer: string, ok: boolean): Promise<void> => {
    const list = pending.get(peer) ?? []
    pending.delete(peer)
    for (const p of list) { if (ok) p.ok(); else p.no(new Error('connection refused')) }
    await new Promise((resolve) => setImmediate(resolve))
  }
  return {
    calls,
    ping: async (peer, signal) => {
      calls.push(peer)
      await new Promise<void>((resolve, reject) => {
        const list = pending.get(peer) ?? []
        list.push({ ok: resolve, no: reject })
        pending.set(peer, list)
        signal.addEventListener('abort', () => { reject(new Error('aborted')) })
      })
    },
    answer: async (peer) => { await settle(peer, true) },
    fail: async (peer) => { await settle(peer, false) }
  }
}

test('a trainer is gone once its probe failed and it was unheard for the window, not before', async () => {
  const s = scriptedPing()
  const lines: string[] = []
  const probe = new TrainerProbe(s.ping, TIMING, (l) => lines.push(l))
  let now = 10_000
  probe.watch('1/0', ['a', 'b'], now)
  assert.deepEqual(s.calls, ['a', 'b'])
  await s.fail('a')
  await s.answer('b')
  // failed, but within the window from when we began to watch it
  assert.equal(probe.gone('a', now + 100), false)
  assert.equal(probe.gone('b', now + 100), false)
  now += 1000
  probe.watch('1/0', ['a', 'b'], now)
  assert.deepEqual(s.calls, ['a', 'b', 'a', 'b'], 'a probe a heartbeat after the last')
  // a probe still in flight is no failure, however long past the window
  assert.equal(probe.gone('a', now + 5000), false)
  await s.fail('a')
  await s.answer('b')
  assert.equal(probe.gone('a', now + 2500), true, 'failed and unheard for the window')
  assert.equal(probe.gone('b', now + 2500), false)
  assert.equal(lines.length, 1, 'a run of failures is said once')
  assert.match(lines[0]!, /probe of trainer a failed: connection refused/)
  // a peer no longer named (its update came) is no longer watched, and never gone
  probe.watch('1/0', ['b'], now + 1000)
  assert.equal(probe.gone('a', now + 9000), false)
})

test('an answer makes a failed trainer heard again; a new collection forgets what the last one learnt', async () => {
  const s = scriptedPing()
  const probe = new TrainerProbe(s.ping, TIMING)
  const t0 = Date.now()
  probe.watch('2/0', ['a'], t0)
  await s.fail('a')
  probe.watch('2/0', ['a'], t0 + 1000)
  await s.answer('a')
  // heard now (Date.now() at the answer), so not gone a window after the watch began
  assert.equal(probe.gone('a', t0 + 3500), false)
  // no second probe before a heartbeat passed
  probe.watch('2/0', ['a'], t0 + 1500)
  assert.equal(s.calls.length, 2)
  probe.watch('2/0', ['a'], t0 + 2000)
  await s.fail('a')
  assert.equal(probe.gone('a', Date.now() + 3001), true)
  // the next attempt's collection watches afresh: its window starts now
  probe.watch('2/1', ['a'], t0 + 10_000)
  assert.equal(probe.gone('a', t0 + 10_500), false)
  await s.fail('a')
  assert.equal(probe.gone('a', t0 + 12_000), false, 'within the new window')
  assert.equal(probe.gone('a', t0 + 13_001), true)
})

test('a probe times out after the window, and stopping the peer aborts those in flight', async () => {
  const stop = new AbortController()
  const calls: string[] = []
  let aborted = 0
  const hang = async (peer: string, signal: AbortSignal): Promise<void> => {
    calls.push(peer)
    await new Promise<void>((resolve, reject) => {
      signal.addEventListener('abort', () => { aborted++; reject(new Error('aborted')) })
    })
  }
  const probe = new TrainerProbe(hang, { windowMs: 200, everyMs: 50 }, () => {}, stop.signal)
  const t0 = Date.now()
  probe.watch('3/0', ['a'], t0)
  await new Promise((resolve) => setTimeout(resolve, 400))
  assert.equal(aborted, 1, 'the hanging probe ended at its timeout')
  assert.equal(probe.gone('a', Date.now()), true)
  probe.watch('3/0', ['a'], Date.now())
  assert.equal(calls.length, 2)
  stop.abort()
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(aborted, 2)
})
