// The optimisation settings of a local training run, with the FedIT/Shepherd defaults filled in.
import type { ScheduleKind } from '../optim/schedule.ts'
import type { RunLength } from './step-plan.ts'

export interface TrainRecipe {
  /** peak learning rate (default 1.5e-4, the paper's) */
  readonly learningRate?: number
  /** examples per optimizer step, the effective batch (default 32) */
  readonly batchSize?: number
  /** rows per forward/backward pass; gradients of a step's micro-batches are accumulated (default 8) */
  readonly microBatchSize?: number
  /** default { steps: 100 } */
  readonly length?: RunLength
  /** AdamW's decoupled weight decay (default 0, as Hugging Face's Trainer) */
  readonly weightDecay?: number
  /** linear warm-up steps (default 0) */
  readonly warmupSteps?: number
  /** after warm-up (default 'linear', Hugging Face's Trainer default, which Shepherd's local training uses) */
  readonly schedule?: ScheduleKind
  /** global gradient norm clip; 0 = off (default 1.0) */
  readonly maxGradNorm?: number
  /** data order and LoRA dropout masks (default 0) */
  readonly seed?: number
}

export type ResolvedRecipe = Required<TrainRecipe>

export const DEFAULT_RECIPE: ResolvedRecipe = {
  learningRate: 1.5e-4,
  batchSize: 32,
  microBatchSize: 8,
  length: { steps: 100 },
  weightDecay: 0,
  warmupSteps: 0,
  schedule: 'linear',
  maxGradNorm: 1,
  seed: 0
}

export class RecipeError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'RecipeError'
  }
}

export function resolveRecipe (r: TrainRecipe = {}): ResolvedRecipe {
  const out: ResolvedRecipe = { ...DEFAULT_RECIPE, ...Object.fromEntries(Object.entries(r)
    .filter(([, v]) => v !== undefined)) }
  const int = (v: number, what: string): void => {
    if (!Number.isSafeInteger(v) || v < 1) throw new RecipeError(`${what} must be a positive integer, got ${v}`)
  }
  int(out.batchSize, 'batch size')
  int(out.microBatchSize, 'micro-batch size')
  if (!(out.learningRate > 0 && Number.isFinite(out.learningRate))) {
    throw new RecipeError(`learning rate must be a positive number, got ${out.learningRate}`)
  }
  if (!(out.weightDecay >= 0)) throw new RecipeError(`weight decay must be >= 0, got ${out.weightDecay}`)
  if (!(out.maxGradNorm >= 0)) throw new RecipeError(`max gradient norm must be >= 0, got ${out.maxGradNorm}`)
  if (!Number.isSafeInteger(out.warmupSteps) || out.warmupSteps < 0) {
    throw new RecipeError(`warm-up steps must be an integer >= 0, got ${out.warmupSteps}`)
  }
  if (!['constant', 'linear', 'cosine'].includes(out.schedule)) {
    throw new RecipeError(`schedule must be constant, linear or cosine, got ${String(out.schedule)}`)
  }
  if ('steps' in out.length) int(out.length.steps, 'steps')
  else if (!(out.length.epochs > 0)) throw new RecipeError(`epochs must be a positive number, got ${out.length.epochs}`)
  return { ...out, microBatchSize: Math.min(out.microBatchSize, out.batchSize) }
}

/** How a step's batch splits into micro-batches, for the user: "batch 10 in 2 micro-batches: 1 of 8 rows, 1 of 2". */
export function describeBatch (r: Pick<ResolvedRecipe, 'batchSize' | 'microBatchSize'>): string {
  const full = Math.floor(r.batchSize / r.microBatchSize)
  const rest = r.batchSize % r.microBatchSize
  if (full === 1 && rest === 0) return `batch ${r.batchSize} in one micro-batch`
  if (rest === 0) return `batch ${r.batchSize} in ${full} micro-batches of ${r.microBatchSize}`
  return `batch ${r.batchSize} in ${full + 1} micro-batches: ${full} of ${r.microBatchSize} rows, 1 of ${rest}`
}
