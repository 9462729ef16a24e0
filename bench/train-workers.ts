// LoRA training throughput of stories260K on real Dolly with a step's micro-batches in one session in turn, against
// the same steps side by side in helper threads (ThreadedStepRunner, what `fedit train` does by default for a small
// model): batch 32 = 4 micro-batches of 8, max length 512, LoRA r 8 on all linear layers with dropout 0.05.
// The two alternate (one, many, one, many) and each figure is the better of its two runs; the adapters must match.
// Usage: npm run bench -- train-workers [--workers N (default: one per core, at most 4)] [--steps S] [--records R]
import { availableParallelism } from 'node:os'
import { loadCheckpoint } from '../trainer/checkpoint/load.ts'
import { loadTokenizerFor } from '../trainer/tokenizer.ts'
import { readLocalRecords } from '../trainer/train/local-data.ts'
import { tokenizeRecords } from '../trainer/data/tokenize-example.ts'
import { DEFAULT_LORA } from '../trainer/lora/adapter.ts'
import { initAdapter } from '../trainer/lora/init.ts'
import { encodeSafetensors } from '../trainer/safetensors.ts'
import { TrainSession } from '../trainer/model/sessions.ts'
import { resolveRecipe } from '../trainer/train/recipe.ts'
import { runSteps, TrainingRun } from '../trainer/train/train-loop.ts'
import type { StepRunner } from '../trainer/train/step-runner.ts'
import { ThreadedStepRunner } from '../trainer/train/threaded-step-runner.ts'
import { numberFlag } from './lib/args.ts'

const MODEL = 'assets/stories260K/stories260K.bin'
const workers = numberFlag('workers', Math.min(availableParallelism(), 4))
const steps = numberFlag('steps', 6)
const records = numberFlag('records', 1000)
const ckpt = loadCheckpoint(MODEL)
const tok = loadTokenizerFor(MODEL, ckpt.config.vocabSize)
const { examples } = tokenizeRecords(tok, readLocalRecords('assets/dolly/dolly-15k.jsonl.gz', { limit: records }).train,
  { maxLength: 512 })
const lora = DEFAULT_LORA
const recipe = resolveRecipe({ batchSize: 32, microBatchSize: 8, length: { steps }, seed: 1 })

async function time (runner: StepRunner): Promise<{ tokensPerSec: number, bytes: Buffer }> {
  const run = new TrainingRun(runner, examples, recipe, initAdapter(ckpt.config, lora, 1))
  await runSteps(run, { until: 1 }) // warm-up step, not timed
  let real = 0; let seconds = 0
  await runSteps(run, { onStep: (s) => { real += s.tokensPerSec * s.seconds; seconds += s.seconds } })
  return { tokensPerSec: real / seconds, bytes: Buffer.from(encodeSafetensors(run.adapter().tensors)) }
}

const one = await TrainSession.create(ckpt, lora, { threads: 1 })
const many = await ThreadedStepRunner.open({ modelPath: MODEL, lora, threads: 1 }, workers)
const a = [await time(one), await time(many), await time(one), await time(many)]
await one.release(); await many.close()
if (!a.every((r) => r.bytes.equals(a[0]!.bytes))) throw new Error('the adapters differ between runs')
const best = (x: number, y: number): number => Math.round(Math.max(x, y))
const t1 = best(a[0]!.tokensPerSec, a[2]!.tokensPerSec)
const tn = best(a[1]!.tokensPerSec, a[3]!.tokensPerSec)
console.log(JSON.stringify({ bench: 'train-workers', workers, cores: availableParallelism(), steps, tokensPerSec1: t1,
  tokensPerSecN: tn, speedup: Number((tn / t1).toFixed(3)), sameAdapter: true,
  peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024) }))
