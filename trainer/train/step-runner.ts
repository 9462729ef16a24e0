// What the training loop needs from whatever computes gradients: one optimizer step's micro-batches through the
// train graph, each result handed over in micro-batch order. A TrainSession does it on its own thread, one
// micro-batch after another; a ThreadedStepRunner (threaded-step-runner.ts) runs several at once in helper threads.
// Taking results in order keeps the accumulated gradient's float sums the same wherever each micro-batch ran.
import type { Adapter } from '../lora/adapter.ts'
import type { TokenBatch } from '../model/feeds.ts'
import type { TrainResult } from '../model/sessions.ts'

export interface MicroBatchJob {
  readonly batch: TokenBatch
  /** fixes its LoRA dropout masks (ignored without dropout) */
  readonly dropoutSeed: number
  /** fp16 train graphs: the loss scale of this step (train-loop's LossScaler); ignored by other graphs */
  readonly lossScale?: number
}

export interface StepRunner {
  /** PEFT names of the trainable tensors */
  readonly names: readonly string[]
  /** its train graphs run in fp16 and take a loss scale (MicroBatchJob.lossScale) */
  readonly lossScaling?: boolean
  /**
   * Runs `jobs` with `adapter` (read during the call, never modified) and calls `take(k, result)` for k = 0, 1, ...
   * in order. `next` is the first job of the step after, which the runner may prepare for.
   */
  runStep: (jobs: readonly MicroBatchJob[], adapter: Adapter, take: (k: number, r: TrainResult) => void,
    next?: MicroBatchJob) => Promise<void>
}

/** Hands results that may arrive in any order to `take` in job order. */
export class InOrder<R> {
  private next = 0
  private readonly waiting = new Map<number, R>()
  constructor (private readonly take: (k: number, r: R) => void) {}

  put (k: number, r: R): void {
    this.waiting.set(k, r)
    for (let x = this.waiting.get(this.next); x !== undefined; x = this.waiting.get(this.next)) {
      this.waiting.delete(this.next)
      this.take(this.next++, x)
    }
  }

  get taken (): number { return this.next }
}
