// A malicious simulated peer: wraps an honest trainer and corrupts the update it sends, relative to the
// round's base adapter (delta = trained - base):
//   scale:    base + 100 * delta        (boosting, model replacement)
//   signflip: base - delta              (pushes the model the wrong way)
//   noise:    trained + N(0, 10 * rms(delta))  (garbage of plausible shape)
//   alie, ipm, ipm10, minmax, minsum, copies, drift, inflate: the attacks of sim/attacks.ts, non-omniscient: the
//             colluders know their own honestly trained deltas (this round's own, the previous round's of all of
//             them, shared through one Collusion) and the job's aggregation spec. A simulated peer sees no
//             other peer's update before sending its own, so in a simulation every one of these is the blind
//             variant; alie-blind, ipm-blind, minmax-blind, minsum-blind name it so (the same attack here; in
//             bench poisoning the plain names are the omniscient variant)
//   backdoor: a data attack; the peer's trainer is built on backdoored records (sim/backdoor.ts), nothing here
// The aggregation rule decides whether such updates are excluded; the report shows its decisions.
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { Tensor } from '../trainer/tensor.ts'
import type { AggregationSpec } from '../protocol/aggregation-spec.ts'
import { DEFAULT_MAX_SAMPLES } from '../trainer/aggregate/types.ts'
import { createRng, deriveSeed } from '../trainer/rng.ts'
import type { Attack } from './sim-config.ts'
import type { ModelAttack } from './attacks.ts'
import { blindBase, craft, flatDelta, hiddenDirection, isBlind, withDelta } from './attacks.ts'

export const SCALE_FACTOR = 100
export const NOISE_MULTIPLE = 10

/** The corrupted adapter (pure). */
export function corruptUpdate (attack: 'scale' | 'signflip' | 'noise', base: Adapter, trained: Adapter,
  seed: number): Adapter {
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

/** What the colluding peers of one simulation share: the job's spec and round size, and their honest deltas. */
export interface Collusion {
  readonly spec: AggregationSpec
  /** trainers per round */
  readonly n: number
  readonly seed: number
  /** round -> the colluders' honestly trained deltas of that round */
  readonly posted: Map<number, Float64Array[]>
}

export function createCollusion (spec: AggregationSpec, n: number, seed: number): Collusion {
  return { spec, n, seed, posted: new Map() }
}

export function createAttackTrainer (inner: LocalTrainer, attack: Attack, collusion?: Collusion): LocalTrainer {
  let hidden: Float64Array | undefined
  return {
    initialAdapter: (seed) => inner.initialAdapter(seed),
    async train (req) {
      const res = await inner.train(req)
      if (attack === 'backdoor') return res
      if (attack === 'scale' || attack === 'signflip' || attack === 'noise') {
        return { ...res, adapter: corruptUpdate(attack, req.base, res.adapter, req.seed) }
      }
      if (collusion === undefined) throw new Error(`attack ${attack} needs the colluders' shared state`)
      const own = flatDelta(res.adapter, req.base)
      hidden ??= hiddenDirection(own.length, collusion.seed)
      // only the previous round's posts: this round's arrive in whatever order the colluders finish
      const known = [own, ...(collusion.posted.get(req.round - 1) ?? [])]
      const posts = collusion.posted.get(req.round) ?? []
      posts.push(own); collusion.posted.set(req.round, posts)
      collusion.posted.delete(req.round - 2)
      const model = isBlind(attack) ? blindBase(attack) : attack as ModelAttack
      const [delta] = craft(model, { known, own: [own], n: collusion.n, spec: collusion.spec, hidden,
        round: req.round, seed: req.seed })
      return { ...res, adapter: withDelta(req.base, delta!),
        ...(attack === 'inflate' ? { samples: DEFAULT_MAX_SAMPLES } : {}) }
    },
    close: async () => await inner.close()
  }
}
