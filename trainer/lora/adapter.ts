// A LoRA adapter as it travels and rests: PEFT's tensor names and config, float32 tensors.
// PEFT names for LLaMA: base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight  [r, in]
//                       base_model.model.model.layers.{i}.self_attn.q_proj.lora_B.weight  [out, r]
// delta W = (alpha / r) * B @ A   (shape [out, in], added to the frozen [out, in] weight)
import type { Tensor } from '../tensor.ts'
import type { LinearModule } from '../model/config.ts'
import { linearWeightName } from '../model/config.ts'

export interface LoraConfig {
  readonly r: number
  readonly alpha: number
  readonly dropout: number
  readonly targetModules: readonly LinearModule[]
}

export const DEFAULT_LORA: LoraConfig = {
  r: 8,
  alpha: 16,
  dropout: 0.05,
  targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']
}

export interface Adapter {
  readonly config: LoraConfig
  /** PEFT names -> tensors */
  readonly tensors: ReadonlyMap<string, Tensor>
}

export function loraName (layer: number, module: LinearModule, part: 'A' | 'B'): string {
  return `base_model.model.${linearWeightName(layer, module).replace(/\.weight$/, '')}.lora_${part}.weight`
}

export function loraScale (c: LoraConfig): number {
  return c.alpha / c.r
}
