// TEST DOUBLE: a LocalTrainer that does no learning. It returns the base adapter plus a small seeded
// perturbation, instantly, so network tests and benches exercise the protocol, not the math.
import type { Adapter, LoraConfig } from '../../trainer/lora/adapter.ts'
import { loraName } from '../../trainer/lora/adapter.ts'
import type { LinearModule } from '../../trainer/model/config.ts'
import type { LocalTrainer, TrainRequest, TrainResult } from '../../trainer/local-trainer.ts'
import type { Tensor } from '../../trainer/tensor.ts'
import { mulberry32 } from '../../trainer/rng.ts'

export interface FakeTrainerOptions {
  readonly lora: LoraConfig
  readonly layers?: number
  /** model width of the pretend model (in/out features of every wrapped linear) */
  readonly dim?: number
  /** this peer's number of examples (its FedAvg weight) */
  readonly samples?: number
  /** simulated training time */
  readonly delayMs?: number
  /** the speed it reports (tokens / seconds of its results); default: seconds 0, i.e. not measured */
  readonly tokensPerSecond?: number
}

const FAKE_STEPS = 4

export function createFakeTrainer (opts: FakeTrainerOptions): LocalTrainer & { calls: number } {
  const layers = opts.layers ?? 2
  const dim = opts.dim ?? 16
  const r = opts.lora.r
  const state = { calls: 0 }
  function initialAdapter (seed: number): Adapter {
    const rand = mulberry32(seed)
    const tensors = new Map<string, Tensor>()
    for (let l = 0; l < layers; l++) {
      for (const m of opts.lora.targetModules as readonly LinearModule[]) {
        const a = new Float32Array(r * dim).map(() => (rand() - 0.5) * 0.02)
        tensors.set(loraName(l, m, 'A'), { shape: [r, dim], data: a })
        tensors.set(loraName(l, m, 'B'), { shape: [dim, r], data: new Float32Array(dim * r) }) // PEFT starts B at zero
      }
    }
    return { config: opts.lora, tensors }
  }
  async function train (req: TrainRequest): Promise<TrainResult> {
    state.calls++
    // pretends to take FAKE_STEPS optimizer steps over its delay, reporting each as the real trainer does
    for (let step = 1; step <= FAKE_STEPS; step++) {
      if (opts.delayMs !== undefined && opts.delayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, opts.delayMs! / FAKE_STEPS))
      }
      req.onStep?.({ step, totalSteps: FAKE_STEPS, loss: 2 / (1 + req.round), tokensPerSec: opts.tokensPerSecond ?? 0 })
    }
    const rand = mulberry32(req.seed)
    const tensors = new Map<string, Tensor>()
    for (const [name, t] of req.base.tensors) {
      tensors.set(name, { shape: [...t.shape], data: t.data.map((v) => v + (rand() - 0.5) * 0.01) })
    }
    const samples = opts.samples ?? 10
    const tokens = samples * 64
    const seconds = opts.tokensPerSecond !== undefined && opts.tokensPerSecond > 0 ? tokens / opts.tokensPerSecond : 0
    const trainLoss = 2 / (1 + req.round) + rand() * 0.01
    return { adapter: { config: req.base.config, tensors }, samples, trainLoss, tokens, seconds }
  }
  return {
    initialAdapter,
    train,
    async close () {},
    get calls () { return state.calls }
  }
}
