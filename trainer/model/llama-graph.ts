// The LLaMA decoder as a graph, read top to bottom like nanoGPT: weights, RMSNorm, rotary embedding,
// attention (multi-head or grouped-query, causal + padding mask, optional KV cache), SwiGLU MLP, block, model.
// Activations stay 2-D [N = B*T, dim] between blocks so every linear layer is one Gemm on the [out, in] weight;
// attention alone reshapes to heads. Linear layers go through a hook, so LoRA wraps the model from outside.
import type { DType, Graph, Value } from '../graph/graph.ts'
import * as op from '../graph/ops.ts'
import * as composites from '../graph/composites.ts'
import { gradients } from '../graph/autodiff.ts'
import { storedWeight, weight } from '../graph/weights.ts'
import { isQuantized, quantizedWeight, quantLinear } from '../graph/quantized.ts'
import type { QuantizeOptions } from './quantized-weights.ts'
import { quantizedWeightOf } from './quantized-weights.ts'
import type { LinearModule, LlamaCheckpoint, LlamaConfig, WeightRef } from './config.ts'
import { linearWeightName } from './config.ts'

/** y = x W^T for x [N, in] and a frozen W [out, in]; a hook may add to it (LoRA) or replace it. */
export type LinearHook = (x: Value, w: Value, layer: number, module: LinearModule) => Value
export const plainLinear: LinearHook = (x, w) => frozenLinear(x, w)
/** y = x W^T for a frozen W in its stored type (a half-precision W is cast at the Gemm: composites.castLinear; a
 *  quantized one is multiplied as codes: quantized.quantLinear) */
export const frozenLinear = (x: Value, w: Value): Value => isQuantized(w) ? quantLinear(x, w)
  : w.dtype === x.dtype ? op.gemm(x, w, { transB: true }) : composites.castLinear(x, w)

export interface LayerWeights {
  readonly attnNorm: Value // [dim]
  readonly mlpNorm: Value // [dim]
  readonly linear: Readonly<Record<LinearModule, Value>> // [out, in], in their stored type (frozenLinear)
}
export interface LlamaWeights {
  readonly embed: Value // [vocab, dim], in its stored type (rows are gathered, then cast)
  readonly layers: readonly LayerWeights[]
  readonly norm: Value // [dim]
  readonly lmHead: Value // [vocab, dim] (the embedding when tied)
  readonly cos: Value // [maxSeqLen, headDim]  rotary tables, HF layout cat(freqs, freqs)
  readonly sin: Value
}

/**
 * Registers a checkpoint's weights as frozen initializers of `g`: the norms in the graph's float type, the
 * embedding and linear weights as stored (half-precision weights stay half; their users cast what they read).
 * With `quantize`, the linear weights and an untied lm_head are block-quantized instead (the embedding stays as
 * stored: a lookup reads a few rows), with their transposes for a backward when `quantize.backward`.
 */
export function llamaWeights (g: Graph, ckpt: LlamaCheckpoint,
  quantize?: QuantizeOptions & { readonly backward: boolean }): LlamaWeights {
  const c = ckpt.config
  const ref = (name: string): WeightRef => {
    const r = ckpt.weights.get(name)
    if (r === undefined) throw new Error(`${ckpt.origin}: missing weight ${name}`)
    return r
  }
  const w = (name: string): Value => weight(g, name, ref(name))
  const stored = (name: string): Value => storedWeight(g, name, ref(name))
  const linear = (name: string): Value => {
    if (quantize === undefined) return stored(name)
    const q = quantizedWeightOf(ref(name), name, quantize, quantize.backward)
    return quantizedWeight(g, name, q.forward, q.backward)
  }
  const layers = Array.from({ length: c.nLayers }, (_, l) => ({
    attnNorm: w(`model.layers.${l}.input_layernorm.weight`),
    mlpNorm: w(`model.layers.${l}.post_attention_layernorm.weight`),
    linear: Object.fromEntries((['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const)
      .map((m) => [m, linear(linearWeightName(l, m))])) as Record<LinearModule, Value>
  }))
  const embed = stored('model.embed_tokens.weight')
  const [cos, sin] = ropeTables(g, c)
  const lmHead = c.tiedEmbeddings ? embed : linear('lm_head.weight')
  return { embed, layers, norm: w('model.norm.weight'), lmHead, cos, sin }
}

/** cos/sin of position * inv_freq, duplicated over both halves (HF's rotate-half convention). */
export function ropeTables (g: Graph, c: LlamaConfig): [Value, Value] {
  const hd = c.dim / c.nHeads
  const half = hd / 2
  const cos = new Float64Array(c.maxSeqLen * hd)
  const sin = new Float64Array(c.maxSeqLen * hd)
  for (let p = 0; p < c.maxSeqLen; p++) {
    for (let i = 0; i < half; i++) {
      const invFreq = 1 / Math.pow(c.ropeTheta, (2 * i) / hd)
      const a = p * invFreq
      cos[p * hd + i] = cos[p * hd + i + half] = Math.cos(a)
      sin[p * hd + i] = sin[p * hd + i + half] = Math.sin(a)
    }
  }
  const table = (name: string, d: Float64Array): Value => g.float === 'float64'
    ? g.constant('float64', [c.maxSeqLen, hd], d)
    : g.constant('float32', [c.maxSeqLen, hd], Float32Array.from(d))
  return [table('rope_cos', cos), table('rope_sin', sin)]
}

// ---- pieces -----------------------------------------------------------------------------------------

/** x * rsqrt(mean(x^2) + eps) * w over the last axis (a composite with a lean backward) */
export const rmsNorm = composites.rmsNorm

/**
 * rotate_half as a constant [headDim, headDim] signed permutation R: (x R) = cat(-x2, x1) over the head dim.
 * A small MatMul ([rows, hd] x [hd, hd], ~1/32 of a projection for hd = 128) replaces Slice/Neg/Concat, and its
 * backward is one MatMul by the (constant-folded) R^T instead of Split/Neg/Pad/Pad/Add.
 */
export function rotateHalfMatrix (g: Graph, headDim: number): Value {
  const half = headDim / 2
  const r = new Float64Array(headDim * headDim)
  for (let j = 0; j < half; j++) {
    r[(j + half) * headDim + j] = -1 // out[j] = -x[j + half]
    r[j * headDim + j + half] = 1 // out[j + half] = x[j]
  }
  return g.float === 'float64'
    ? g.constant('float64', [headDim, headDim], r)
    : g.constant('float32', [headDim, headDim], Float32Array.from(r))
}

/** x * cos + rotate_half(x) * sin, with rotate_half(x) = x @ R (see rotateHalfMatrix) */
export function rope (x: Value, cos: Value, sin: Value, rot: Value): Value {
  return op.add(op.mul(x, cos), op.mul(op.matmul(x, rot), sin))
}

/** Run-time facts every layer shares. */
export interface Context {
  readonly c: LlamaConfig
  readonly bt: Value // int64 [2]: B, T
  readonly cos: Value // [T, 1, headDim] for the current positions
  readonly sin: Value
  readonly cosQ: Value // the same times the softmax scale 1/sqrt(headDim), for the queries
  readonly sinQ: Value
  readonly rot: Value // [headDim, headDim] rotate_half as a matrix
  readonly mask: Value // [B, 1, 1, T, S] additive (0 or -1e9)
  readonly linear: LinearHook
  /** the element type of activations (the graph's float, or float16/bfloat16: graphs.ts, precision.ts) */
  readonly compute: DType
  /** train graphs: rotary embedding and attention on ONNX's opset-23 ops, with hand-written backwards (float32,
   *  no cache) */
  readonly rotary?: RotaryContext
  /** present when the graph uses ONNX opset-23 fused forward ops (no backward: eval and decode graphs) */
  readonly fused?: FusedContext
}
export interface RotaryContext {
  readonly positions: Value // int64 [B, T] absolute positions
  readonly cos: Value // [maxSeqLen, headDim / 2] rotary tables in RotaryEmbedding's layout
  readonly sin: Value
  readonly cosQ: Value // the same times the softmax scale, for the queries
  readonly sinQ: Value
  /** the attention's query blocks (DecoderInputs.attentionChunks; one block is the whole square) */
  readonly chunks: composites.CausalChunks
}
export interface FusedContext {
  readonly positions: Value // int64 [B, T] absolute positions
  readonly cosHalf: Value // [maxSeqLen, headDim / 2] rotary tables in RotaryEmbedding's layout
  readonly sinHalf: Value
  readonly mask: Value // [B, 1, T, S] additive
  /** without a KV cache, with DecoderInputs.attentionChunks > 1: the attention's causal query blocks */
  readonly chunks?: composites.CausalChunks
}

export interface KV { readonly key: Value, readonly value: Value } // [B, nKv, S, headDim]

const dyn = (ctx: Context, tail: number[]): Value => op.concat([ctx.bt, ctx.bt.graph.int64s(tail)], 0)

/** Causal self-attention with grouped-query heads (G = nHeads / nKvHeads query heads share a key/value head). */
export function attention (ctx: Context, x: Value, lw: LayerWeights, layer: number, past?: KV):
{ out: Value, present: KV } {
  const { c } = ctx
  const hd = c.dim / c.nHeads
  const kv = c.nKvHeads
  const G = c.nHeads / kv
  const lin = (m: LinearModule, v: Value): Value => ctx.linear(v, lw.linear[m], layer, m)
  // train graphs: RotaryEmbedding + Attention ops, hand-written backwards
  if (ctx.rotary !== undefined && past === undefined) {
    const r = ctx.rotary
    const flat = (m: LinearModule, heads: number): Value =>
      op.reshapeLike(lin(m, x), dyn(ctx, [heads * hd]), ['B', 'T', heads * hd])
    const q3 = composites.rotaryEmbedding(flat('q_proj', c.nHeads), r.cosQ, r.sinQ, r.positions, c.nHeads)
    const k3 = composites.rotaryEmbedding(flat('k_proj', kv), r.cos, r.sin, r.positions, kv)
    const v3 = flat('v_proj', kv)
    const shape = { qHeads: c.nHeads, kvHeads: kv, headDim: hd }
    const y = composites.chunkedCausalAttention(q3, k3, v3, r.chunks, shape)
    const heads = (t: Value): Value => op.transpose(op.reshape(t, [0, 0, kv, hd]), [0, 2, 1, 3]) // (B, nkv, T, hd)
    return { out: lin('o_proj', op.reshape(y, [-1, c.dim])), present: { key: heads(k3), value: heads(v3) } }
  }
  let q = op.reshapeLike(lin('q_proj', x), dyn(ctx, [c.nHeads, hd]), ['B', 'T', c.nHeads, hd]) // (B, T, nh, hd)
  let k = op.reshapeLike(lin('k_proj', x), dyn(ctx, [kv, hd]), ['B', 'T', kv, hd]) // (B, T, nkv, hd)
  let v = op.reshapeLike(lin('v_proj', x), dyn(ctx, [kv, hd]), ['B', 'T', kv, hd])
  q = rope(q, ctx.cosQ, ctx.sinQ, ctx.rot) // the softmax scale is folded into q's rotary tables
  k = op.transpose(rope(k, ctx.cos, ctx.sin, ctx.rot), [0, 2, 1, 3]) // (B, nkv, T, hd)
  v = op.transpose(v, [0, 2, 1, 3])
  if (past !== undefined) {
    k = op.concat([past.key, k], 2) // (B, nkv, S, hd)
    v = op.concat([past.value, v], 2)
  }
  // q heads h = j*G + g use kv head j: fold g into the query axis, so one plain batched matmul serves GQA
  const qg = op.reshape(op.transpose(op.reshape(q, [0, 0, kv, G, hd]), [0, 2, 3, 1, 4]), [0, 0, -1, hd]) // B,nkv,G*T,hd
  const o = composites.softmaxAttention(qg, k, v, (scores) => { // scores (B, nkv, G*T, S)
    const dims = op.concat([op.shapeSlice(qg, 0, 2), x.graph.int64s([G, -1]), op.shapeSlice(k, 2, 3)], 0)
    const s5 = op.reshapeLike(scores, dims, ['B', kv, G, 'T', 'S'])
    // half-precision scores are widened for the mask and the softmax (fp32 island), the weights narrowed again
    const probs = op.cast(op.softmax(op.add(op.cast(s5, ctx.mask.dtype), ctx.mask), -1), s5.dtype) // (B,nkv,G,T,S)
    return op.reshapeLike(probs, op.shapeOf(scores), scores.shape)
  }) // (B, nkv, G*T, hd)
  const o5 = op.reshape(o, [0, 0, G, -1, hd]) // (B, nkv, G, T, hd)
  const merged = op.reshape(op.transpose(o5, [0, 3, 1, 2, 4]), [-1, c.dim]) // (B*T, dim)
  return { out: lin('o_proj', merged), present: { key: k, value: v } }
}

/** down(silu(gate(x)) * up(x)) */
export function mlp (ctx: Context, x: Value, lw: LayerWeights, layer: number): Value {
  const lin = (m: LinearModule, v: Value): Value => ctx.linear(v, lw.linear[m], layer, m)
  return lin('down_proj', op.mul(composites.silu(lin('gate_proj', x)), lin('up_proj', x)))
}

/**
 * The same attention from ONNX opset-23 fused ops (RotaryEmbedding on 3-D [B, T, heads*hd], Attention with
 * grouped-query heads, an additive mask and the KV cache): a handful of nodes per layer instead of ~40, which is
 * what per-token decoding of a small model pays for. Forward only.
 */
export function fusedAttention (ctx: Context, x: Value, lw: LayerWeights, layer: number, past?: KV):
{ out: Value, present: KV } {
  const { c } = ctx
  const f = ctx.fused!
  const hd = c.dim / c.nHeads
  const kv = c.nKvHeads
  const lin = (m: LinearModule, v: Value, width: number): Value =>
    op.reshapeLike(ctx.linear(v, lw.linear[m], layer, m), dyn(ctx, [width]), ['B', 'T', width])
  const q = op.rotaryEmbedding(lin('q_proj', x, c.dim), f.cosHalf, f.sinHalf, f.positions, c.nHeads)
  const k = op.rotaryEmbedding(lin('k_proj', x, kv * hd), f.cosHalf, f.sinHalf, f.positions, kv)
  const v = lin('v_proj', x, kv * hd)
  const shape = { qHeads: c.nHeads, kvHeads: kv, headDim: hd }
  const { y, key, value } = f.chunks !== undefined && past === undefined
    ? { y: composites.causalAttentionBlocks(q, k, v, f.chunks, shape), key: undefined, value: undefined }
    : op.attention(q, k, v, f.mask, past, { ...shape, totalSeq: 'S' })
  // without a cache (eval) the present key/value are unused; built in the cache layout anyway, they are pruned
  const heads = (t: Value): Value => op.transpose(op.reshape(t, [0, 0, kv, hd]), [0, 2, 1, 3]) // (B, nkv, T, hd)
  const out = ctx.linear(op.reshape(y, [-1, c.dim]), lw.linear.o_proj, layer, 'o_proj')
  return { out, present: { key: key ?? heads(k), value: value ?? heads(v) } }
}

// eval/decode graphs: the opset-23 op; train graphs on ORT's CPU ops (ctx.rotary): the fused forward that returns r.
// Half-precision activations are normalised in float32 (the weight's type) and narrowed after.
const norm = (ctx: Context, x: Value, w: Value): Value => {
  if (x.dtype !== w.dtype) return op.cast(rmsNorm(op.cast(x, w.dtype), w, ctx.c.normEps), x.dtype)
  return ctx.fused !== undefined
    ? op.rmsNormalization(x, w, ctx.c.normEps)
    : rmsNorm(x, w, ctx.c.normEps, { fusedForward: ctx.rotary !== undefined })
}

export function block (ctx: Context, x: Value, lw: LayerWeights, layer: number, past?: KV):
{ out: Value, present: KV } {
  const xn = norm(ctx, x, lw.attnNorm)
  const a = ctx.fused !== undefined ? fusedAttention(ctx, xn, lw, layer, past) : attention(ctx, xn, lw, layer, past)
  const h = op.add(x, a.out) // (N, dim)
  return { out: op.add(h, mlp(ctx, norm(ctx, h, lw.mlpNorm), lw, layer)), present: a.present }
}

export interface DecoderInputs {
  readonly inputIds: Value // int64 [B, T]
  readonly attentionMask: Value // int64 [B, S]: 1 = real token, 0 = padding; S = past + T
  readonly past?: readonly KV[] // per layer, [B, nKv, P, hd]
  /** build with ONNX opset-23 fused forward ops (the model must be emitted with opset >= 23; no gradients) */
  readonly fused?: boolean
  /** train graphs: attention and rotary embedding on opset-23 ops and RMSNorm's fused forward, each with a
   *  hand-written backward (ORT's CPU provider; emit with opset >= 23) */
  readonly attentionOp?: boolean
  /** activations' element type (default: the graph's float); half types use the standard-op forms */
  readonly compute?: DType
  /** train graphs: each layer's backward recomputes its forward from the layer's input (recomputedBlock) */
  readonly recompute?: boolean
  /** with attentionOp, or fused without a cache: causal attention in this many query blocks
   *  (composites.chunkedCausalAttention, composites.causalAttentionBlocks); every sequence fed must then be at
   *  least this long */
  readonly attentionChunks?: number
}
export interface DecoderOutputs {
  readonly hidden: Value // [B*T, dim] after the final norm
  readonly present: readonly KV[]
}

/** Masks and rotary tables for the current positions, shared by every layer. */
export function makeContext (c: LlamaConfig, w: Pick<LlamaWeights, 'cos' | 'sin'>, inp: DecoderInputs,
  linear: LinearHook = plainLinear): Context {
  const g = inp.inputIds.graph
  const bt = op.shapeOf(inp.inputIds) // [B, T]
  const T = op.shapeSlice(inp.inputIds, 1, 2) // [1]
  const P = inp.past !== undefined ? op.shapeSlice(inp.past[0]!.key, 2, 3) : g.int64s([0]) // [1] past length
  const S = op.add(P, T)
  const zero = op.int64(g, 0)
  const oneI = op.int64(g, 1)
  const qpos = op.range(op.squeeze(P, [0]), op.squeeze(S, [0]), oneI, 'T') // [T] absolute positions
  const kpos = op.range(zero, op.squeeze(S, [0]), oneI, 'S') // [S]
  // allowed(b, t, s) = s <= qpos[t] and attention_mask[b, s]
  const causal = op.lessOrEqual(op.unsqueeze(kpos, [0]), op.unsqueeze(qpos, [1])) // (T, S)
  const keep = op.and(op.unsqueeze(causal, [0]), op.unsqueeze(op.cast(inp.attentionMask, 'bool'), [1])) // (B, T, S)
  const mask = op.unsqueeze(op.where(keep, g.scalar(0), g.scalar(-1e9)), [1, 2]) // (B, 1, 1, T, S)
  const rot = (table: Value): Value => op.unsqueeze(op.gather(table, qpos, 0), [1]) // (T, 1, hd)
  const cos = rot(w.cos)
  const sin = rot(w.sin)
  const scale = 1 / Math.sqrt(c.dim / c.nHeads)
  const hd = c.dim / c.nHeads
  const positions = (): Value => op.expand(op.unsqueeze(qpos, [0]), bt, ['B', 'T'])
  const half = (table: Value): Value => op.slice(table, [0], [hd / 2], [1])
  const blocks = Math.max(1, inp.attentionChunks ?? 1)
  const mask4 = op.squeeze(mask, [1]) // (B, 1, T, S)
  const fused: FusedContext | undefined = inp.fused === true
    ? {
        positions: positions(),
        cosHalf: half(w.cos),
        sinHalf: half(w.sin),
        mask: mask4,
        ...(blocks > 1 && inp.past === undefined ? { chunks: composites.planCausalChunks(T, mask4, blocks) } : {})
      }
    : undefined
  const rotary: RotaryContext | undefined = inp.attentionOp === true && inp.past === undefined
    ? {
        positions: positions(),
        cos: half(w.cos),
        sin: half(w.sin),
        cosQ: op.mul(half(w.cos), scale),
        sinQ: op.mul(half(w.sin), scale),
        chunks: composites.planCausalChunks(T, mask4, blocks)
      }
    : undefined
  const compute = inp.compute ?? g.float
  const narrow = (x: Value): Value => op.cast(x, compute) // rotary tables in the activations' type
  const rotation = narrow(rotateHalfMatrix(g, hd))
  const [cosQ, sinQ] = [narrow(op.mul(cos, scale)), narrow(op.mul(sin, scale))]
  return { c, bt, cos: narrow(cos), sin: narrow(sin), cosQ, sinQ, rot: rotation, mask, linear, compute, fused, rotary }
}

/** The decoder stack; the caller adds the head (all positions for losses, the last one for generation). */
export function decoder (c: LlamaConfig, w: LlamaWeights, inp: DecoderInputs, linear: LinearHook = plainLinear):
DecoderOutputs {
  const ctx = makeContext(c, w, inp, linear)
  const rows = op.cast(op.gather(w.embed, inp.inputIds, 0), ctx.compute) // gathered, then cast
  let x = op.reshape(rows, [-1, c.dim]) // (B*T, dim)
  const present: KV[] = []
  w.layers.forEach((lw, l) => {
    if (inp.recompute === true && inp.past === undefined) {
      x = recomputedBlock(ctx, x, lw, l)
      return
    }
    const r = block(ctx, x, lw, l, inp.past?.[l])
    x = r.out
    present.push(r.present)
  })
  return { hidden: norm(ctx, x, w.norm), present }
}

/**
 * A layer whose backward recomputes its forward (activation checkpointing): only the layer's input is kept from
 * the forward to the backward, instead of every activation inside it (at long sequences the attention's softmax
 * weights alone are B heads T^2 per layer). The backward builds the layer again from its input and differentiates
 * that copy. The copy's input is the input reshaped to the shape of the arriving gradient: a data dependency (a
 * Reshape costs no copy) that keeps ORT, which orders nodes by a depth-first walk from the outputs, from running
 * the copy early and holding its activations anyway. The layer's trainable inputs (LoRA tensors: float graph
 * inputs it reads) are the composite's inputs too, so their gradients come from the copy. No KV cache output.
 */
function recomputedBlock (ctx: Context, x: Value, lw: LayerWeights, layer: number): Value {
  const out = block(ctx, x, lw, layer).out
  const params = trainableInputs(out, x)
  return op.composite('RecomputedBlock', [x, ...params], out, (g) => {
    const again = op.reshapeLike(x, op.shapeOf(g), x.shape)
    return gradients(block(ctx, again, lw, layer).out, [again, ...params], g)
  })
}

/** float graph inputs (LoRA tensors) that `out` reads, walking back no further than `from` */
function trainableInputs (out: Value, from: Value): Value[] {
  const inputs = new Set(out.graph.inputs)
  const found: Value[] = []
  const seen = new Set<Value>([from])
  const stack = [out]
  while (stack.length > 0) {
    const v = stack.pop()!
    if (seen.has(v)) continue
    seen.add(v)
    if (inputs.has(v) && (v.dtype === 'float32' || v.dtype === 'float64')) found.push(v)
    if (v.producer !== undefined) stack.push(...v.producer.inputs)
  }
  return found.sort((a, b) => a.id - b.id)
}

/** logits = hidden @ lm_head^T */
export const lmHead = (w: LlamaWeights, hidden: Value): Value => frozenLinear(hidden, w.lmHead)
