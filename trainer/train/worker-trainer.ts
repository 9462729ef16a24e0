// LocalTrainer on the main thread, backed by a trainer worker (trainer/worker/trainer-worker.ts) that owns
// the ONNX sessions, so the calling thread (the peer daemon, the simulation) stays free while a round trains.
// Several trainers may share one TrainerWorker: the worker then holds the model and its sessions once and
// runs the trainers' jobs one after another. Without `worker`, each trainer starts (and closes) its own.
import type { Adapter } from '../lora/adapter.ts'
import type { LlamaConfig } from '../model/config.ts'
import type { TruncationPolicy } from '../data/tokenize-example.ts'
import type { EvalResult, LocalTrainer, TrainRequest, TrainResult } from '../local-trainer.ts'
import { initAdapter } from '../lora/init.ts'
import { WorkerClient } from '../worker/rpc.ts'
import type { StepInfo } from './train-loop.ts'
import type { DataStats, RoundTrainerSpec } from './round-trainer.ts'

export interface TrainProgress extends StepInfo { readonly round: number }

/** One worker thread serving any number of trainers (ref-counted: it ends when the last one closes). */
export class TrainerWorker {
  private users = 0
  private closed = false
  private constructor (readonly client: WorkerClient) {}

  static create (o: { maxOldGenerationSizeMb?: number } = {}): TrainerWorker {
    return new TrainerWorker(new WorkerClient(new URL('../worker/trainer-worker.ts', import.meta.url), o))
  }

  /** @internal */ retain (): void { this.users++ }
  /** @internal */ async releaseOne (): Promise<void> {
    if (--this.users <= 0) await this.close()
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.client.close()
  }
}

/**
 * The round trainer's spec (model, data, LoRA, recipe, device, threads) with tokenize options as separate fields, plus
 * the worker's own.
 */
export interface WorkerTrainerOptions extends Omit<RoundTrainerSpec, 'tokenize'> {
  /** rows per forward/backward pass (default 8) */
  readonly microBatch?: number
  readonly maxLength?: number
  readonly truncation?: TruncationPolicy
  readonly trainOnInputs?: boolean
  readonly onProgress?: (p: TrainProgress) => void
  /** share a worker among trainers; default: a worker of its own */
  readonly worker?: TrainerWorker
}

export interface WorkerTrainer extends LocalTrainer {
  readonly modelConfig: LlamaConfig
  /** tokenization stats of the training and held-out data (shortened / dropped) */
  readonly stats: DataStats
  /** micro-batches trained at once (helper threads of the worker) */
  readonly workers: number
  evaluate (adapter: Adapter): Promise<EvalResult>
}

export async function createWorkerTrainer (o: WorkerTrainerOptions): Promise<WorkerTrainer> {
  const worker = o.worker ?? TrainerWorker.create()
  worker.retain()
  const spec: RoundTrainerSpec = {
    modelPath: o.modelPath,
    records: o.records,
    dataPath: o.dataPath,
    evalRecords: o.evalRecords,
    lora: o.lora,
    recipe: { ...o.recipe, microBatchSize: o.microBatch ?? o.recipe.microBatchSize },
    tokenize: { maxLength: o.maxLength, truncation: o.truncation, trainOnInputs: o.trainOnInputs },
    device: o.device,
    precision: o.precision,
    recompute: o.recompute,
    quantize: o.quantize,
    threads: o.threads,
    workers: o.workers
  }
  let opened: { peer: number, modelConfig: LlamaConfig, stats: DataStats, hasEval: boolean, workers: number }
  try {
    opened = await worker.client.call('open', spec)
  } catch (err) {
    await worker.releaseOne()
    throw err
  }
  const { peer, modelConfig, stats, workers } = opened
  const off = o.onProgress !== undefined
    ? worker.client.on('progress', (p: TrainProgress & { peer: number }) => { if (p.peer === peer) o.onProgress!(p) })
    : () => {}
  let closed = false
  return {
    modelConfig,
    stats,
    workers,
    initialAdapter: (seed: number): Adapter => initAdapter(modelConfig, o.lora, seed),
    async train (req: TrainRequest): Promise<TrainResult> {
      req.signal?.throwIfAborted()
      const onAbort = (): void => { void worker.client.call('cancel', { peer }).catch(() => {}) }
      req.signal?.addEventListener('abort', onAbort, { once: true })
      const onStep = req.onStep
      const offStep = onStep !== undefined
        ? worker.client.on('progress', (p: TrainProgress & { peer: number }) => {
          if (p.peer === peer && p.round === req.round) {
            onStep({ step: p.step, totalSteps: p.totalSteps, loss: p.loss, tokensPerSec: p.tokensPerSec })
          }
        })
        : () => {}
      try {
        return await worker.client.call<TrainResult>('train',
          { peer, round: req.round, base: req.base, seed: req.seed })
      } finally {
        offStep()
        req.signal?.removeEventListener('abort', onAbort)
      }
    },
    async evaluate (adapter: Adapter): Promise<EvalResult> {
      return await worker.client.call<EvalResult>('evaluate', { peer, adapter })
    },
    async close (): Promise<void> {
      if (closed) return
      closed = true
      off()
      try { await worker.client.call('close', { peer }) } catch { /* the worker is gone already */ }
      await worker.releaseOne()
    }
  }
}
