// One peer's local FedIT training, in the thread that owns the ONNX sessions: each round trains the recipe's
// local steps (or epochs) from the round's base adapter with a fresh AdamW state, as FedIT does, on data
// ordered by the round's seed; evaluation is the held-out token loss. The worker (trainer-worker.ts) runs
// these for the main thread; a test or a script may run one directly.
import type { Adapter, LoraConfig } from '../lora/adapter.ts'
import type { LlamaConfig } from '../model/config.ts'
import type { DataProblem, InstructionRecord } from '../data/record.ts'
import type { TokenizedExample, TokenizeOptions, TokenizeStats } from '../data/tokenize-example.ts'
import type { EvalResult, TrainResult } from '../local-trainer.ts'
import type { SessionPool, SessionSettings } from './session-pool.ts'
import type { TrainRecipe, ResolvedRecipe } from './recipe.ts'
import { resolveRecipe } from './recipe.ts'
import type { StepInfo } from './train-loop.ts'
import { runSteps, TrainingRun } from './train-loop.ts'
import { distinctExamples } from './step-plan.ts'
import { evaluateExamples } from './evaluate.ts'
import { readLocalRecords, tokenizeOrFail } from './local-data.ts'
import { defaultStepWorkers, ThreadedStepRunner } from './threaded-step-runner.ts'

export interface RoundTrainerSpec {
  readonly modelPath: string
  /** this peer's training records (already partitioned); or dataPath */
  readonly records?: readonly InstructionRecord[]
  /** read with the held-out rule of local-data.ts: training part for training, test part for evaluate() */
  readonly dataPath?: string
  /** held-out records for evaluate() (overrides the data file's test part) */
  readonly evalRecords?: readonly InstructionRecord[]
  readonly lora: LoraConfig
  /** per round: length = local steps or epochs; seed is replaced by each round's seed */
  readonly recipe: TrainRecipe
  readonly tokenize?: TokenizeOptions
  readonly device?: SessionSettings['device']
  /** compute precision (precision.ts; default auto) */
  readonly precision?: SessionSettings['precision']
  /** train sessions: per-layer activation recomputation (less memory, one more forward a step) */
  readonly recompute?: boolean
  /** block-quantized frozen linear weights (quantize.ts) */
  readonly quantize?: SessionSettings['quantize']
  readonly threads?: number
  /**
   * micro-batches run at once, each in a helper thread with a session of its own (ThreadedStepRunner); default:
   * defaultStepWorkers (one per core for a small model on the CPU without `threads`, else 1). Peers that share
   * a machine (the simulation) set threads or 1 here.
   */
  readonly workers?: number
}

export interface DataStats {
  readonly train: TokenizeStats
  readonly eval?: TokenizeStats
  /** read from a data file: its split rule and the malformed lines skipped */
  readonly file?: { readonly records: number, readonly rule: string, readonly problems: readonly DataProblem[] }
}

export class RoundTrainer {
  private constructor (
    private readonly pool: SessionPool,
    /** the helpers when workers > 1 (owned by this trainer); else the pool's shared train session */
    private readonly helpers: ThreadedStepRunner | undefined,
    private readonly spec: RoundTrainerSpec,
    private readonly recipe: ResolvedRecipe,
    private readonly examples: readonly TokenizedExample[],
    private readonly evalExamples: readonly TokenizedExample[] | undefined,
    readonly modelConfig: LlamaConfig,
    readonly stats: DataStats
  ) {}

  static async open (pool: SessionPool, spec: RoundTrainerSpec): Promise<RoundTrainer> {
    const recipe = resolveRecipe(spec.recipe)
    const { ckpt, tok } = pool.model(spec.modelPath)
    let train = spec.records
    let test = spec.evalRecords
    let file: DataStats['file']
    if (train === undefined) {
      if (spec.dataPath === undefined) throw new RangeError('give records or a dataPath')
      const local = readLocalRecords(spec.dataPath, { onMalformed: 'skip' })
      train = local.train
      test ??= local.rule.startsWith('held-out') ? local.test : undefined
      file = { records: local.train.length + (local.rule.startsWith('held-out') ? local.test.length : 0),
        rule: local.rule, problems: local.problems }
    }
    const tr = tokenizeOrFail(tok, train, spec.tokenize ?? {}, 'training')
    const ev = test !== undefined && test.length > 0 ? tokenizeOrFail(tok, test,
      { ...spec.tokenize, trainOnInputs: false }, 'evaluation') : undefined
    // build the sessions now, so the first round does not pay for them
    const s = settings(spec)
    const workers = spec.workers ?? defaultStepWorkers(ckpt.config,
      { ...s, microBatchesPerStep: Math.ceil(recipe.batchSize / recipe.microBatchSize) })
    const helpers = workers > 1 ? await ThreadedStepRunner.open({ modelPath: spec.modelPath, lora: spec.lora, ...s },
      workers) : undefined
    if (helpers === undefined) await pool.acquireTrain(spec.modelPath, spec.lora, s)
    if (ev !== undefined) await pool.acquireEval(spec.modelPath, spec.lora, s)
    return new RoundTrainer(pool, helpers, spec, recipe, tr.examples, ev?.examples, ckpt.config,
      { train: tr.stats, eval: ev?.stats, file })
  }

  get hasEval (): boolean { return this.evalExamples !== undefined }

  /** micro-batches trained at once */
  get workers (): number { return this.helpers?.size ?? 1 }

  async train (req: { round: number, base: Adapter, seed: number },
    o: { signal?: AbortSignal, onStep?: (s: StepInfo) => void } = {}): Promise<TrainResult> {
    const t0 = performance.now()
    const recipe: ResolvedRecipe = { ...this.recipe, seed: req.seed }
    const { modelPath, lora } = this.spec
    const s = settings(this.spec)
    const runner = this.helpers ?? await this.pool.acquireTrain(modelPath, lora, s)
    try {
      const run = new TrainingRun(runner, this.examples, recipe, req.base)
      const r = await runSteps(run, { signal: o.signal, onStep: o.onStep, yieldBetweenSteps: true })
      if (o.signal?.aborted === true) {
        const e = new Error(`round ${req.round}: training aborted after ${r.steps} steps`)
        e.name = 'AbortError'
        throw e
      }
      return {
        adapter: run.adapter(),
        samples: distinctExamples(this.examples.length, recipe.batchSize, recipe.seed, 0, run.totalSteps),
        trainLoss: r.meanLoss,
        tokens: r.tokens,
        seconds: (performance.now() - t0) / 1000
      }
    } finally {
      if (this.helpers === undefined) await this.pool.releaseTrain(modelPath, lora, s)
    }
  }

  async evaluate (adapter: Adapter): Promise<EvalResult> {
    if (this.evalExamples === undefined) throw new RangeError('this trainer has no held-out data to evaluate on')
    const s = settings(this.spec)
    const session = await this.pool.acquireEval(this.spec.modelPath, this.spec.lora, s)
    try {
      const r = await evaluateExamples(session, this.evalExamples,
        { adapter, microBatchSize: this.recipe.microBatchSize })
      return { evalLoss: r.evalLoss, byCategory: r.byCategory, examples: r.examples }
    } finally {
      await this.pool.releaseEval(this.spec.modelPath, this.spec.lora, s)
    }
  }

  async close (): Promise<void> {
    const s = settings(this.spec)
    if (this.helpers !== undefined) await this.helpers.close()
    else await this.pool.releaseTrain(this.spec.modelPath, this.spec.lora, s)
    if (this.evalExamples !== undefined) await this.pool.releaseEval(this.spec.modelPath, this.spec.lora, s)
  }
}

function settings (spec: RoundTrainerSpec): SessionSettings {
  return { device: spec.device, threads: spec.threads, precision: spec.precision, recompute: spec.recompute,
    quantize: spec.quantize }
}
