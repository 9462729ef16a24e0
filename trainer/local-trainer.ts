// What a peer's node/ needs from the trainer: start adapters, train a round, evaluate. The real
// implementation runs ONNX Runtime in a worker thread; tests and benches may pass a fast fake.
import type { Adapter } from './lora/adapter.ts'

export interface TrainRequest {
  readonly round: number
  /** the global adapter the round starts from */
  readonly base: Adapter
  /** per-round, per-peer seed (data order, dropout) so runs are reproducible */
  readonly seed: number
  readonly signal?: AbortSignal
  /** each optimizer step as it ends, so a peer can show where its round's training stands */
  readonly onStep?: (s: TrainStep) => void
}

export interface TrainStep {
  /** optimizer steps done, 1-based */
  readonly step: number
  readonly totalSteps: number
  /** this step's token-mean loss */
  readonly loss: number
  readonly tokensPerSec: number
}

export interface TrainResult {
  readonly adapter: Adapter
  readonly samples: number // examples seen (FedAvg weight)
  readonly trainLoss: number // mean loss over the round's steps
  readonly tokens: number
  readonly seconds: number
}

export interface EvalResult {
  readonly evalLoss: number
  readonly byCategory: Readonly<Record<string, number>>
  readonly examples: number
}

export interface LocalTrainer {
  /** the job's round-0 adapter: deterministic from the seed, so every peer starts from the same hash */
  initialAdapter (seed: number): Adapter
  train (req: TrainRequest): Promise<TrainResult>
  evaluate? (adapter: Adapter): Promise<EvalResult>
  close (): Promise<void>
}
