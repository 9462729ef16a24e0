// Composite ops: a forward built from standard ONNX ops and a hand-written backward, side by side. Autodiff
// through the pieces would be correct but wasteful (a [tokens, hidden] pass per elementary op); these
// backwards reuse what the forward already computed and use fewer full-size passes. Each one has its own
// float64 gradient check in test/trainer/graph/ops.test.ts.
import type { Value } from './graph.ts'
import * as op from './ops.ts'
import { sumTo } from './rules.ts'

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
 * xr = x r and gw = g w (D = size of the last axis):
 *   dx = r (gw - xr mean(gw xr)),   dw = sum over rows of g xr.
 * Five full-size passes for dx instead of the eight that autodiff through Mul/ReduceMean/Sqrt/Reciprocal makes
 * (it also expands the [rows, 1] gradient back over the row).
 */
export function rmsNorm (x: Value, w: Value, eps: number): Value {
  const ms = op.reduceMean(op.mul(x, x), [-1], true) // [.., 1]
  const r = op.reciprocal(op.sqrt(op.add(ms, eps)))
  const xr = op.mul(x, r)
  const y = op.mul(xr, w)
  return op.composite('RMSNorm', [x, w], y, (g, [nx, nw]) => {
    let dx: Value | undefined
    if (nx) {
      const gw = op.mul(g, w)
      const dot = op.reduceMean(op.mul(gw, xr), [-1], true) // [.., 1]
      dx = op.mul(op.sub(gw, op.mul(xr, dot)), r)
    }
    return [dx, nw ? sumTo(op.mul(g, xr), w) : undefined]
  })
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
