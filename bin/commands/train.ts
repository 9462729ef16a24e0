// fedit train: fine-tune a LoRA adapter on local instruction data, with a progress bar, checkpoints that
// survive Ctrl-C, and exact resumption. Writes a PEFT adapter folder.
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { CliError } from '../cli-error.ts'
import { prepareOutputDir } from '../output-dir.ts'
import { parseFlags } from '../flags.ts'
import { checkMemory } from '../memory-check.ts'
import {
  choiceFlag, deviceFlag, numberFlag, precisionFlag, quantizeFlag, quantizeNote, required, targetsFlag
} from '../flag-values.ts'
import { createProgress, withCountProgress } from '../progress.ts'
import { loadCheckpoint } from '../../trainer/checkpoint/load.ts'
import { loadTokenizerFor } from '../../trainer/tokenizer.ts'
import type { Tokenizer } from '../../trainer/tokenizer.ts'
import { DEFAULT_LORA } from '../../trainer/lora/adapter.ts'
import type { LoraConfig } from '../../trainer/lora/adapter.ts'
import { initAdapter } from '../../trainer/lora/init.ts'
import { ADAPTER_WEIGHTS, saveAdapter } from '../../trainer/lora/peft-folder.ts'
import { defaultStepWorkers, ThreadedStepRunner } from '../../trainer/train/threaded-step-runner.ts'
import { readLocalRecords, someExamples, tokenizeOrFail } from '../../trainer/train/local-data.ts'
import type { InstructionRecord } from '../../trainer/data/record.ts'
import type { TokenizedExample, TokenizeOptions, TokenizeStats } from '../../trainer/data/tokenize-example.ts'
import { resolveRecipe, RecipeError, describeBatch } from '../../trainer/train/recipe.ts'
import type { RunLength } from '../../trainer/train/step-plan.ts'
import { runSteps, TrainingRun } from '../../trainer/train/train-loop.ts'
import { loadTrainState, saveTrainState, settingsMismatch, TRAIN_STATE_FILE } from '../../trainer/train/train-state.ts'

export const help = `usage: fedit train --model PATH --data FILE --out DIR [--steps N | --epochs E] [options]

Fine-tunes a LoRA adapter of the frozen model on instruction data (Dolly JSONL or Alpaca JSON, .gz allowed)
and writes it to DIR as a PEFT folder (adapter_config.json + adapter_model.safetensors). A file with records
past line 80 (Dolly) keeps its lines 1-80 out of training: they are FedIT's held-out test split (fedit eval).
  --steps N | --epochs E   optimizer steps, or passes over the data (default --epochs 1)
  --limit N                use the first N training records
  --lr X                   peak learning rate (default 1.5e-4)        --schedule constant|linear|cosine (linear)
  --warmup N               warm-up steps (default 0)                  --weight-decay W (default 0)
  --max-grad-norm G        gradient clipping (default 1; 0 = off)
  --batch-size N           examples per optimizer step (default 32)   --micro-batch N  rows per pass (default 8)
  --rank R --alpha A --dropout P --targets q_proj,k_proj,...
                           LoRA (default r 8, alpha 16, dropout 0.05, all linear layers)
  --max-length N           tokens per example (default 512)           --truncation context-first|truncate-end
  --train-on-inputs        take the loss on the prompt too            --seed S (default 0)
  --checkpoint-every N     save DIR/${TRAIN_STATE_FILE} every N steps (default 50); Ctrl-C saves one too
  --resume                 continue the run saved in DIR (same flags)  --force  overwrite an adapter in DIR
  --skip-malformed         skip (and list) malformed data lines instead of stopping at the first
  --device cpu|cuda|webgpu --threads N   (ONNX Runtime threads of each session)
  --precision auto|fp32|fp16|bf16   compute precision (default auto: the checkpoint's on a GPU, fp32 on the
                           CPU); fp16 trains with dynamic loss scaling; bf16 needs a GPU
  --recompute              recompute each layer's activations in the backward instead of keeping them: less
                           memory at long sequences (--max-length), the same gradients
  --quantize int8|int4     the frozen linear weights block-quantized at load (QLoRA-style; fp32 compute): a
                           faster CPU step; the adapter still applies to the unquantized model
  --max-memory SIZE        stop before starting when the run's memory estimate exceeds SIZE (e.g. 16G;
                           default: this machine's memory)
  --workers N              micro-batches run at once, each in a thread with a session of its own (default:
                           one per core, up to the micro-batches of a step, for a model under 5M weights on the
                           CPU without --threads; else 1). The adapter is the same for any N`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, {
    strings: ['model', 'data', 'out', 'steps', 'epochs', 'limit', 'lr', 'schedule', 'warmup', 'weight-decay',
      'max-grad-norm', 'batch-size', 'micro-batch', 'rank', 'alpha', 'dropout', 'targets', 'max-length', 'truncation',
      'seed', 'checkpoint-every', 'device', 'threads', 'workers', 'max-memory', 'precision', 'quantize'],
    booleans: ['train-on-inputs', 'resume', 'force', 'skip-malformed', 'recompute']
  })
  const modelPath = required(f, 'model', 'PATH')
  const dataPath = required(f, 'data', 'FILE')
  const out = required(f, 'out', 'DIR')
  if (f.strings.has('steps') && f.strings.has('epochs')) throw new CliError('give --steps or --epochs, not both', 2)
  const steps = numberFlag(f, 'steps', { integer: true, min: 1 })
  const length: RunLength = steps !== undefined ? { steps } : { epochs: numberFlag(f, 'epochs', { min: 1e-6 }) ?? 1 }
  const limit = numberFlag(f, 'limit', { integer: true, min: 1 })
  const lora: LoraConfig = {
    r: numberFlag(f, 'rank', { integer: true, min: 1 }) ?? DEFAULT_LORA.r,
    alpha: numberFlag(f, 'alpha', { min: 1e-9 }) ?? DEFAULT_LORA.alpha,
    dropout: numberFlag(f, 'dropout', { min: 0, max: 0.99 }) ?? DEFAULT_LORA.dropout,
    targetModules: targetsFlag(f) ?? DEFAULT_LORA.targetModules
  }
  const seed = numberFlag(f, 'seed', { integer: true, min: 0 }) ?? 0
  let recipe
  try {
    recipe = resolveRecipe({
      learningRate: numberFlag(f, 'lr', { min: 0 }),
      batchSize: numberFlag(f, 'batch-size', { integer: true, min: 1 }),
      microBatchSize: numberFlag(f, 'micro-batch', { integer: true, min: 1 }),
      length,
      weightDecay: numberFlag(f, 'weight-decay', { min: 0 }),
      warmupSteps: numberFlag(f, 'warmup', { integer: true, min: 0 }),
      schedule: choiceFlag(f, 'schedule', ['constant', 'linear', 'cosine'] as const, 'linear'),
      maxGradNorm: numberFlag(f, 'max-grad-norm', { min: 0 }),
      seed
    })
  } catch (err) { throw err instanceof RecipeError ? new CliError(err.message, 2) : err }
  const tokenize = {
    maxLength: numberFlag(f, 'max-length', { integer: true, min: 8 }) ?? 512,
    truncation: choiceFlag(f, 'truncation', ['context-first', 'truncate-end'] as const, 'context-first'),
    trainOnInputs: f.booleans.has('train-on-inputs')
  }
  const every = numberFlag(f, 'checkpoint-every', { integer: true, min: 1 }) ?? 50
  const threads = numberFlag(f, 'threads', { integer: true, min: 0 })
  const workersFlag = numberFlag(f, 'workers', { integer: true, min: 1 })
  const device = deviceFlag(f)
  const resume = f.booleans.has('resume')
  const stateFile = join(out, TRAIN_STATE_FILE)
  if (resume && f.booleans.has('force')) throw new CliError('--resume and --force contradict each other', 2)
  if (resume && !existsSync(stateFile)) throw new CliError(`${stateFile}: no training checkpoint to resume`)
  if (!resume && !f.booleans.has('force')) {
    if (existsSync(join(out, ADAPTER_WEIGHTS))) {
      throw new CliError(`${out} already holds an adapter; use --force to overwrite it`)
    }
    if (existsSync(stateFile)) {
      throw new CliError(`${out} holds an interrupted run; use --resume to continue it or --force to start over`)
    }
  }
  prepareOutputDir(out)

  // the config only (the helpers load the weights they train with; this thread lets its copy go)
  const ckpt = loadCheckpoint(modelPath)
  const { config } = ckpt
  const precision = precisionFlag(f, device, ckpt)
  const recompute = f.booleans.has('recompute')
  const quantize = quantizeFlag(f, precision)
  checkMemory(ckpt, { kind: 'train', microBatch: recipe.microBatchSize, seq: tokenize.maxLength, lora, recompute,
    quantize }, f,
    recompute ? '--micro-batch or --max-length' : '--micro-batch or --max-length, or use --recompute')
  const tok = loadTokenizerFor(modelPath, config.vocabSize)
  const local = readLocalRecords(dataPath, { onMalformed: f.booleans.has('skip-malformed') ? 'skip' : 'reject', limit })
  for (const p of local.problems) console.error(`skipped ${p.file}:${p.line}: ${p.message}`)
  // everything that decides the result; a resume must match it. The compute precision and quantized base weights
  // change the numbers too; they are recorded only when not the default (fp32, unquantized), so a checkpoint
  // saved before they were recorded still resumes under the defaults
  const settings = { model: resolve(modelPath), data: resolve(dataPath), limit: limit ?? null, lora,
    recipe: { ...recipe, microBatchSize: undefined }, tokenize,
    ...(precision !== 'fp32' ? { precision } : {}), ...(quantize !== undefined ? { quantize } : {}) }

  let from: ConstructorParameters<typeof TrainingRun>[3] = initAdapter(config, lora, seed)
  if (resume) {
    const saved = loadTrainState(stateFile)
    const diff = settingsMismatch(saved.settings, JSON.parse(JSON.stringify(settings)))
    if (diff !== undefined) throw new CliError(`${stateFile}: cannot resume with different settings (${diff})`)
    from = saved.state
  }
  const startStep = 'step' in from ? from.step : 0
  const microBatches = Math.ceil(recipe.batchSize / recipe.microBatchSize)
  const workers = workersFlag ?? defaultStepWorkers(config, { device, threads, microBatchesPerStep: microBatches })
  // sessions in helper threads (one each): this thread stays free for the progress bar and Ctrl-C
  if (quantize !== undefined) console.error(quantizeNote(quantize))
  const stepRunner = await ThreadedStepRunner.open({ modelPath, lora, device, threads, precision, recompute, quantize },
    workers)
  try {
    const { examples, stats } = await tokenizeTraining(stepRunner, tok, local.train, tokenize)
    const runner = new TrainingRun(stepRunner, examples, recipe, from)
    console.error(`data: ${local.rule}; ${stats.examples} examples (${stats.shortened} shortened, ${stats.dropped} ` +
      `dropped with nothing to learn)`)
    if (runner.finished) {
      saveAdapter(out, runner.adapter(), { baseModel: modelPath })
      console.log(`already done (${runner.step} steps); adapter in ${out}`)
      return 0
    }
    const stop = new AbortController()
    const onSignal = (): void => stop.abort()
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    console.error(`training ${runner.totalSteps} steps${startStep > 0 ? ` from step ${startStep}` : ''} ` +
      `(${describeBatch(recipe)}${workers > 1 ? `, ${workers} at once` : ''}, lr ${recipe.learningRate}, LoRA ` +
      `r ${lora.r}${precision !== 'fp32' ? `, ${precision} compute` : ''}` +
      `${quantize !== undefined ? `, int${quantize.bits} base weights` : ''})`)
    const progress = createProgress('train', runner.totalSteps)
    progress.update({ step: startStep })
    let last = NaN
    try {
      await runSteps(runner, {
        signal: stop.signal,
        yieldBetweenSteps: true, // lets Ctrl-C in between steps
        onStep: (s) => {
          last = s.loss
          const scale = s.lossScale !== undefined ? `, loss scale ${s.lossScale}${s.skipped === true
            ? ' (overflow: step skipped)' : ''}` : ''
          progress.update({ step: s.step, loss: s.loss, tokensPerSec: s.tokensPerSec,
            note: `lr ${s.lr.toExponential(2)}${scale}` })
          if (s.step % every === 0 && s.step < s.totalSteps) saveTrainState(stateFile, runner.state(), settings)
        }
      })
    } finally {
      progress.stop()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    saveTrainState(stateFile, runner.state(), settings)
    if (!runner.finished) {
      console.error(`interrupted at step ${runner.step}/${runner.totalSteps}; checkpoint saved in ${stateFile} ` +
        `(continue with --resume)`)
      return 130
    }
    saveAdapter(out, runner.adapter(), { baseModel: modelPath })
    console.log(`adapter written to ${out} (${runner.step} steps, last loss ${last.toFixed(4)})`)
    return 0
  } finally {
    await stepRunner.close()
  }
}

/**
 * A large file is tokenized by the helpers, a share each, under a progress bar (0.3 ms a record on one core here:
 * Dolly's 15k records are seconds); a small one right here.
 */
async function tokenizeTraining (helpers: ThreadedStepRunner, tok: Tokenizer, records: readonly InstructionRecord[],
  options: TokenizeOptions): Promise<{ examples: TokenizedExample[], stats: TokenizeStats }> {
  return await withCountProgress('data: tokenizing', records.length, 'records', 2000,
    async (update) => update === undefined
    ? tokenizeOrFail(tok, records, options, 'training')
    : someExamples(await helpers.tokenize(records, options, update), options, 'training'))
}
