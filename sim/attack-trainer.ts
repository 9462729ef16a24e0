// A malicious simulated peer: wraps an honest trainer and corrupts the update it sends, relative to the
// round's base adapter (delta = trained - base):
//   scale:    base + 100 * delta        (boosting, model replacement)
//   signflip: base - delta              (pushes the model the wrong way)
//   noise:    trained + N(0, 10 * rms(delta))  (garbage of plausible shape)
// The aggregation rule decides whether such updates are excluded; the report shows its decisions.
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { Tensor } from '../trainer/tensor.ts'
import { createRng, deriveSeed } from '../trainer/rng.ts'
import type { Attack } from './sim-config.ts'

export const SCALE_FACTOR = 100
export const NOISE_MULTIPLE = 10

/** The corrupted adapter (pure). */
export function corruptUpdate (attack: Attack, base: Adapter, trained: Adapter, seed: number): Adapter {
  const rng = createRng(deriveSeed(seed, 'attack'))
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next())
  let sq = 0; let n = 0
  for (const [name, t] of trained.tensors) {
    const b = base.tensors.get(name)!.data
    for (let i = 0; i < t.data.length; i++) { const d = t.data[i]! - b[i]!; sq += d * d; n++ }
  }
  const sigma = NOISE_MULTIPLE * Math.sqrt(sq / Math.max(1, n))
  const tensors = new Map<string, Tensor>()
  for (const [name, t] of trained.tensors) {
    const b = base.tensors.get(name)!.data
    const out = new Float32Array(t.data.length)
    for (let i = 0; i < out.length; i++) {
      const d = t.data[i]! - b[i]!
      out[i] = attack === 'scale' ? b[i]! + SCALE_FACTOR * d : attack === 'signflip' ? b[i]! - d : t.data[i]! +
        sigma * gauss()
    }
    tensors.set(name, { shape: [...t.shape], data: out })
  }
  return { config: trained.config, tensors }
}

export function createAttackTrainer (inner: LocalTrainer, attack: Attack): LocalTrainer {
  return {
    initialAdapter: (seed) => inner.initialAdapter(seed),
    async train (req) {
      const res = await inner.train(req)
      return { ...res, adapter: corruptUpdate(attack, req.base, res.adapter, req.seed) }
    },
    close: async () => await inner.close()
  }
}
