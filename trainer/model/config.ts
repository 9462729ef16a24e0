// The LLaMA architecture description shared by loaders, the graph builder and the exporter.
// Canonical weight layout is Hugging Face's (LlamaForCausalLM names, [out, in] matrices, rotate-half RoPE):
// the llama2.c loader permutes wq/wk into it, so one model implementation serves every source.

export interface LlamaConfig {
  readonly dim: number // hidden size
  readonly hiddenDim: number // MLP intermediate size
  readonly nLayers: number
  readonly nHeads: number
  readonly nKvHeads: number // < nHeads: grouped-query attention
  readonly vocabSize: number
  readonly maxSeqLen: number
  readonly normEps: number
  readonly ropeTheta: number
  readonly tiedEmbeddings: boolean // lm_head shares model.embed_tokens.weight
  readonly bosId: number
  readonly eosId: number
}

export type WeightDtype = 'F32' | 'F16' | 'BF16'

/** Where a frozen weight's bytes live: in memory (float32), or in a file at a byte offset (for ONNX external data). */
export type WeightSource =
  | { readonly kind: 'memory', readonly data: Float32Array }
  | { readonly kind: 'file', readonly path: string, readonly offset: number, readonly byteLength: number }

export interface WeightRef {
  readonly shape: readonly number[]
  readonly dtype: WeightDtype
  readonly source: WeightSource
}

/**
 * A loaded checkpoint: config + weights by HF name (model.embed_tokens.weight, model.layers.0.self_attn.q_proj.weight,
 * ...).
 */
export interface LlamaCheckpoint {
  readonly config: LlamaConfig
  readonly weights: ReadonlyMap<string, WeightRef>
  /** folder or file it came from, for messages */
  readonly origin: string
}

/** What a checkpoint holds, without where: its config and each weight's shape and element type (memory estimates,
 *  precision choices; llama2c.llama2cLayout reads it from a header alone) */
export interface CheckpointLayout {
  readonly config: LlamaConfig
  readonly weights: ReadonlyMap<string, Pick<WeightRef, 'shape' | 'dtype'>>
  readonly origin: string
}

export const LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const
export type LinearModule = typeof LINEAR_MODULES[number]

/** HF name of a layer's linear weight. */
export function linearWeightName (layer: number, module: LinearModule): string {
  const block = module === 'gate_proj' || module === 'up_proj' || module === 'down_proj' ? 'mlp' : 'self_attn'
  return `model.layers.${layer}.${block}.${module}.weight`
}

/** [out, in] of a layer's linear module. */
export function linearShape (c: LlamaConfig, module: LinearModule): [number, number] {
  const headDim = c.dim / c.nHeads
  switch (module) {
    case 'q_proj': return [c.dim, c.dim]
    case 'k_proj': case 'v_proj': return [c.nKvHeads * headDim, c.dim]
    case 'o_proj': return [c.dim, c.dim]
    case 'gate_proj': case 'up_proj': return [c.hiddenDim, c.dim]
    case 'down_proj': return [c.dim, c.hiddenDim]
  }
}
