// The one place `fedit peer` gets its LocalTrainer. The ONNX trainer is wired here once it lands.
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { JobSpec } from '../protocol/job-spec.ts'


export interface TrainerFactoryOptions {
  readonly job: JobSpec
  /** model folder or checkpoint file */
  readonly modelPath: string
  /** local training data (jsonl, optionally .gz) */
  readonly dataPath: string
  readonly device?: string
}

export async function createLocalTrainer (_opts: TrainerFactoryOptions): Promise<LocalTrainer> {
  throw new Error('the ONNX trainer is not built yet')
}
