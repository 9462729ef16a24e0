// Hugging Face LlamaConfig (config.json) <-> our LlamaConfig. Pure: callers read and write the files.
import type { LlamaConfig } from '../model/config.ts'
import { CheckpointError } from './errors.ts'

/** The HF fields we read and write (a subset of transformers' LlamaConfig). */
export interface HfLlamaConfigJson {
  architectures?: string[]
  model_type?: string
  hidden_size: number
  intermediate_size: number
  num_hidden_layers: number
  num_attention_heads: number
  num_key_value_heads?: number
  vocab_size: number
  max_position_embeddings?: number
  rms_norm_eps?: number
  rope_theta?: number
  tie_word_embeddings?: boolean
  bos_token_id?: number | number[] | null
  eos_token_id?: number | number[] | null
  [key: string]: unknown
}

/** Validates a parsed config.json; `file` names it in errors. */
export function parseHfConfig (json: unknown, file: string): LlamaConfig {
  const fail = (what: string): never => { throw new CheckpointError(`${file}: ${what}`) }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('is not a JSON object')
  const j = json as Record<string, unknown>
  const archs = Array.isArray(j.architectures) ? j.architectures.map(String) : []
  const isLlama = archs.includes('LlamaForCausalLM') || j.model_type === 'llama'
  if (!isLlama) {
    fail(`unsupported architecture ${archs.length > 0 ? archs.join(',') : String(j.model_type ?? 'unknown')} (only ` +
      `LlamaForCausalLM / model_type "llama" is supported)`)
  }
  const int = (key: string, dflt?: number): number => {
    const v = j[key] ?? dflt
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      fail(`${key} must be a positive integer, got ${JSON.stringify(j[key])}`)
    }
    return v as number
  }
  const num = (key: string, dflt: number): number => {
    const v = j[key] ?? dflt
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      fail(`${key} must be a positive number, got ${JSON.stringify(j[key])}`)
    }
    return v as number
  }
  // a special-token id may be a list (several EOS ids); the first one is the one we emit
  const tokenId = (key: string, dflt: number): number => {
    const raw = j[key]
    const v = Array.isArray(raw) ? raw[0] : raw ?? dflt
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      fail(`${key} must be a token id, got ${JSON.stringify(raw)}`)
    }
    return v as number
  }
  const dim = int('hidden_size')
  const nHeads = int('num_attention_heads')
  const nKvHeads = int('num_key_value_heads', nHeads)
  if (dim % nHeads !== 0) fail(`hidden_size ${dim} is not a multiple of num_attention_heads ${nHeads}`)
  if (nHeads % nKvHeads !== 0) {
    fail(`num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`)
  }
  if ((dim / nHeads) % 2 !== 0) fail(`head size ${dim / nHeads} is odd (RoPE needs pairs)`)
  if (j.head_dim !== undefined && j.head_dim !== null && j.head_dim !== dim / nHeads) {
    fail(`head_dim ${String(j.head_dim)} != hidden_size / num_attention_heads is not supported`)
  }
  if (j.hidden_act !== undefined && j.hidden_act !== 'silu') {
    fail(`hidden_act ${JSON.stringify(j.hidden_act)} is not supported (only silu)`)
  }
  if (j.rope_scaling !== undefined && j.rope_scaling !== null) fail('rope_scaling is not supported')
  if (j.attention_bias === true || j.mlp_bias === true) fail('attention_bias / mlp_bias are not supported')
  const tied = j.tie_word_embeddings ?? false // transformers' LlamaConfig default
  if (typeof tied !== 'boolean') fail('tie_word_embeddings must be a boolean')
  const vocabSize = int('vocab_size')
  const config: LlamaConfig = {
    dim,
    hiddenDim: int('intermediate_size'),
    nLayers: int('num_hidden_layers'),
    nHeads,
    nKvHeads,
    vocabSize,
    maxSeqLen: int('max_position_embeddings', 2048),
    normEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    tiedEmbeddings: tied as boolean,
    bosId: tokenId('bos_token_id', 1),
    eosId: tokenId('eos_token_id', 2)
  }
  if (config.bosId >= vocabSize || config.eosId >= vocabSize) {
    fail(`bos/eos ids ${config.bosId}/${config.eosId} are outside the vocabulary of ${vocabSize}`)
  }
  return config
}

/** Our config as HF's config.json object. */
export function toHfConfig (c: LlamaConfig, torchDtype: 'float32' | 'float16' | 'bfloat16'): HfLlamaConfigJson {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxSeqLen,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: c.tiedEmbeddings,
    bos_token_id: c.bosId,
    eos_token_id: c.eosId,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    initializer_range: 0.02,
    pretraining_tp: 1,
    use_cache: true,
    torch_dtype: torchDtype
  }
}
