// The one place `fedit peer` gets its LocalTrainer: the ONNX LoRA trainer in a worker thread, set up from the
// job's LoRA config and recipe (local steps or epochs per round, from each round's base adapter).
import type { JobSpec } from '../protocol/job-spec.ts'
import type { Device } from '../trainer/graph/session.ts'
import { DEVICES } from '../trainer/graph/session.ts'
import { DeviceUnavailableError } from '../trainer/graph/errors.ts'
import { createWorkerTrainer } from '../trainer/train/worker-trainer.ts'
import type { WorkerTrainer } from '../trainer/train/worker-trainer.ts'
import type { PrecisionChoice } from '../trainer/model/precision.ts'
import type { QuantizeOptions } from '../trainer/model/quantized-weights.ts'

export interface TrainerFactoryOptions {
  readonly job: JobSpec
  /** model folder or checkpoint file */
  readonly modelPath: string
  /** local training data (jsonl, optionally .gz) */
  readonly dataPath: string
  readonly device?: string
  /** compute precision (the job's recipe.precision, else --precision; default auto) */
  readonly precision?: PrecisionChoice
  /** per-layer activation recomputation in the train sessions (--recompute) */
  readonly recompute?: boolean
  /** block-quantized frozen linear weights (--quantize) */
  readonly quantize?: QuantizeOptions
  /** ORT threads (default: one per core) */
  readonly threads?: number
  /** micro-batches at once in helper threads (default: one per core for a small model, see ThreadedStepRunner) */
  readonly workers?: number
}

export async function createLocalTrainer (opts: TrainerFactoryOptions): Promise<WorkerTrainer> {
  const device = (opts.device ?? 'cpu') as Device
  if (!DEVICES.includes(device)) {
    throw new DeviceUnavailableError(`unknown device '${device}' (choose ${DEVICES.join(', ')})`)
  }
  const r = opts.job.recipe
  return await createWorkerTrainer({
    modelPath: opts.modelPath,
    dataPath: opts.dataPath,
    lora: { ...opts.job.lora, targetModules: [...opts.job.lora.targetModules] },
    recipe: {
      learningRate: r.learningRate,
      batchSize: r.batchSize,
      length: r.localSteps !== undefined ? { steps: r.localSteps } : { epochs: r.localEpochs! },
      seed: r.seed
    },
    maxLength: r.maxLength,
    device,
    precision: opts.job.recipe.precision ?? opts.precision,
    recompute: opts.recompute,
    quantize: opts.quantize,
    threads: opts.threads,
    workers: opts.workers
  })
}
