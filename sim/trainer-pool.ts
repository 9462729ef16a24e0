// The simulation's real trainers on a few shared worker threads instead of a thread each. One worker holds the
// model and its ONNX sessions once for every trainer it serves (trainer/train/session-pool.ts); a train session
// at the paper's setting (micro-batch 8 of 512 tokens) holds ~0.5-0.7 GB, so a worker per peer did not fit:
// 10 peers reached 7.7 GB, 100 would need ~70 GB. Each trainer is opened in every worker (its records tokenized
// there, a few MB) and each round's train() goes to the worker with the fewest calls in flight, so a round's
// trainers spread over the workers whoever is selected. Results do not depend on the worker: a round trains
// from its base adapter with a fresh optimizer and the round's seed (round-trainer.ts).
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { WorkerTrainer, WorkerTrainerOptions } from '../trainer/train/worker-trainer.ts'
import { createWorkerTrainer, TrainerWorker } from '../trainer/train/worker-trainer.ts'

export class TrainerPool {
  private workers: TrainerWorker[] | undefined
  private readonly load: number[]
  private closed = false

  /** `size` worker threads, started with the first trainer (a run of fake trainers starts none) */
  constructor (readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`a trainer pool needs 1+ workers, got ${size}`)
    this.load = new Array<number>(size).fill(0)
  }

  /** train() calls running or queued in each worker now */
  get inFlight (): readonly number[] { return [...this.load] }

  async open (o: Omit<WorkerTrainerOptions, 'worker'>): Promise<LocalTrainer> {
    if (this.closed) throw new Error('the trainer pool is closed')
    this.workers ??= Array.from({ length: this.size }, () => {
      const w = TrainerWorker.create()
      w.retain() // the pool's own hold: its trainers come and go (the fleet's, then the baselines')
      return w
    })
    const opened = await Promise.allSettled(this.workers.map(async (worker) => await createWorkerTrainer({ ...o,
      worker })))
    const ts = opened.flatMap((r) => r.status === 'fulfilled' ? [r.value] : [])
    const failed = opened.find((r) => r.status === 'rejected')
    if (failed !== undefined) {
      await Promise.all(ts.map(async (t) => await t.close()))
      throw failed.reason
    }
    return this.trainerOf(ts)
  }

  private trainerOf (ts: readonly WorkerTrainer[]): LocalTrainer {
    return {
      initialAdapter: (seed) => ts[0]!.initialAdapter(seed),
      train: async (req) => {
        const i = this.load.indexOf(Math.min(...this.load))
        this.load[i]!++
        try {
          return await ts[i]!.train(req)
        } finally {
          this.load[i]!--
        }
      },
      close: async () => { await Promise.all(ts.map(async (t) => await t.close())) }
    }
  }

  /** Ends the workers once their trainers are closed too (a trainer still open keeps its worker). */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all((this.workers ?? []).map(async (w) => await w.releaseOne()))
  }
}
