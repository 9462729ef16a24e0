// Forward and forward+backward time of LLaMA-7B-shaped decoder blocks (hidden 4096, 32 heads, MLP 11008,
// sequence 512, batch 1), random frozen fp32 weights kept as ONNX external data in a temp file, gradient with
// respect to the block input only; against plain ONNX MatMuls timed in the same run.
//
// Fairness rules (each one fixed a way the figures could flatter us):
// - The forward+backward graph outputs the blocks' output y AND dx: a training step needs the loss, so the last
//   projection's forward is computed (with dx alone, ORT would prune it: ~46 GFLOP of the count never run).
// - matmulPeakGflops is the best of several warmed GEMMs (the block's own MLP shapes and a square one), each a
//   chain of two MatMuls on constant (prepacked) weights so the output copied back to JS stays as small as the
//   block's, timed interleaved with the block runs, with the same thread count.
// - FLOPs are model FLOPs: linears 2*params*tokens; attention 4*T*S*dim per layer (QK^T and PV over the full
//   T x S score matrix, which is what the graph computes: the causal mask is added, not skipped).
//   Backward to the input only: 1x the linears (dX, no dW) and 2x attention (dQ, dK, dV, dP).
//
// On a shared machine wall time of multi-threaded runs is mostly other people's load. `--threads 1 --clock cpu`
// times each run by this process's CPU time (user + system) on one intra-op thread: no spinning, no waiting for a
// descheduled thread, so it measures the work itself and stays comparable under load.
// Usage: npm run bench -- forward-backward [--layers N] [--seq T] [--reps R] [--threads K] [--clock wall|cpu]
import ort from 'onnxruntime-node'
import { Graph } from '../trainer/graph/graph.ts'
import type { Value } from '../trainer/graph/graph.ts'
import { gradients } from '../trainer/graph/autodiff.ts'
import * as op from '../trainer/graph/ops.ts'
import { weight } from '../trainer/graph/weights.ts'
import { createSession } from '../trainer/graph/session.ts'
import type { LinearModule, LlamaConfig, WeightRef } from '../trainer/model/config.ts'
import { LINEAR_MODULES } from '../trainer/model/config.ts'
import type { LayerWeights } from '../trainer/model/llama-graph.ts'
import { block, makeContext, ropeTables } from '../trainer/model/llama-graph.ts'
import { createWeightFile, fillRandom } from './lib/random-weights.ts'
import { clockFlag, median, numberFlag } from './lib/args.ts'

const layers = numberFlag('layers', 1)
const T = numberFlag('seq', 512)
const reps = numberFlag('reps', 5)
const threads = numberFlag('threads', 0)
const { clock, now } = clockFlag()
const c: LlamaConfig = {
  dim: 4096, hiddenDim: 11008, nLayers: layers, nHeads: 32, nKvHeads: 32, vocabSize: 32000, maxSeqLen: 4096,
  normEps: 1e-5, ropeTheta: 10000, tiedEmbeddings: false, bosId: 1, eosId: 2
}

// ---- random weights in a file, referenced as external data ---------------------------------------------
const weights = createWeightFile()
const put = weights.put
const refs = weights.blocks(c, layers)
// reference GEMMs: [T, dim] x [dim, hidden] x [hidden, dim] (the MLP's shapes) and [S, S] x [S, S] x [S, S]
const SQ = 2048
const mmUp = put([c.dim, c.hiddenDim], 1 / Math.sqrt(c.dim))
const mmDown = put([c.hiddenDim, c.dim], 1 / Math.sqrt(c.hiddenDim))
const sq1 = put([SQ, SQ], 1 / Math.sqrt(SQ))
const sq2 = put([SQ, SQ], 1 / Math.sqrt(SQ))
weights.close()

// ---- graphs ----------------------------------------------------------------------------------------------
function blockGraph (backward: boolean): ReturnType<Graph['toModel']> {
  const g = new Graph('float32')
  const ids = g.input('input_ids', 'int64', ['B', 'T']) // shape source only
  const mask = g.input('attention_mask', 'int64', ['B', 'T'])
  const x = g.input('x', 'float32', ['N', c.dim])
  const [cos, sin] = ropeTables(g, c)
  const ctx = makeContext(c, { cos, sin }, { inputIds: ids, attentionMask: mask })
  let h: Value = x
  refs.forEach((r, l) => {
    const lw: LayerWeights = {
      attnNorm: weight(g, `l${l}.attn_norm`, r.attnNorm),
      mlpNorm: weight(g, `l${l}.mlp_norm`, r.mlpNorm),
      linear: Object.fromEntries(LINEAR_MODULES.map((m) => [m,
        weight(g, `l${l}.${m}`, r.linear[m])])) as Record<LinearModule, Value>
    }
    h = block(ctx, h, lw, l).out
  })
  if (!backward) return g.toModel({ y: h })
  const dy = g.input('dy', 'float32', ['N', c.dim])
  const [dx] = gradients(h, [x], dy)
  return g.toModel({ y: h, dx: dx! })
}
function matmulGraph (rows: number, a: WeightRef, b: WeightRef): ReturnType<Graph['toModel']> {
  const g = new Graph('float32')
  const x = g.input('x', 'float32', [rows, a.shape[0]!])
  return g.toModel({ y: op.matmul(op.matmul(x, weight(g, 'a', a)), weight(g, 'b', b)) })
}

/** Times several sessions with their runs interleaved, so a burst of load from elsewhere hits all alike. */
async function timeAll (
  jobs: Array<{ model: ReturnType<Graph['toModel']>, feeds: Record<string, ort.Tensor> }>
): Promise<number[]> {
  const sessions = []
  for (const j of jobs) {
    const s = await createSession(j.model, { threads })
    await s.run(j.feeds) // warm-up
    sessions.push(s)
  }
  const times = jobs.map((): number[] => [])
  for (let i = 0; i < reps; i++) {
    for (let k = 0; k < jobs.length; k++) {
      const t0 = now()
      await sessions[k]!.run(jobs[k]!.feeds)
      times[k]!.push(now() - t0)
    }
  }
  for (const s of sessions) await s.release()
  return times.map(median)
}

try {
  const N = T
  const xs = new Float32Array(N * c.dim)
  fillRandom(xs, 1)
  const dys = new Float32Array(N * c.dim)
  fillRandom(dys, 1)
  const base = {
    input_ids: new ort.Tensor('int64', new BigInt64Array(T), [1, T]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(T).fill(1n), [1, T]),
    x: new ort.Tensor('float32', xs, [N, c.dim])
  }
  const sqx = new Float32Array(SQ * SQ)
  fillRandom(sqx, 1)
  const [mlpMs, sqMs, forwardMs, forwardBackwardMs] = await timeAll([
    { model: matmulGraph(T, mmUp, mmDown), feeds: { x: new ort.Tensor('float32', xs, [T, c.dim]) } },
    { model: matmulGraph(SQ, sq1, sq2), feeds: { x: new ort.Tensor('float32', sqx, [SQ, SQ]) } },
    { model: blockGraph(false), feeds: base },
    { model: blockGraph(true), feeds: { ...base, dy: new ort.Tensor('float32', dys, [N, c.dim]) } }
  ]) as [number, number, number, number]
  const peak = Math.max(2 * 2 * T * c.dim * c.hiddenDim / (mlpMs * 1e6), 2 * 2 * SQ * SQ * SQ / (sqMs * 1e6))
  const kv = c.nKvHeads * (c.dim / c.nHeads)
  const linear = 2 * N * (2 * c.dim * c.dim + 2 * kv * c.dim + 3 * c.dim * c.hiddenDim) // per layer
  const attn = 4 * N * T * c.dim // QK^T and PV over the full T x S scores, per layer (no causal skipping)
  const flops = layers * (2 * linear + 3 * attn) // forward + backward to the input (dX only: 1x linear, 2x attention)
  console.log(JSON.stringify({
    bench: 'forward-backward',
    layers,
    seq: T,
    forwardMs: Math.round(forwardMs),
    forwardBackwardMs: Math.round(forwardBackwardMs),
    ratio: Number((forwardBackwardMs / forwardMs).toFixed(3)),
    matmulPeakGflops: Number(peak.toFixed(1)),
    achievedGflops: Number((flops / (forwardBackwardMs * 1e6)).toFixed(1)),
    achievedOfPeak: Number((flops / (forwardBackwardMs * 1e6) / peak).toFixed(3)),
    forwardGflops: Number((layers * (linear + attn) / (forwardMs * 1e6)).toFixed(1)),
    threads: threads > 0 ? threads : 'default',
    clock,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024)
  }))
} finally {
  weights.cleanup()
}
