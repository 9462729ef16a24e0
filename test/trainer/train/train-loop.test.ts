// LoRA training of the real stories260K on real Dolly: the held-out loss falls, a saved adapter reloads to the
// identical loss, merging equals the adapter, a seed fixes the result, and a resumed run equals a straight one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initAdapter } from '../../../trainer/lora/init.ts'
import { loadAdapter, saveAdapter } from '../../../trainer/lora/peft-folder.ts'
import { mergeAdapter } from '../../../trainer/lora/merge.ts'
import { EvalSession, TrainSession } from '../../../trainer/model/sessions.ts'
import { encodeSafetensors } from '../../../trainer/safetensors.ts'
import type { Adapter } from '../../../trainer/lora/adapter.ts'
import { resolveRecipe } from '../../../trainer/train/recipe.ts'
import { runSteps, TrainingRun } from '../../../trainer/train/train-loop.ts'
import { evaluateExamples } from '../../../trainer/train/evaluate.ts'
import { loadTrainState, saveTrainState, settingsMismatch } from '../../../trainer/train/train-state.ts'
import { distinctExamples, stepExamples } from '../../../trainer/train/step-plan.ts'
import { ckpt, evalExamples, LORA, trainExamples } from './fixture.ts'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'fedit-train-'))
const bytes = (a: Adapter): Buffer => Buffer.from(encodeSafetensors(a.tensors))
const recipe = resolveRecipe({ batchSize: 8, microBatchSize: 4, length: { steps: 12 }, learningRate: 5e-3,
  schedule: 'cosine', warmupSteps: 2, seed: 3 })

test('training lowers the held-out loss; the saved adapter reloads to the identical loss; merge equals the adapter',
  async () => {
  const train = await TrainSession.create(ckpt, LORA, { threads: 2 })
  const evalLora = await EvalSession.create(ckpt, { lora: LORA, threads: 2 })
  const start = initAdapter(ckpt.config, LORA, 1)
  const before = await evaluateExamples(evalLora, evalExamples, { adapter: start })
  const run = new TrainingRun(train, trainExamples, recipe, start)
  const losses: number[] = []
  await runSteps(run, { onStep: (s) => {
    losses.push(s.loss)
    assert.ok(s.tokens > 0 && s.tokensPerSec > 0 && s.lr > 0)
  } })
  assert.equal(losses.length, 12)
  const trained = run.adapter()
  const after = await evaluateExamples(evalLora, evalExamples, { adapter: trained })
  assert.ok(after.evalLoss < before.evalLoss - 0.2, `held-out loss ${before.evalLoss} -> ${after.evalLoss}`)
  assert.equal(after.perplexity, Math.exp(after.evalLoss))
  assert.deepEqual(Object.keys(after.byCategory), Object.keys(before.byCategory))
  assert.equal(after.examples, evalExamples.length)

  const dir = tmp()
  saveAdapter(dir, trained, { baseModel: 'stories260K' })
  const reloaded = loadAdapter(dir, ckpt.config)
  assert.deepEqual(await evaluateExamples(evalLora, evalExamples, { adapter: reloaded }), after)

  const plain = await EvalSession.create(mergeAdapter(ckpt, reloaded), { threads: 2 })
  const merged = await evaluateExamples(plain, evalExamples)
  assert.ok(Math.abs(merged.evalLoss - after.evalLoss) < 1e-4, `merged ${merged.evalLoss} vs adapter ${after.evalLoss}`)
  for (const [cat, l] of Object.entries(after.byCategory)) assert.ok(Math.abs(merged.byCategory[cat]! - l) < 1e-4, cat)
  await Promise.all([train.release(), evalLora.release(), plain.release()])
})

test('same seed -> same adapter bytes (with LoRA dropout too); N steps straight = N/2 + checkpoint + resume + N/2 ' +
  '(with dropout)', async () => {
  const short = { ...recipe, length: { steps: 4 } }
  const start = initAdapter(ckpt.config, LORA, 2)
  const straight = async (lora = LORA): Promise<Adapter> => {
    const s = await TrainSession.create(ckpt, lora, { threads: 2 })
    const run = new TrainingRun(s, trainExamples, short, { ...start, config: lora })
    await runSteps(run)
    await s.release()
    return run.adapter()
  }
  const a = await straight()
  assert.ok(bytes(a).equals(bytes(await straight())), 'two runs with one seed differ')
  const withDropout = { ...LORA, dropout: 0.1 }
  const d1 = await straight(withDropout)
  assert.ok(bytes(d1).equals(bytes(await straight(withDropout))), 'dropout runs with one seed differ')
  assert.ok(!bytes(d1).equals(bytes(a)), 'dropout had no effect')

  // resume, with LoRA dropout: its masks come from (seed, step, micro-batch), so the resumed run replays them
  const file = join(tmp(), 'train-state.safetensors')
  const s1 = await TrainSession.create(ckpt, withDropout, { threads: 2 })
  const first = new TrainingRun(s1, trainExamples, short, { ...start, config: withDropout })
  await runSteps(first, { until: 2 })
  saveTrainState(file, first.state(), { seed: short.seed })
  await s1.release()
  const { state, settings } = loadTrainState(file)
  assert.equal(state.step, 2)
  assert.equal(settingsMismatch(settings, { seed: short.seed }), undefined)
  assert.match(settingsMismatch(settings, { seed: 4 })!, /seed: 3 in the checkpoint, 4 now/)
  const s2 = await TrainSession.create(ckpt, withDropout, { threads: 2 })
  const second = new TrainingRun(s2, trainExamples, short, state)
  const r = await runSteps(second)
  await s2.release()
  assert.equal(r.steps, 2)
  let worst = 0
  for (const [k, t] of d1.tensors) {
    const u = second.adapter().tensors.get(k)!.data
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - u[i]!))
  }
  assert.ok(worst < 1e-6, `resumed run differs by ${worst}`)
})

test('step plan: every example once per epoch, exact batch size, distinct samples', () => {
  const seen = new Set<number>()
  for (let s = 0; s < 4; s++) {
    const { epoch, indices } = stepExamples(30, 8, 1, s)
    assert.equal(epoch, 0)
    indices.forEach((i) => seen.add(i))
    assert.equal(indices.length, s < 3 ? 8 : 6)
  }
  assert.equal(seen.size, 30)
  assert.equal(stepExamples(30, 8, 1, 4).epoch, 1)
  assert.equal(distinctExamples(30, 8, 1, 0, 2), 16)
  assert.equal(distinctExamples(30, 8, 1, 0, 9), 30)
})
