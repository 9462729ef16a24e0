// A fresh LoRA adapter as PEFT initialises one: A ~ Kaiming-uniform (nn.init.kaiming_uniform_ with a = sqrt(5),
// i.e. U(-1/sqrt(in), 1/sqrt(in))), B = 0, so B·A = 0 and the adapted model starts equal to the base model.
// Each tensor draws from its own stream derived from (seed, name): the same seed gives the same adapter
// whatever the set or order of target modules.
import type { LlamaConfig } from '../model/config.ts'
import type { Tensor } from '../tensor.ts'
import type { Adapter, LoraConfig } from './adapter.ts'
import { loraName } from './adapter.ts'
import { linearShape } from '../model/config.ts'
import { createRng, deriveSeed } from '../rng.ts'
import { AdapterError } from './errors.ts'

export function initAdapter (model: LlamaConfig, lora: LoraConfig, seed: number): Adapter {
  if (!Number.isSafeInteger(lora.r) || lora.r < 1) {
    throw new AdapterError(`LoRA rank r must be a positive integer, got ${lora.r}`)
  }
  const tensors = new Map<string, Tensor>()
  for (let layer = 0; layer < model.nLayers; layer++) {
    for (const m of lora.targetModules) {
      const [out, inp] = linearShape(model, m)
      const aName = loraName(layer, m, 'A')
      const rng = createRng(deriveSeed(seed, aName))
      const bound = 1 / Math.sqrt(inp)
      const a = new Float32Array(lora.r * inp)
      for (let i = 0; i < a.length; i++) a[i] = (2 * rng.next() - 1) * bound
      tensors.set(aName, { shape: [lora.r, inp], data: a })
      tensors.set(loraName(layer, m, 'B'), { shape: [out, lora.r], data: new Float32Array(out * lora.r) })
    }
  }
  return { config: { ...lora, targetModules: [...lora.targetModules] }, tensors }
}
