import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WorkerClient, WorkerCallError } from '../../../trainer/worker/rpc.ts'

test('worker rpc: results, events, errors by name, and a free main thread', async () => {
  const w = new WorkerClient(new URL('../../fixtures/echo-worker.ts', import.meta.url))
  try {
    const events: number[] = []
    w.on('progress', (p: { i: number }) => events.push(p.i))
    const r = await w.call<{ sum: number, doubled: Float32Array }>('sum', Float32Array.from([1, 2, 3, 4]))
    assert.equal(r.sum, 10)
    assert.deepEqual([...r.doubled], [2, 4, 6, 8])
    assert.deepEqual(events, [0, 2])
    await assert.rejects(w.call('fail'), (e: Error) => e instanceof WorkerCallError && e.name === 'DataError' &&
      e.message === 'bad batch')
    await assert.rejects(w.call('nope'), /unknown method nope/)
    // while the worker blocks for 300 ms, timers on this thread keep firing
    let ticks = 0
    const timer = setInterval(() => { ticks++ }, 20)
    assert.equal(await w.call('busy', 300), 'done')
    clearInterval(timer)
    assert.ok(ticks >= 5, `main thread ticked ${ticks} times`)
  } finally {
    await w.close()
  }
  await assert.rejects(w.call('sum', new Float32Array(1)), /closed/)
})
