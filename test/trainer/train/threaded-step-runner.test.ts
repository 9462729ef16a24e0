// Micro-batches in helper threads: the same adapter bytes as one session running them in turn (with LoRA dropout,
// and with more helpers than a step has micro-batches), a helper's error reaches the caller as one, and the helpers'
// tokenization of shares equals one pass.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { initAdapter } from '../../../trainer/lora/init.ts'
import { TrainSession } from '../../../trainer/model/sessions.ts'
import { encodeSafetensors } from '../../../trainer/safetensors.ts'
import type { Adapter } from '../../../trainer/lora/adapter.ts'
import { resolveRecipe } from '../../../trainer/train/recipe.ts'
import { runSteps, TrainingRun } from '../../../trainer/train/train-loop.ts'
import type { StepRunner } from '../../../trainer/train/step-runner.ts'
import { InOrder } from '../../../trainer/train/step-runner.ts'
import { defaultStepWorkers, ThreadedStepRunner } from '../../../trainer/train/threaded-step-runner.ts'
import { tokenizeRecords } from '../../../trainer/data/tokenize-example.ts'
import { ckpt, local, LORA, MODEL, tok, trainExamples } from './fixture.ts'

const bytes = (a: Adapter): Buffer => Buffer.from(encodeSafetensors(a.tensors))
const lora = { ...LORA, dropout: 0.1 }
// 3 micro-batches a step, of different lengths
const recipe = resolveRecipe({ batchSize: 12, microBatchSize: 4, length: { steps: 3 }, learningRate: 5e-3, seed: 5 })

async function train (runner: StepRunner): Promise<{ adapter: Adapter, losses: number[] }> {
  const run = new TrainingRun(runner, trainExamples, recipe, initAdapter(ckpt.config, lora, 4))
  const losses: number[] = []
  await runSteps(run, { onStep: (s) => { losses.push(s.loss) } })
  return { adapter: run.adapter(), losses }
}

test('micro-batches in 2 or 4 helper threads train to the same adapter bytes as one session', async () => {
  const session = await TrainSession.create(ckpt, lora, { threads: 1 })
  const one = await train(session)
  await session.release()
  for (const n of [2, 4]) {
    const runner = await ThreadedStepRunner.open({ modelPath: MODEL, lora, threads: 1 }, n)
    try {
      assert.equal(runner.size, n)
      assert.deepEqual(runner.names, session.names)
      const many = await train(runner)
      assert.deepEqual(many.losses, one.losses)
      assert.ok(bytes(many.adapter).equals(bytes(one.adapter)), `${n} helpers: adapter differs`)
    } finally {
      await runner.close()
    }
  }
})

test("a helper's error rejects the step; a model that cannot load fails open()", async () => {
  const runner = await ThreadedStepRunner.open({ modelPath: MODEL, lora, threads: 1 }, 2)
  try {
    const bad = initAdapter(ckpt.config, { ...lora, r: 2 }, 1) // wrong shapes for this session
    const batch = { batch: 1, seq: 8, inputIds: new BigInt64Array(8).fill(5n), labels: new BigInt64Array(8).fill(5n),
      attentionMask: new BigInt64Array(8).fill(1n) }
    await assert.rejects(runner.runStep([{ batch, dropoutSeed: 1 }, { batch, dropoutSeed: 2 }], bad, () => {}),
      /has shape \[2,64\], the model needs \[4,64\]/)
  } finally {
    await runner.close()
  }
  await assert.rejects(ThreadedStepRunner.open({ modelPath: 'no/such/model.bin', lora, threads: 1 }, 2),
    /no\/such\/model\.bin/)
})

test('helpers tokenize shares of the records to what one tokenizeRecords call gives, stats and progress too',
  async () => {
  const records = local.train.slice(0, 301)
  // the plain cut leaves some records no response token
  const options = { maxLength: 400, truncation: 'truncate-end' as const }
  const one = tokenizeRecords(tok, records, options)
  assert.ok(one.stats.dropped > 0 && one.stats.shortened > 0, 'precondition: some records dropped and some shortened')
  const runner = await ThreadedStepRunner.open({ modelPath: MODEL, lora, threads: 1 }, 3)
  try {
    const seen: number[] = []
    const many = await runner.tokenize(records, options, (done) => seen.push(done))
    assert.deepEqual(many, one)
    assert.equal(seen.at(-1), records.length)
    assert.ok(seen.every((d, i) => i === 0 || d >= seen[i - 1]!), 'progress never goes back')
  } finally {
    await runner.close()
  }
})

test('InOrder hands results over in order, whatever order they arrive in', () => {
  const got: Array<[number, string]> = []
  const o = new InOrder<string>((k, r) => got.push([k, r]))
  o.put(2, 'c'); o.put(1, 'b')
  assert.deepEqual(got, [])
  o.put(0, 'a'); o.put(3, 'd')
  assert.deepEqual(got, [[0, 'a'], [1, 'b'], [2, 'c'], [3, 'd']])
  assert.equal(o.taken, 4)
})

test('default helpers: one per core (at most the micro-batches of a step) for a small model on the CPU, else one',
  () => {
  const small = ckpt.config
  assert.equal(defaultStepWorkers(small, { microBatchesPerStep: 1 }), 1)
  assert.ok(defaultStepWorkers(small, { microBatchesPerStep: 64 }) >= 1)
  assert.equal(defaultStepWorkers(small, { microBatchesPerStep: 64, threads: 2 }), 1)
  assert.equal(defaultStepWorkers(small, { microBatchesPerStep: 64, device: 'cuda' }), 1)
  const big = { ...small, dim: 4096, hiddenDim: 11008, nHeads: 32, nKvHeads: 32, nLayers: 2, vocabSize: 32000 }
  assert.equal(defaultStepWorkers(big, { microBatchesPerStep: 64 }), 1)
})
