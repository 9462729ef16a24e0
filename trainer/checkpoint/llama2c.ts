// llama2.c's `.bin` checkpoint: 7 x int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size (negative = separate classifier), seq_len), then float32 weights in this order:
//   token_embedding (vocab, dim), rms_att (L, dim), wq (L, dim, dim), wk (L, kv_dim, dim), wv (L, kv_dim, dim),
//   wo (L, dim, dim), rms_ffn (L, dim), w1 (L, hidden, dim), w2 (L, dim, hidden), w3 (L, hidden, dim),
//   rms_final (dim), freq_cis_real (seq, head/2), freq_cis_imag (seq, head/2), [wcls (vocab, dim)]
// Matrices are [out, in] as in PyTorch. llama2.c rotates interleaved pairs (2i, 2i+1) in RoPE while
// Hugging Face rotates halves (i, i + head/2): wq and wk rows are permuted here into HF's layout
// (the same permutation as HF's convert_llama_weights_to_hf.py), so one model serves both sources.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs'
import type { CheckpointLayout, LlamaCheckpoint, LlamaConfig, WeightRef } from '../model/config.ts'
import { CheckpointError } from './errors.ts'
import { expectedWeightShapes } from './weight-shapes.ts'

const HEADER_BYTES = 7 * 4

interface Header {
  readonly config: LlamaConfig
  readonly parts: ReadonlyArray<[string, number[]]>
  readonly size: number
}

/** Reads and checks the 7-int32 header against the file's size (the weights are not read) */
function readHeader (path: string): Header {
  let size: number
  try {
    size = statSync(path).size
  } catch {
    throw new CheckpointError(`${path}: cannot read the checkpoint file`)
  }
  if (size < HEADER_BYTES) throw new CheckpointError(`${path}: ${size} bytes is too short for a llama2.c header`)
  const head = Buffer.alloc(HEADER_BYTES)
  const fd = openSync(path, 'r')
  try { readSync(fd, head, 0, HEADER_BYTES, 0) } finally { closeSync(fd) }
  const h = new Int32Array(head.buffer.slice(head.byteOffset, head.byteOffset + HEADER_BYTES))
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw,
    seqLen] = [...h] as [number, number, number, number, number, number, number]
  const shared = vocabRaw > 0
  const vocab = Math.abs(vocabRaw)
  const bad = (what: string): never => {
    throw new CheckpointError(`${path}: header ${what} (dim=${dim} hidden=${hiddenDim} layers=${nLayers} ` +
      `heads=${nHeads} kv_heads=${nKvHeads} vocab=${vocabRaw} seq=${seqLen})`)
  }
  for (const v of [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen]) {
    if (!(v > 0 && v < 1 << 20)) bad('has a non-positive or absurd field')
  }
  if (dim % nHeads !== 0) bad('dim is not a multiple of n_heads')
  if (nHeads % nKvHeads !== 0) bad('n_heads is not a multiple of n_kv_heads')
  const head2 = dim / nHeads
  if (head2 % 2 !== 0) bad('head size is odd (RoPE needs pairs)')
  const kvDim = nKvHeads * head2
  const L = nLayers
  const parts: Array<[string, number[]]> = [['embed', [vocab, dim]], ['rms_att', [L, dim]], ['wq', [L, dim, dim]],
    ['wk', [L, kvDim, dim]],
    ['wv', [L, kvDim, dim]], ['wo', [L, dim, dim]], ['rms_ffn', [L, dim]], ['w1', [L, hiddenDim, dim]],
      ['w2', [L, dim, hiddenDim]],
    ['w3', [L, hiddenDim, dim]], ['rms_final', [dim]], ['freq_real', [seqLen, head2 / 2]],
      ['freq_imag', [seqLen, head2 / 2]]]
  if (!shared) parts.push(['wcls', [vocab, dim]])
  const floats = parts.reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0)
  const expected = HEADER_BYTES + floats * 4
  if (size !== expected) {
    throw new CheckpointError(`${path}: file has ${size} bytes but its header describes ${expected} ` +
      `(${size < expected ? 'truncated' : 'trailing data or wrong header'})`)
  }
  const config: LlamaConfig = {
    dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: vocab, maxSeqLen: seqLen,
    normEps: 1e-5, ropeTheta: 10000, tiedEmbeddings: shared, bosId: 1, eosId: 2
  }
  return { config, parts, size }
}

/** The checkpoint's config and weight shapes (all float32) from its header alone */
export function llama2cLayout (path: string): CheckpointLayout {
  const { config } = readHeader(path)
  const weights = new Map([...expectedWeightShapes(config)].map(([n, shape]) => [n, { shape, dtype: 'F32' as const }]))
  return { config, weights, origin: path }
}

export function loadLlama2c (path: string): LlamaCheckpoint {
  const { config, parts, size } = readHeader(path)
  const { dim, hiddenDim, nHeads, nKvHeads, vocabSize: vocab, tiedEmbeddings: shared } = config
  const kvDim = nKvHeads * (dim / nHeads)
  const L = config.nLayers
  const bytes = readFileSync(path)
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset + HEADER_BYTES, bytes.byteOffset + size))
  const raw = new Map<string, Float32Array>()
  let off = 0
  for (const [name, shape] of parts) {
    const n = shape.reduce((a, b) => a * b, 1)
    raw.set(name, all.subarray(off, off + n))
    off += n
  }
  for (let i = 0; i < all.length; i++) {
    if (!Number.isFinite(all[i])) throw new CheckpointError(`${path}: non-finite weight at float index ${i}`)
  }

  const weights = new Map<string, WeightRef>()
  const put = (name: string, shape: number[], data: Float32Array): void => {
    weights.set(name, { shape, dtype: 'F32', source: { kind: 'memory', data } })
  }
  const layer = (name: string, l: number, rows: number,
    cols: number): Float32Array => raw.get(name)!.subarray(l * rows * cols, (l + 1) * rows * cols)
  put('model.embed_tokens.weight', [vocab, dim], raw.get('embed')!)
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`
    put(`${p}.input_layernorm.weight`, [dim], layer('rms_att', l, 1, dim))
    put(`${p}.self_attn.q_proj.weight`, [dim, dim], permuteRotary(layer('wq', l, dim, dim), nHeads, dim))
    put(`${p}.self_attn.k_proj.weight`, [kvDim, dim], permuteRotary(layer('wk', l, kvDim, dim), nKvHeads, dim))
    put(`${p}.self_attn.v_proj.weight`, [kvDim, dim], layer('wv', l, kvDim, dim))
    put(`${p}.self_attn.o_proj.weight`, [dim, dim], layer('wo', l, dim, dim))
    put(`${p}.post_attention_layernorm.weight`, [dim], layer('rms_ffn', l, 1, dim))
    put(`${p}.mlp.gate_proj.weight`, [hiddenDim, dim], layer('w1', l, hiddenDim, dim))
    put(`${p}.mlp.down_proj.weight`, [dim, hiddenDim], layer('w2', l, dim, hiddenDim))
    put(`${p}.mlp.up_proj.weight`, [hiddenDim, dim], layer('w3', l, hiddenDim, dim))
  }
  put('model.norm.weight', [dim], raw.get('rms_final')!)
  if (!shared) put('lm_head.weight', [vocab, dim], raw.get('wcls')!)

  return { config, weights, origin: path }
}

/**
 * Reorders the rows of a [heads*head, cols] projection from interleaved-pair RoPE order to half-split order:
 * within each head, new row (h * head/2 + i) = old row (2i + h). `inverse` maps back (HF -> llama2.c).
 */
export function permuteRotary (w: Float32Array, heads: number, cols: number, inverse = false): Float32Array {
  const rows = w.length / cols
  const head = rows / heads
  const half = head / 2
  const out = new Float32Array(w.length)
  for (let hd = 0; hd < heads; hd++) {
    for (let i = 0; i < half; i++) {
      for (let s = 0; s < 2; s++) {
        const interleaved = hd * head + 2 * i + s
        const split = hd * head + s * half + i
        const [src, dst] = inverse ? [split, interleaved] : [interleaved, split]
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols)
      }
    }
  }
  return out
}
