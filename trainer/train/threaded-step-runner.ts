// A StepRunner whose micro-batches run in helper threads (trainer/worker/step-worker.ts), each with a session of
// its own, so that one training run uses several cores where one ONNX Runtime session cannot: a small model's
// kernels are too short for ORT's intra-op threads (model/threads.ts), but two micro-batches side by side keep two
// cores busy (stories260K, 8x256, 2 cores: 58 ms each, against 55 ms for one alone). It also keeps session.run,
// which blocks its thread, off the caller's thread. Results come back in micro-batch order (step-runner.ts), so
// the step's gradient is the same floats as from one session.
import { availableParallelism } from 'node:os'
import type { Adapter, LoraConfig } from '../lora/adapter.ts'
import type { LlamaConfig } from '../model/config.ts'
import type { TrainResult, TrainSessionOptions } from '../model/sessions.ts'
import { defaultThreads } from '../model/threads.ts'
import { WorkerClient } from '../worker/rpc.ts'
import type { InstructionRecord } from '../data/record.ts'
import type { TokenizedExample, TokenizeOptions, TokenizeStats } from '../data/tokenize-example.ts'
import { mergeTokenizeStats } from '../data/tokenize-example.ts'
import type { MicroBatchJob, StepRunner } from './step-runner.ts'
import { InOrder } from './step-runner.ts'

export interface StepWorkerSpec
  extends Pick<TrainSessionOptions,
  'device' | 'threads' | 'dropout' | 'attentionChunks' | 'precision' | 'recompute' | 'quantize'> {
  readonly modelPath: string
  readonly lora: LoraConfig
}

/**
 * Micro-batches to run at once by default: one per core for a model that trains on one intra-op thread on the
 * CPU, and no more than a step has; otherwise one (ORT's own threads use the cores). An explicit thread count
 * means one helper with those threads.
 */
export function defaultStepWorkers (config: LlamaConfig,
  o: { device?: string, threads?: number, microBatchesPerStep: number }): number {
  if ((o.device ?? 'cpu') !== 'cpu' || o.threads !== undefined) return 1
  if (defaultThreads(config, 'batch', undefined) !== 1) return 1
  return Math.max(1, Math.min(availableParallelism(), o.microBatchesPerStep))
}

export class ThreadedStepRunner implements StepRunner {
  private version = 0
  private closed = false

  private constructor (private readonly workers: readonly WorkerClient[], readonly names: readonly string[],
    readonly lossScaling: boolean) {}

  /** Starts `count` helper threads, each opening a train session of the model (in parallel). */
  static async open (spec: StepWorkerSpec, count: number): Promise<ThreadedStepRunner> {
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`step workers must be a positive integer, got ${count}`)
    }
    const workers = Array.from({ length: count }, () => new WorkerClient(new URL('../worker/step-worker.ts',
      import.meta.url)))
    try {
      const opened = await Promise.all(workers.map(async (w) =>
        await w.call<{ names: string[], lossScaling: boolean }>('open', spec)))
      return new ThreadedStepRunner(workers, opened[0]!.names, opened[0]!.lossScaling)
    } catch (err) {
      await Promise.all(workers.map(async (w) => await w.close()))
      throw err
    }
  }

  get size (): number { return this.workers.length }

  async runStep (jobs: readonly MicroBatchJob[], adapter: Adapter, take: (k: number, r: TrainResult) => void,
    next?: MicroBatchJob): Promise<void> {
    if (this.closed) throw new Error('this step runner is closed')
    const version = ++this.version
    const ordered = new InOrder(take)
    const solo = this.workers.length === 1
    // with helpers side by side, longest first: the step then does not wait at its end for one long micro-batch
    const order = jobs.map((_, k) => k)
    if (!solo) order.sort((x, y) => tokens(jobs[y]!) - tokens(jobs[x]!) || x - y)
    let queued = 0
    let failed = false
    // each helper takes the next micro-batch as soon as it is free; the adapter goes with a helper's first one.
    // A lone helper also hears of the job after, to draw its dropout masks meanwhile (as a TrainSession does).
    const loop = async (w: WorkerClient): Promise<void> => {
      let sent = false
      while (queued < jobs.length && !failed) {
        const k = order[queued++]!
        const after = solo ? (k + 1 < jobs.length ? jobs[k + 1] : next) : undefined
        try {
          ordered.put(k, await w.call<TrainResult>('run', { job: jobs[k], version, ...(sent ? {} : { adapter }),
            ...(after !== undefined ? { next: after } : {}) }))
        } catch (err) {
          failed = true // the others stop after their micro-batch in flight
          throw err
        }
        sent = true
      }
    }
    const ends = await Promise.allSettled(this.workers.map(loop))
    const error = ends.find((e): e is PromiseRejectedResult => e.status === 'rejected')
    if (error !== undefined) throw error.reason
  }

  /**
   * Tokenizes `records` in the helpers, each a consecutive share (they hold the model's tokenizer; the caller's
   * thread stays free): the same examples and stats as one tokenizeRecords call. `onProgress` gets the records
   * done so far.
   */
  async tokenize (records: readonly InstructionRecord[], options: TokenizeOptions,
    onProgress?: (done: number) => void): Promise<{ examples: TokenizedExample[], stats: TokenizeStats }> {
    const n = this.workers.length
    const bounds = Array.from({ length: n + 1 }, (_, i) => Math.round(i * records.length / n))
    const done = new Array<number>(n).fill(0)
    const parts = await Promise.all(this.workers.map(async (w, i) => {
      const off = w.on('tokenized', (e: { done: number }) => {
        done[i] = e.done
        onProgress?.(done.reduce((a, b) => a + b, 0))
      })
      try {
        return await w.call<{ examples: TokenizedExample[], stats: TokenizeStats }>('tokenize',
          { records: records.slice(bounds[i], bounds[i + 1]), options })
      } finally {
        off()
      }
    }))
    return { examples: parts.flatMap((p) => p.examples), stats: mergeTokenizeStats(parts.map((p) => p.stats)) }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all(this.workers.map(async (w) => {
      try { await w.call('close') } catch { /* gone already */ }
      await w.close()
    }))
  }
}

const tokens = (j: MicroBatchJob): number => j.batch.batch * j.batch.seq
