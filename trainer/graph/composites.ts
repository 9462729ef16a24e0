// Composite ops: a forward built from standard ONNX ops and a hand-written backward, side by side. Autodiff
// through the pieces would be correct but wasteful (a [tokens, hidden] pass per elementary op); these
// backwards reuse what the forward already computed and use fewer full-size passes. Each one has its own
// float64 gradient check in test/trainer/graph/ops.test.ts.
import type { Value } from './graph.ts'
import * as op from './ops.ts'
import { sumTo } from './rules.ts'

/**
 * y = x W^T for a frozen W [out, in] stored in another element type (an fp16 or bf16 checkpoint under float32
 * compute). The Cast sits right at the Gemm, and the backward (dx = dY W) casts again instead of reading the
 * forward's: with ORT's constant folding and common-subexpression elimination off for such models (session.ts),
 * no widened copy of a weight outlives the Gemm that reads it, so the resident weights stay the file's half-size
 * pages. The cost is a second cast per weight in a train step.
 */
export function castLinear (x: Value, w: Value): Value {
  const y = op.gemm(x, op.cast(w, x.dtype), { transB: true })
  return op.composite('CastLinear', [x], y, (g) => [op.gemm(g, op.cast(w, x.dtype))])
}

/**
 * silu(x) = x * sigmoid(x). Backward: g * silu'(x) with silu'(x) = s + x s (1 - s) = s + y (1 - s), reusing
 * the forward's s and y: 4 passes instead of the 6 that differentiating Mul and Sigmoid separately costs.
 */
export function silu (x: Value): Value {
  const s = op.sigmoid(x)
  const y = op.mul(x, s)
  return op.composite('SiLU', [x], y, (g) => [op.mul(g, op.add(s, op.mul(y, op.sub(1, s))))])
}

/**
 * RMSNorm over the last axis: y = x r w with r = 1 / sqrt(mean(x^2) + eps), per row. Backward, with
 * xr = x r, gw = g w and mean(gw xr) = mean(g y) (D = size of the last axis):
 *   dx = r (gw - xr mean(g y)) = r gw - x (r^2 mean(g y)),   dw = sum over rows of g xr.
 * With `fusedForward` (float32 on ORT's CPU provider) the forward is one node that also returns r
 * (ops.rmsNormWithInvStd); dx costs five full-size passes (g w, its product by r, g y, x by the per-row
 * factor, the Sub) instead of the eight that autodiff through Mul/ReduceMean/Sqrt/Reciprocal makes. Otherwise
 * the forward is standard ops: float64 has no such kernel, and ORT 1.30's WebGPU kernel leaves r wrong
 * (bench/device found it: y matched the CPU, r was off by 100%, and every LoRA gradient with it).
 */
export function rmsNorm (x: Value, w: Value, eps: number, o: { fusedForward?: boolean } = {}): Value {
  let y: Value
  let r: Value
  if (o.fusedForward === true && x.dtype === 'float32') {
    ({ y, r } = op.rmsNormWithInvStd(x, w, eps))
  } else {
    r = op.reciprocal(op.sqrt(op.add(op.reduceMean(op.mul(x, x), [-1], true), eps))) // [.., 1]
    y = op.mul(op.mul(x, r), w)
  }
  return op.composite('RMSNorm', [x, w], y, (g, [nx, nw]) => {
    let dx: Value | undefined
    if (nx) {
      const dot = op.reduceMean(op.mul(g, y), [-1], true) // [.., 1]
      dx = op.sub(op.mul(op.mul(g, w), r), op.mul(x, op.mul(op.mul(r, r), dot)))
    }
    return [dx, nw ? sumTo(op.mul(g, op.mul(x, r)), w) : undefined]
  })
}

/**
 * Token cross-entropy: nll = -log softmax(logits)[label] * valid, per row; logits [N, V], labels [N, 1] int64 (any
 * index where valid = 0), valid [N] (1 or 0). Backward, with w = g valid:
 *   dlogits = w (softmax(logits) - onehot(label)) = exp(logp) w, then -w scattered onto each row's label.
 * Three [N, V] passes (Exp, Mul, the Scatter's copy) instead of the six that autodiff through GatherElements
 * and LogSoftmax makes (zeros, their scattered copy, Exp, ReduceSum, Mul, Sub): with LLaMA's 32000-token
 * vocabulary these are the largest tensors of a step.
 */
export function tokenNll (logits: Value, labels: Value, valid: Value): Value {
  const logp = op.logSoftmax(logits, -1)
  const nll = op.mul(op.neg(op.reshape(op.gatherElements(logp, labels, 1), [-1])), valid) // (N)
  return op.composite('TokenNLL', [logits], nll, (g) => {
    const w = op.unsqueeze(op.mul(g, valid), [1]) // (N, 1)
    const scaled = op.mul(op.exp(logp), w)
    return [logits.graph.apply('ScatterElements', [scaled, labels, op.neg(w)], { axis: 1, reduction: 'add' }, {})[0]!]
  })
}

/**
 * Rotate-half rotary embedding on ONNX's RotaryEmbedding op (opset 23), x 3-D [B, T, heads*hd], cos/sin caches
 * [maxPos, hd/2] (any common factor folded in, e.g. the softmax scale). Per pair (x1, x2) it applies
 * [[c, -s], [s, c]]; its adjoint [[c, s], [-s, c]] is the same op with -sin, so the backward is one node too
 * (instead of the broadcast Mul/MatMul/Add chain of the standard-op rope, forward and back).
 */
export function rotaryEmbedding (x: Value, cos: Value, sin: Value, positions: Value, heads: number): Value {
  const y = op.rotaryEmbedding(x, cos, sin, positions, heads)
  return op.composite('RotaryEmbedding', [x], y, (g) => [op.rotaryEmbedding(g, cos, op.neg(sin), positions, heads)])
}

/**
 * Softmax attention o = P v with P = probs(q k^T), where `probs` maps the scores [.., Tq, S] to row-softmax
 * weights of the same shape (the caller adds its mask and takes Softmax over the last axis; the mask gets no
 * gradient). q [.., Tq, hd], k and v [.., S, hd]. Backward, with dO = g:
 *   dv = P^T dO,   dP = dO v^T,   dS = P (dP - D) with D = rowsum(dP P) = rowsum(dO o),   dq = dS k,   dk = dS^T q.
 * D from dO and o costs a pass over [.., Tq, hd] instead of two over the [.., Tq, S] scores (FlashAttention's
 * identity), so the score-sized backward is one MatMul, a Sub, a Mul and the two MatMuls out.
 */
export function softmaxAttention (q: Value, k: Value, v: Value, probs: (scores: Value) => Value): Value {
  const swap = (x: Value): Value => op.transpose(x, [...Array(x.rank - 2).keys(), x.rank - 1, x.rank - 2])
  const p = probs(op.matmul(q, swap(k)))
  const o = op.matmul(p, v)
  return op.composite('SoftmaxAttention', [q, k, v], o, (g, [nq, nk, nv]) => {
    let ds: Value | undefined
    if (nq || nk) {
      const d = op.reduceSum(op.mul(g, o), [-1], true) // [.., Tq, 1]
      ds = op.mul(p, op.sub(op.matmul(g, swap(v)), d))
    }
    return [
      nq ? op.matmul(ds!, k) : undefined,
      nk ? op.matmul(swap(ds!), q) : undefined,
      nv ? op.matmul(swap(p), g) : undefined
    ]
  })
}

export interface FusedAttentionShape { readonly qHeads: number, readonly kvHeads: number, readonly headDim: number }

/**
 * Query blocks of causal self-attention over one sequence (T = S): block c holds query rows [b_c, b_c+1) with
 * b_c = floor(c T / chunks), computed at run time (T is dynamic), and its slice of the additive mask (last two
 * axes [T, T]) over the keys it can see, [0, b_c+1). Built once per graph and shared by every layer.
 */
export interface CausalChunks {
  readonly chunks: number
  readonly T: Value
  readonly bounds: readonly Value[]
  readonly masks: readonly Value[]
}

export function planCausalChunks (T: Value, mask: Value, chunks: number): CausalChunks {
  const g = T.graph
  const inner = Array.from({ length: chunks - 1 }, (_, c) => op.div(op.mul(T, g.int64s([c + 1])), g.int64s([chunks])))
  const bounds = [g.int64s([0]), ...inner, T]
  const masks = Array.from({ length: chunks }, (_, c) => {
    const rows = op.sliceDynamic(mask, bounds[c]!, bounds[c + 1]!, mask.rank - 2, `T${c}/${chunks}`)
    return op.sliceDynamic(rows, bounds[0]!, bounds[c + 1]!, mask.rank - 1, `S${c}/${chunks}`)
  })
  return { chunks, T, bounds, masks }
}

/** Block c's query rows [b_c, b_c+1) along `axis`, and the keys it sees, [0, b_c+1) along axis 1. */
const blockQueries = (p: CausalChunks, x: Value, c: number, axis = 1): Value =>
  op.sliceDynamic(x, p.bounds[c]!, p.bounds[c + 1]!, axis, `T${c}/${p.chunks}`)
const blockKeys = (p: CausalChunks, x: Value, c: number): Value =>
  op.sliceDynamic(x, p.bounds[0]!, p.bounds[c + 1]!, 1, `S${c}/${p.chunks}`)

/**
 * Forward-only causal self-attention in query blocks (planCausalChunks) on ONNX's Attention op (opset 23), block c
 * attending only to the keys up to its last row: (chunks + 1) / (2 chunks) of the whole square's work (stories260K
 * eval forward 20.4 -> 16.6 ms with 4 blocks). q, k, v [B, T, heads*hd] as for ops.attention (which applies the
 * softmax scale); T >= chunks.
 */
export function causalAttentionBlocks (q: Value, k: Value, v: Value, plan: CausalChunks, o: FusedAttentionShape):
Value {
  return op.concat(plan.masks.map((m, c) => op.attention(blockQueries(plan, q, c), blockKeys(plan, k, c),
    blockKeys(plan, v, c), m, undefined, { ...o, totalSeq: `S${c}/${plan.chunks}` }).y), 1)
}

/**
 * Self-attention on ONNX's fused Attention op (opset 23) in query blocks (planCausalChunks), block c attending
 * only to the keys up to its last row: with causal masks the score-sized work (the Attention op, its softmax
 * weights, the backward's MatMuls and Mul) shrinks to (chunks + 1) / (2 chunks) of the full square; one block is
 * plain attention under any additive mask. q, k, v [B, T, heads*hd] (the softmax scale folded into q); T >=
 * chunks (an empty block is an error in ORT's Attention: the train graph's callers keep T >= chunks, see
 * ATTENTION_CHUNKS). No KV cache; float32 (ORT's CPU Attention has no float64 kernel).
 * Each block's forward is the Attention op, which also returns the softmax weights P (qk_matmul_output_mode 3)
 * and the keys and values in head layout; the backward is softmaxAttention's, with grouped-query heads folded
 * into the query axis (heads h = j*G + g share kv head j). The head-layout moves happen once per layer rather
 * than per block: [dO, -D] and q go to the grouped layout [B, kv, G, T, *] once and each block slices its rows;
 * the blocks' dq are concatenated and the key and value gradients (as [B, kv, hd, S_c], padded to T and summed)
 * go back to [B, T, heads*hd] by one Transpose each.
 */
export function chunkedCausalAttention (q: Value, k: Value, v: Value, plan: CausalChunks, o: FusedAttentionShape):
Value {
  const { chunks, bounds, masks } = plan
  const { qHeads, kvHeads: kv, headDim: hd } = o
  const G = qHeads / kv
  const g = q.graph
  const blocks = masks.map((m, c) => op.attentionWithProbs(blockQueries(plan, q, c), blockKeys(plan, k, c),
    blockKeys(plan, v, c), m, { qHeads, kvHeads: kv, headDim: hd, totalSeq: `S${c}/${chunks}`, scale: 1 }))
  const y = op.concat(blocks.map((b) => b.y), 1)
  return op.composite('ChunkedCausalAttention', [q, k, v], y, (gy, [nq, nk, nv]) => {
    const swap = (x: Value): Value => op.transpose(x, [0, 1, 3, 2])
    // [B, T, qHeads*hd] -> [B, T, kv, G, w]; the grouped layout [B, kv, G, T, w] puts query head h = j*G + g's rows
    // under kv head j, so that a block's rows reshape to [B, kv, G*T_c, w] for one batched MatMul per kv head
    const split5 = (x: Value, w: number): Value => op.reshape(x, [0, 0, kv, G, w])
    const grouped = (x5: Value): Value => op.transpose(x5, [0, 2, 3, 1, 4])
    // D = rowsum(dO o) per query head; [dO, -D] turns dP - D into one MatMul against [v, 1] (a column more on the
    // small operands instead of a Sub pass over the scores)
    const d = op.reduceSum(split5(op.mul(gy, y), hd), [4], true) // [B, T, kv, G, 1]
    const dOD = grouped(op.concat([split5(gy, hd), op.neg(d)], 4)) // [B, kv, G, T, hd + 1]
    const qg = nk ? grouped(split5(q, hd)) : undefined // [B, kv, G, T, hd]
    const dqs: Value[] = []
    const dks: Value[] = []
    const dvs: Value[] = []
    // Block c's rows start where block c-1's keys end, a bound read off the shapes of block c-1's gradients: the
    // data dependency makes ORT (which orders nodes by a depth-first walk back from the outputs) finish each
    // block's score-sized work while its P and dS are in cache, where it had left every block's dk and dv for after
    // the last dq (stories260K train step -6%)
    let start = bounds[0]!
    const rowsAfter = (x: Value, c: number, axis: number): Value =>
      op.sliceDynamic(x, start, bounds[c + 1]!, axis, `T${c}/${chunks}`)
    const blockRows = (x: Value, c: number, w: number): Value => // [B, kv, G*T_c, w]
      op.reshape(rowsAfter(x, c, 3), [0, 0, -1, w])
    blocks.forEach((b, c) => {
      const P = b.probs // [B, qHeads, T_c, S_c]
      // (ORT 1.30 refuses the constant dims [0, kv, -1, 0]: "product of 0 in combination with -1")
      const p = op.reshapeLike(P, op.concat([op.shapeSlice(P, 0, 1), g.int64s([kv, -1]), op.shapeSlice(P, 3, 4)], 0),
        [P.shape[0]!, kv, 'GT', P.shape[3]!]) // [B, kv, G*T_c, S_c]
      const dODc = blockRows(dOD, c, hd + 1)
      if (nv) {
        // dv^T = dO^T P with the score-sized operand untransposed (MLAS packs it as B). dO sliced off [dO, -D]
        // rather than the product's extra row dropped later: 9 rows cost MLAS half as much again as 8
        dvs.push(op.matmul(swap(op.slice(dODc, [0], [hd], [3])), p)) // [B, kv, hd, S_c]
      }
      if (nq || nk) {
        const V = b.value
        const v1 = g.apply('Pad', [V, g.int64s([0, 0, 0, 0, 0, 0, 0, 1]), g.scalar(1, V.dtype)], {}, {})[0]! // [v, 1]
        const ds = op.mul(p, op.matmul(dODc, swap(v1))) // [B, kv, G*T_c, S_c]
        if (nq) dqs.push(op.reshape(op.matmul(ds, b.key), [0, 0, G, -1, hd])) // [B, kv, G, T_c, hd]
        if (nk) dks.push(op.matmul(swap(blockRows(qg!, c, hd)), ds)) // [B, kv, hd, S_c]
      }
      // ORT walks a node's inputs from the most recently created one: dq's bound (made last) first, so the block
      // runs ds, dq, dk, then dv
      const ends: Value[] = []
      if (nv) ends.push(op.shapeSlice(dvs[c]!, 3, 4))
      if (nk) ends.push(op.shapeSlice(dks[c]!, 3, 4))
      if (nq) ends.push(op.add(start, op.shapeSlice(dqs[c]!, 3, 4)))
      start = ends.length === 1 ? ends[0]! : g.apply('Max', ends, {}, {})[0]! // (the composite asks for some gradient)
    })
    // block c's key/value gradient covers keys [0, b_c+1): pad it with zeros to T (the last block needs none; after
    // it `start` is T, and taking it from there keeps the sums after the last block's work)
    const padded = (x: Value, c: number): Value => c === chunks - 1
      ? x
      : g.apply('Pad', [x, op.concat([g.int64s([0, 0, 0, 0, 0, 0, 0]), op.sub(start, bounds[c + 1]!)], 0)], {}, {})[0]!
    const summed = (parts: Value[]): Value => parts.map(padded).reduce((a, b) => op.add(a, b)) // [B, kv, w, T]
    const toTokens = (x: Value): Value =>
      op.reshapeTo(op.transpose(x, [0, 3, 1, 2]), [0, 0, kv * hd], [q.shape[0]!, q.shape[1]!, kv * hd])
    return [
      nq ? op.reshapeTo(op.transpose(op.concat(dqs, 3), [0, 3, 1, 2, 4]), [0, 0, qHeads * hd], q.shape) : undefined,
      nk ? toTokens(summed(dks)) : undefined,
      nv ? toTokens(summed(dvs)) : undefined
    ]
  })
}
