// The three graphs the trainer and the CLI run: train (summed loss, token count, LoRA gradients), eval
// (per-example summed loss and token count) and decode (last-position logits with a KV cache).
//
// Labels are aligned with positions: labels[b, t] is the id expected AFTER input_ids[b, t] (so for a token
// sequence s: input_ids = s[:-1], labels = s[1:] with -100 where no loss is wanted: prompt, padding).
import type { BuiltModel, DType, FloatDType, Value } from '../graph/graph.ts'
import { Graph } from '../graph/graph.ts'
import { gradients } from '../graph/autodiff.ts'
import * as op from '../graph/ops.ts'
import * as composites from '../graph/composites.ts'
import type { LoraConfig } from '../lora/adapter.ts'
import type { DropoutSite } from '../lora/dropout-masks.ts'
import type { LoraSite } from '../lora/lora-graph.ts'
import { loraLinear } from '../lora/lora-graph.ts'
import type { LlamaCheckpoint } from './config.ts'
import type { KV, LinearHook, LlamaWeights } from './llama-graph.ts'
import { decoder, lmHead, llamaWeights, plainLinear } from './llama-graph.ts'
import { IGNORE_INDEX } from '../data/tokenize-example.ts'
import type { Precision } from './precision.ts'
import { computeDType } from './precision.ts'
import type { QuantizeOptions } from './quantized-weights.ts'
import { QuantizeError } from './quantize.ts'

export { IGNORE_INDEX } // one definition, the data pipeline's
export const gradName = (input: string): string => `${input}.grad`
export const pastName = (layer: number, part: 'key' | 'value'): string => `past.${layer}.${part}`
export const presentName = (layer: number, part: 'key' | 'value'): string => `present.${layer}.${part}`
/** fp16 train graphs' input: the loss is multiplied by it before differentiating (dynamic loss scaling) */
export const LOSS_SCALE = 'loss_scale'

export interface GraphOptions {
  readonly lora?: LoraConfig
  /** LoRA dropout on (train graph only): its keep-masks become inputs (LlamaGraph.dropout) */
  readonly dropout?: boolean
  /** float64 for gradient checks */
  readonly float?: FloatDType
  readonly opset?: number
  /** eval and decode graphs: ONNX opset-23 fused RMSNormalization/RotaryEmbedding/Attention forward ops
   *  (default true for float32). The train graph takes the Attention and RotaryEmbedding ops and ORT's
   *  SimplifiedLayerNormalization with hand-written backwards (composites.chunkedCausalAttention returns the
   *  Attention op's softmax weights for it); the rest is differentiated from standard ops. */
  readonly fused?: boolean
  /** LoRA merged into weights up to this many elements (default lora-graph's MERGED_LORA_MAX_WEIGHTS; 0 = never) */
  readonly loraMergedMaxWeights?: number
  /** train and eval graphs with fused attention: causal attention in this many query blocks (default
   *  ATTENTION_CHUNKS; 1 = the whole square); LlamaGraph.minSeq tells callers to pad shorter batches */
  readonly attentionChunks?: number
  /** compute precision (resolved, precision.ts; default fp32): fp16/bf16 activations and Gemms, with RMSNorm,
   *  softmax, the loss and the LoRA tensors in float32; half graphs use the standard-op forms, not the fused ops */
  readonly precision?: Precision
  /** train graph: per-layer activation recomputation (llama-graph.recomputedBlock) */
  readonly recompute?: boolean
  /** block-quantized linear weights (quantize.ts; float32 compute only): the train graph adds their transposes */
  readonly quantize?: QuantizeOptions
}

/**
 * Query blocks of the train and eval graphs' causal attention: 8 cut the score-sized work to 9/16 of the square.
 * The best count grows with the sequence (stories260K train step, 8 rows, one thread, against 4 blocks): -13% at
 * T = 511, -2% at 329, +1% at 256, +6% at 166. Training on Dolly at the default max length of 512 is mostly the
 * former (half of its micro-batches are 511 long), and short micro-batches are cheap; 12 blocks measured no
 * better at 511. (4 blocks when introduced: step 95 -> 75 ms at T = 256; eval forward 20.4 -> 16.6 ms.)
 */
export const ATTENTION_CHUNKS = 8

export interface LlamaGraph {
  readonly model: BuiltModel
  /** LoRA inputs in creation order (PEFT names); empty without LoRA */
  readonly lora: readonly LoraSite[]
  /** the shortest sequence a batch may have (attention in query blocks needs one row per block); default 1 */
  readonly minSeq?: number
  /** train graph with LoRA dropout: the keep-mask inputs (bool [B*T, in]) and the drop probability */
  readonly dropout?: { readonly sites: readonly DropoutSite[], readonly p: number }
  /** the compute precision it was built for */
  readonly precision: Precision
  /** fp16 train graphs: gradients are of loss_sum times the LOSS_SCALE input (divide them by it) */
  readonly lossScale?: boolean
  /** decode graphs: the element type of the KV cache's inputs and outputs */
  readonly cacheDType?: 'float32' | 'float16'
}

function start (ckpt: LlamaCheckpoint, o: GraphOptions,
  train: boolean): { g: Graph, linear: LinearHook, sites: LoraSite[], masks: DropoutSite[], ids: Value, mask: Value } {
  const g = new Graph(o.float ?? 'float32')
  const ids = g.input('input_ids', 'int64', ['B', 'T'])
  const mask = g.input('attention_mask', 'int64', ['B', 'S'])
  if (o.lora === undefined) return { g, linear: plainLinear, sites: [], masks: [], ids, mask }
  const { linear, sites, masks } = loraLinear(g, o.lora,
    { train: train && o.dropout === true, mergedMaxWeights: o.loraMergedMaxWeights })
  return { g, linear, sites, masks, ids, mask }
}

const useFused = (g: Graph, o: GraphOptions): boolean => (o.fused ?? true) && g.float === 'float32' &&
  (o.precision ?? 'fp32') === 'fp32'
const computeOf = (g: Graph, o: GraphOptions): DType =>
  o.precision !== undefined && o.precision !== 'fp32' ? computeDType(o.precision) : g.float
const fusedOpset = (fused: boolean, o: GraphOptions): number | undefined => fused ? Math.max(23, o.opset ?? 23)
  : o.opset

/** the weights of a graph, quantized when asked (float32 compute only: MatMulNBits takes float32 activations here) */
function weightsOf (g: Graph, ckpt: LlamaCheckpoint, o: GraphOptions, backward: boolean): LlamaWeights {
  if (o.quantize === undefined) return llamaWeights(g, ckpt)
  if (g.float !== 'float32' || (o.precision ?? 'fp32') !== 'fp32') {
    throw new QuantizeError(`--quantize needs float32 compute, not ${o.precision ?? g.float}`)
  }
  return llamaWeights(g, ckpt, { ...o.quantize, backward })
}

/** Token losses: -log softmax(logits)[label] where label != -100, else 0. */
function tokenLosses (half: Value, labels: Value): { nll: Value, valid: Value } {
  const logits = op.cast(half, half.graph.float) // the loss in the graph's float (a no-op but for half compute)
  const flat = op.reshape(labels, [-1]) // (N)
  const validB = op.not(op.equal(flat, op.int64(labels.graph, IGNORE_INDEX)))
  const safe = op.unsqueeze(op.where(validB, flat, op.int64(labels.graph, 0)), [1]) // (N, 1)
  const valid = op.cast(validB, logits.dtype)
  return { nll: composites.tokenNll(logits, safe, valid), valid }
}

/**
 * Inputs: input_ids, labels, attention_mask [B, T] int64, and the LoRA tensors (PEFT names).
 * Outputs: loss_sum (sum of token cross-entropies over labels != -100), token_count, and `<name>.grad`
 * = d loss_sum / d tensor for every LoRA input. Divide by the total token count of all micro-batches.
 */
export function buildTrainGraph (ckpt: LlamaCheckpoint, o: GraphOptions = {}): LlamaGraph {
  const { g, linear, sites, masks, ids, mask } = start(ckpt, o, true)
  const labels = g.input('labels', 'int64', ['B', 'T'])
  const w = weightsOf(g, ckpt, o, true)
  const fused = useFused(g, o)
  const chunks = fused ? Math.max(1, o.attentionChunks ?? ATTENTION_CHUNKS) : 1
  const { hidden } = decoder(ckpt.config, w, { inputIds: ids, attentionMask: mask, attentionOp: fused,
    attentionChunks: chunks, compute: computeOf(g, o), recompute: o.recompute }, linear)
  const { nll, valid } = tokenLosses(lmHead(w, hidden), labels)
  const loss = op.reduceSum(nll, [0], false)
  const outputs: Record<string, Value> = { loss_sum: loss, token_count: op.reduceSum(valid, [0], false) }
  // fp16's range ends at 65504 and its smallest normal is 6e-5: small gradients of half activations flush to zero
  // unless the loss is scaled up first (the training loop divides, and skips steps that overflowed)
  const lossScale = o.precision === 'fp16'
  const seed = lossScale ? g.input(LOSS_SCALE, loss.dtype, []) : undefined
  const grads = gradients(loss, sites.map((s) => s.value), seed)
  sites.forEach((s, i) => { outputs[gradName(s.name)] = grads[i]! })
  return {
    model: g.toModel(outputs, { opset: fusedOpset(fused, o), name: 'llama-train' }),
    lora: sites,
    minSeq: chunks,
    precision: o.precision ?? 'fp32',
    ...(lossScale ? { lossScale } : {}),
    ...(masks.length > 0 ? { dropout: { sites: masks, p: o.lora!.dropout } } : {})
  }
}

/** Inputs as the train graph; outputs loss_sum [B] and token_count [B] per example. No gradients. */
export function buildEvalGraph (ckpt: LlamaCheckpoint, o: GraphOptions = {}): LlamaGraph {
  const { g, linear, sites, ids, mask } = start(ckpt, o, false)
  const labels = g.input('labels', 'int64', ['B', 'T'])
  const w = weightsOf(g, ckpt, o, false)
  const fused = useFused(g, o)
  const chunks = fused ? Math.max(1, o.attentionChunks ?? ATTENTION_CHUNKS) : 1
  const { hidden } = decoder(ckpt.config, w, { inputIds: ids, attentionMask: mask, fused, attentionChunks: chunks,
    compute: computeOf(g, o) }, linear)
  const { nll, valid } = tokenLosses(lmHead(w, hidden), labels)
  const bt = op.shapeOf(ids)
  const perExample = (x: Value): Value => op.reduceSum(op.reshapeLike(x, bt, ['B', 'T']), [1], false) // (B)
  return { model: g.toModel({ loss_sum: perExample(nll), token_count: perExample(valid) },
    { opset: fusedOpset(fused, o), name: 'llama-eval' }), lora: sites, minSeq: chunks,
  precision: o.precision ?? 'fp32' }
}

/**
 * Inputs: input_ids [B, T], attention_mask [B, P + T], past.{l}.key / past.{l}.value [B, nKv, P, headDim]
 * (P may be 0), LoRA tensors if any. Outputs: logits [B, vocab] of the last position, present.{l}.key/value
 * [B, nKv, P + T, headDim].
 */
export function buildDecodeGraph (ckpt: LlamaCheckpoint, o: GraphOptions = {}): LlamaGraph {
  const { g, linear, sites, ids, mask } = start(ckpt, o, false)
  const c = ckpt.config
  const hd = c.dim / c.nHeads
  // the cache follows the compute precision, but for bfloat16, which onnxruntime-node cannot hold in JS: its cache
  // crosses the graph's boundary as float32 (cast in and out)
  const compute = computeOf(g, o)
  const cacheDType = compute === 'float16' ? 'float16' : 'float32'
  const cacheInput = (l: number, part: 'key' | 'value'): Value =>
    op.cast(g.input(pastName(l, part), cacheDType, ['B', c.nKvHeads, 'P', hd]), compute)
  const past: KV[] = Array.from({ length: c.nLayers }, (_, l) => ({ key: cacheInput(l, 'key'),
    value: cacheInput(l, 'value') }))
  const w = weightsOf(g, ckpt, o, false)
  const fused = useFused(g, o)
  const { hidden, present } = decoder(c, w, { inputIds: ids, attentionMask: mask, past, fused, compute }, linear)
  const last = op.reshape(op.slice(op.reshapeLike(hidden, op.concat([op.shapeOf(ids), g.int64s([c.dim])], 0),
    ['B', 'T', c.dim]),
    [-1], [2 ** 31 - 1], [1]), [-1, c.dim]) // (B, dim) at the last position
  const outputs: Record<string, Value> = { logits: op.cast(lmHead(w, last), g.float) }
  present.forEach((kv, l) => {
    outputs[presentName(l, 'key')] = op.cast(kv.key, cacheDType)
    outputs[presentName(l, 'value')] = op.cast(kv.value, cacheDType)
  })
  return { model: g.toModel(outputs, { opset: fusedOpset(fused, o), name: 'llama-decode' }), lora: sites,
    precision: o.precision ?? 'fp32', cacheDType }
}
