// The one place the simulation gets a peer's (or a baseline's) LocalTrainer.
//   'real': LoRA training of the base model on the given records: ONNX Runtime in a worker thread of its own
//           (trainer/train/worker-trainer.ts), `threads` ORT threads; or on the shared workers of a pool.
//   'fake': no learning, instant (node/testing/fake-trainer.ts), with the real model's adapter shapes so the
//           held-out evaluator can still score it; for protocol-only runs.
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { InstructionRecord } from '../trainer/data/record.ts'
import type { LlamaConfig } from '../trainer/model/config.ts'
import { initAdapter } from '../trainer/lora/init.ts'
import { createWorkerTrainer } from '../trainer/train/worker-trainer.ts'
import { createFakeTrainer } from '../node/testing/fake-trainer.ts'
import type { SimConfig, TrainerKind } from './sim-config.ts'
import type { TrainerPool } from './trainer-pool.ts'

/** the simulation's training settings (as SimConfig names them), plus what the trainer is and trains on */
export interface SimTrainerOptions
  extends Pick<SimConfig, 'lora' | 'learningRate' | 'batchSize' | 'microBatch' | 'localSteps' | 'maxLength'> {
  readonly kind: TrainerKind
  readonly modelPath: string
  readonly model: LlamaConfig
  readonly records: readonly InstructionRecord[]
  /** ORT intra-op threads of the worker (1 when many peers share the cores) */
  readonly threads: number
  /** real trainers: on these shared workers (default: a worker of its own) */
  readonly pool?: TrainerPool
}

export async function createSimTrainer (o: SimTrainerOptions): Promise<LocalTrainer> {
  if (o.kind === 'fake') {
    const fake = createFakeTrainer({ lora: o.lora, samples: o.localSteps * o.batchSize })
    return { ...fake, train: fake.train, close: fake.close,
      initialAdapter: (seed) => initAdapter(o.model, o.lora, seed) }
  }
  const spec = {
    modelPath: o.modelPath,
    records: o.records,
    lora: o.lora,
    recipe: { learningRate: o.learningRate, batchSize: o.batchSize, length: { steps: o.localSteps } },
    microBatch: o.microBatch,
    maxLength: o.maxLength,
    threads: o.threads
  }
  return o.pool !== undefined ? await o.pool.open(spec) : await createWorkerTrainer(spec)
}
