// The LoRA training loop: one optimizer step = the step's micro-batches through the train graph, gradients of
// the summed loss accumulated and divided by the step's total target tokens (so the loss is the exact token
// mean over the whole effective batch, whatever the micro-batch size), clipped, then one AdamW update with the
// scheduled learning rate. Everything that decides a step (data, lr) is a function of the step number, so a
// run restored from a TrainState continues exactly.
import type { Adapter } from '../lora/adapter.ts'
import type { StepRunner } from './step-runner.ts'
import type { TokenBatch } from '../model/feeds.ts'
import type { TokenizedExample } from '../data/tokenize-example.ts'
import type { AdamWConfig, AdamWState } from '../optim/adamw.ts'
import { adamwStep, clipGradNorm, createAdamWState, DEFAULT_ADAMW } from '../optim/adamw.ts'
import { lrAt } from '../optim/schedule.ts'
import { allFinite, LossScaler } from '../optim/loss-scale.ts'
import type { ResolvedRecipe } from './recipe.ts'
import { microBatches, stepExamples, totalSteps } from './step-plan.ts'
import { toTokenBatch } from './token-batch.ts'
import { deriveSeed } from '../rng.ts'

export interface StepInfo {
  /** optimizer steps done (1-based after the first) */
  readonly step: number
  readonly totalSteps: number
  readonly epoch: number
  /** token-mean cross-entropy of this step's batch */
  readonly loss: number
  /** target tokens of this step */
  readonly tokens: number
  /** real (non-padding) tokens processed per second in this step */
  readonly tokensPerSec: number
  readonly lr: number
  /** gradient norm before clipping */
  readonly gradNorm: number
  readonly seconds: number
  /** of which in the optimizer (clip + AdamW) */
  readonly optimizerSeconds: number
  /** fp16 training: the loss scale this step ran with, and whether its gradients overflowed (step skipped) */
  readonly lossScale?: number
  readonly skipped?: boolean
}

/** What a checkpoint holds: enough to continue exactly. */
export interface TrainState {
  readonly step: number
  readonly adapter: Adapter
  readonly adam: AdamWState
}

/** one step's micro-batches as the engine takes them, and the real (unpadded) tokens of each */
interface StepPlan { readonly epoch: number, readonly batches: readonly TokenBatch[],
  readonly realTokens: readonly number[] }

export class TrainingRun {
  readonly totalSteps: number
  private readonly params: Map<string, Float32Array>
  private readonly adam: AdamWState
  private readonly adamCfg: AdamWConfig
  private readonly config: Adapter['config']
  private readonly shapes: Map<string, readonly number[]>
  private done: number
  private readonly plans = new Map<number, StepPlan>()
  /** fp16 train graphs: dynamic loss scaling (its state lives as long as the run) */
  private readonly scaler: LossScaler | undefined

  /** Starts from `from` (copied; the caller's adapter is never modified), or continues a saved state. */
  constructor (
    private readonly runner: StepRunner,
    private readonly examples: readonly TokenizedExample[],
    private readonly recipe: ResolvedRecipe,
    from: Adapter | TrainState
  ) {
    if (examples.length === 0) throw new RangeError('no training examples')
    const state = 'step' in from ? from : undefined
    const adapter = state?.adapter ?? (from as Adapter)
    this.config = adapter.config
    this.shapes = new Map([...adapter.tensors].map(([k, t]) => [k, [...t.shape]]))
    this.params = new Map([...adapter.tensors].map(([k, t]) => [k, Float32Array.from(t.data)]))
    for (const name of runner.names) {
      if (!this.params.has(name)) throw new RangeError(`the adapter has no tensor ${name}`)
    }
    this.adam = state !== undefined ? cloneAdam(state.adam) : createAdamWState()
    this.done = state?.step ?? 0
    this.adamCfg = { ...DEFAULT_ADAMW, lr: recipe.learningRate, weightDecay: recipe.weightDecay }
    this.totalSteps = totalSteps(recipe.length, examples.length, recipe.batchSize)
    this.scaler = runner.lossScaling === true ? new LossScaler() : undefined
  }

  get step (): number { return this.done }
  get finished (): boolean { return this.done >= this.totalSteps }

  /** The current adapter (a copy). */
  adapter (): Adapter {
    return { config: this.config, tensors: new Map([...this.params]
      .map(([k, p]) => [k, { shape: this.shapes.get(k)!, data: Float32Array.from(p) }])) }
  }

  state (): TrainState {
    return { step: this.done, adapter: this.adapter(), adam: cloneAdam(this.adam) }
  }

  /** LoRA dropout masks from (seed, step, micro-batch): a resumed run draws the same ones */
  private dropoutSeed (step: number, micro: number): number {
    return deriveSeed(this.recipe.seed, `dropout@${step}/${micro}`)
  }

  /** Step `step`'s micro-batches, built once: the step before prefetches from them, the step itself runs them. */
  private planOf (step: number): StepPlan {
    let p = this.plans.get(step)
    if (p === undefined) {
      const r = this.recipe
      const { epoch, indices } = stepExamples(this.examples.length, r.batchSize, r.seed, step)
      const mbs = microBatches(this.examples, indices, r.microBatchSize)
      p = { epoch, batches: mbs.map(toTokenBatch), realTokens: mbs.map((mb) => mb.attentionMask.reduce((n, v) => n + v,
        0)) }
      this.plans.set(step, p)
    }
    for (const k of this.plans.keys()) if (k < this.done) this.plans.delete(k)
    return p
  }

  async trainStep (): Promise<StepInfo> {
    const t0 = performance.now()
    const r = this.recipe
    const { epoch, batches, realTokens: real } = this.planOf(this.done)
    const next = this.done + 1 < this.totalSteps ? this.planOf(this.done + 1) : undefined
    // the live parameters, not copies: ORT reads them during run() and AdamW updates them after
    const adapter: Adapter = { config: this.config, tensors: new Map([...this.params]
      .map(([k, p]) => [k, { shape: this.shapes.get(k)!, data: p }])) }
    const grads = new Map<string, Float32Array>()
    let lossSum = 0
    let tokens = 0
    const lossScale = this.scaler?.scale
    const jobs = batches.map((batch, k) => ({ batch, dropoutSeed: this.dropoutSeed(this.done, k),
      ...(lossScale !== undefined ? { lossScale } : {}) }))
    const after = next !== undefined ? { batch: next.batches[0]!, dropoutSeed: this.dropoutSeed(this.done + 1, 0) }
      : undefined
    // summed in micro-batch order, wherever they ran: the same floats from one thread or several
    await this.runner.runStep(jobs, adapter, (_k, res) => {
      lossSum += res.lossSum
      tokens += res.tokens
      for (const [name, g] of res.grads) {
        const acc = grads.get(name)
        if (acc === undefined) grads.set(name, Float32Array.from(g.data))
        else for (let i = 0; i < acc.length; i++) acc[i]! += g.data[i]!
      }
    }, after)
    const realTokens = real.reduce((a, b) => a + b, 0)
    const t1 = performance.now()
    const lr = lrAt(r.learningRate, { kind: r.schedule, warmupSteps: r.warmupSteps, totalSteps: this.totalSteps },
      this.done)
    let gradNorm = 0
    // an fp16 step whose gradients overflowed changes nothing but the scale (its data counts as seen)
    const apply = this.scaler?.update(allFinite(grads.values())) ?? true
    if (tokens > 0 && apply) {
      const inv = 1 / tokens
      for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i]! *= inv
      gradNorm = clipGradNorm(grads, r.maxGradNorm)
      adamwStep(this.params, grads, this.adam, this.adamCfg, lr)
    }
    this.done++
    const t2 = performance.now()
    return {
      step: this.done,
      totalSteps: this.totalSteps,
      epoch,
      loss: tokens > 0 ? lossSum / tokens : NaN,
      tokens,
      tokensPerSec: realTokens / ((t2 - t0) / 1000),
      lr,
      gradNorm,
      seconds: (t2 - t0) / 1000,
      optimizerSeconds: (t2 - t1) / 1000,
      ...(lossScale !== undefined ? { lossScale, skipped: !apply } : {})
    }
  }
}

function cloneAdam (s: AdamWState): AdamWState {
  const copy = (m: Map<string, Float32Array>): Map<string, Float32Array> => new Map([...m]
    .map(([k, v]) => [k, Float32Array.from(v)]))
  return { step: s.step, m: copy(s.m), v: copy(s.v) }
}

export interface RunOptions {
  /** stop after this many steps in total (default: the run's total) */
  readonly until?: number
  /** checked between steps: an aborted run stops cleanly after the step in flight */
  readonly signal?: AbortSignal
  readonly onStep?: (info: StepInfo) => void | Promise<void>
  /** let other work on this thread (messages, signals) in between steps; ORT's run blocks its thread */
  readonly yieldBetweenSteps?: boolean
}

/** Steps until done, `until` or an abort; returns the steps taken and their token-weighted mean loss. */
export async function runSteps (run: TrainingRun,
  o: RunOptions = {}): Promise<{ steps: number, meanLoss: number, tokens: number }> {
  const until = Math.min(o.until ?? run.totalSteps, run.totalSteps)
  let steps = 0; let lossTok = 0; let tokens = 0
  while (run.step < until && o.signal?.aborted !== true) {
    const info = await run.trainStep()
    steps++
    lossTok += info.loss * info.tokens
    tokens += info.tokens
    await o.onStep?.(info)
    if (o.yieldBetweenSteps === true) await new Promise((resolve) => setImmediate(resolve))
  }
  return { steps, meanLoss: tokens > 0 ? lossTok / tokens : NaN, tokens }
}
