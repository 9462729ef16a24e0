// TEST DOUBLE: a member that sends poison. Wraps a trainer and puts NaN into every adapter it returns.
import type { LocalTrainer } from '../../trainer/local-trainer.ts'

export function createNaNTrainer (inner: LocalTrainer): LocalTrainer {
  return {
    initialAdapter: (seed) => inner.initialAdapter(seed),
    async train (req) {
      const res = await inner.train(req)
      const [name, t] = [...res.adapter.tensors][0]!
      const data = t.data.slice()
      data[0] = Number.NaN
      const tensors = new Map(res.adapter.tensors)
      tensors.set(name, { shape: t.shape, data })
      return { ...res, adapter: { config: res.adapter.config, tensors } }
    },
    close: async () => await inner.close()
  }
}
