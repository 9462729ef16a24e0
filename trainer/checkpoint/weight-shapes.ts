// Every weight a LlamaForCausalLM checkpoint must hold, with its shape: what loaders validate against and
// exporters write. lm_head.weight is listed only when the classifier is not tied to the embedding.
import type { LlamaConfig } from '../model/config.ts'
import { LINEAR_MODULES, linearShape, linearWeightName } from '../model/config.ts'

export function expectedWeightShapes (c: LlamaConfig): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>()
  out.set('model.embed_tokens.weight', [c.vocabSize, c.dim])
  for (let l = 0; l < c.nLayers; l++) {
    out.set(`model.layers.${l}.input_layernorm.weight`, [c.dim])
    out.set(`model.layers.${l}.post_attention_layernorm.weight`, [c.dim])
    for (const m of LINEAR_MODULES) out.set(linearWeightName(l, m), linearShape(c, m))
  }
  out.set('model.norm.weight', [c.dim])
  if (!c.tiedEmbeddings) out.set('lm_head.weight', [c.vocabSize, c.dim])
  return out
}
