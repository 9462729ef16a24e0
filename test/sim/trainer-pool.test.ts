// The simulation's shared trainer workers: a round's trainers spread over the workers, and a peer's round trains to
// the same bytes on whichever worker it lands (as on a worker of its own).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TrainerPool } from '../../sim/trainer-pool.ts'
import { createWorkerTrainer } from '../../trainer/train/worker-trainer.ts'
import { encodeSafetensors } from '../../trainer/safetensors.ts'
import { LORA, local, MAX_LENGTH, MODEL } from '../trainer/train/fixture.ts'

const spec = (from: number): Parameters<TrainerPool['open']>[0] => ({
  modelPath: MODEL, lora: { ...LORA, dropout: 0.05 }, records: local.train.slice(from, from + 16),
  maxLength: MAX_LENGTH, recipe: { batchSize: 4, length: { steps: 2 }, learningRate: 5e-3 }, microBatch: 4, threads: 1
})
const bytes = (a: Parameters<typeof encodeSafetensors>[0]): Buffer => Buffer.from(encodeSafetensors(a))

test('trainer pool: concurrent rounds go to different workers, and train as on a worker of their own',
  { timeout: 120_000 }, async () => {
  const pool = new TrainerPool(2)
  const a = await pool.open(spec(0))
  const b = await pool.open(spec(16))
  const own = await createWorkerTrainer(spec(16))
  try {
    const base = a.initialAdapter(3)
    const ra = a.train({ round: 1, base, seed: 9 })
    const rb = b.train({ round: 1, base, seed: 9 })
    assert.deepEqual(pool.inFlight, [1, 1]) // the second round went to the idle worker, not behind the first
    const [, pooled] = await Promise.all([ra, rb])
    assert.deepEqual(pool.inFlight, [0, 0])
    const alone = await own.train({ round: 1, base, seed: 9 })
    assert.ok(bytes(pooled.adapter.tensors).equals(bytes(alone.adapter.tensors)), 'pooled and own worker differ')
    // again, now on the first worker (both idle: the lowest index takes it): the same bytes
    const again = await b.train({ round: 1, base, seed: 9 })
    assert.ok(bytes(again.adapter.tensors).equals(bytes(alone.adapter.tensors)), 'the two workers differ')
  } finally {
    await a.close()
    await b.close()
    await own.close()
    await pool.close()
  }
  await assert.rejects(pool.open(spec(0)), /closed/)
  assert.throws(() => new TrainerPool(0), RangeError)
})
