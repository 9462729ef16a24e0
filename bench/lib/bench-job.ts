// The job the network benches run: stories260K's LoRA shapes on q_proj and v_proj, 5 trainers a round, a 10 s
// deadline, and the test-double trainer's instant rounds (the benches measure the protocol, not training).
import { validateJobSpec } from '../../protocol/job-spec.ts'
import type { JobSpec } from '../../protocol/job-spec.ts'

export function benchJob (name: string, rounds: number, minPeers: number): JobSpec {
  return validateJobSpec({
    name,
    baseModel: { id: 'stories260K', sha256: '0'.repeat(64) },
    lora: { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'v_proj'] },
    recipe: { learningRate: 1e-3, batchSize: 2, localSteps: 1, maxLength: 32, seed: 1 },
    rounds, peersPerRound: 5, minPeers, roundDeadlineSeconds: 10
  })
}
