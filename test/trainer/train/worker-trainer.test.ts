// The LocalTrainer the daemon and the simulation use: a round trains in the worker while this thread keeps
// running timers; two trainers share one worker; results are reproducible from the round's seed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createWorkerTrainer, TrainerWorker } from '../../../trainer/train/worker-trainer.ts'
import type { TrainProgress } from '../../../trainer/train/worker-trainer.ts'
import { encodeSafetensors } from '../../../trainer/safetensors.ts'
import { LORA, local, MAX_LENGTH, MODEL } from './fixture.ts'

test('worker trainer: a round through LocalTrainer, main thread responsive, shared worker, reproducible', async () => {
  const worker = TrainerWorker.create()
  const common = {
    modelPath: MODEL, lora: { ...LORA, dropout: 0.05 }, evalRecords: local.test.slice(0, 16), maxLength: MAX_LENGTH,
    recipe: { batchSize: 8, length: { steps: 4 }, learningRate: 5e-3 }, microBatch: 4, threads: 1, worker
  }
  const progress: TrainProgress[] = []
  const a = await createWorkerTrainer({ ...common, records: local.train.slice(0, 24),
    onProgress: (p) => progress.push(p) })
  const b = await createWorkerTrainer({ ...common, records: local.train.slice(24, 48) })
  try {
    assert.equal(a.stats.train.examples, 24)
    const base = a.initialAdapter(7)
    assert.ok(encodeSafetensors(base.tensors).length > 0)
    const before = await a.evaluate(base)
    let ticks = 0
    const timer = setInterval(() => { ticks++ }, 10)
    const t0 = Date.now()
    const steps: Array<[number, number]> = []
    const [ra, rb] = await Promise.all([a.train({ round: 1, base, seed: 11 }),
      b.train({ round: 1, base, seed: 11, onStep: (s) => { steps.push([s.step, s.totalSteps]) } })])
    const ms = Date.now() - t0
    clearInterval(timer)
    assert.ok(ticks >= Math.min(5, ms / 40), `main thread ticked ${ticks} times in ${ms} ms`)
    assert.deepEqual(progress.map((p) => [p.round, p.step]), [[1, 1], [1, 2], [1, 3], [1, 4]])
    // a request's own step callback hears its steps only (b's, not a's, on the shared worker)
    assert.deepEqual(steps, [[1, 4], [2, 4], [3, 4], [4, 4]])
    assert.equal(ra.samples, 24) // 4 steps x 8 > 24 examples: each seen
    assert.ok(ra.trainLoss > 0 && ra.tokens > 0 && ra.seconds > 0)
    assert.ok(!Buffer.from(encodeSafetensors(ra.adapter.tensors))
      .equals(Buffer.from(encodeSafetensors(rb.adapter.tensors))), 'different data, same adapter')
    const after = await a.evaluate(ra.adapter)
    assert.ok(after.evalLoss < before.evalLoss, `${before.evalLoss} -> ${after.evalLoss}`)
    // the same round again (after other work on the worker) gives the same bytes:
    // dropout masks come from the round's seed
    const again = await a.train({ round: 1, base, seed: 11 })
    assert.ok(Buffer.from(encodeSafetensors(again.adapter.tensors))
      .equals(Buffer.from(encodeSafetensors(ra.adapter.tensors))))
    // an aborted round rejects with AbortError
    const ctl = new AbortController()
    ctl.abort()
    await assert.rejects(a.train({ round: 2, base, seed: 1, signal: ctl.signal }), { name: 'AbortError' })
  } finally {
    await a.close()
    await b.close()
  }
})
