// Every op's backward rule against central finite differences of the float64 graph.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import ort from 'onnxruntime-node'
import { Graph, gradients, op } from '../../../trainer/graph/index.ts'
import { createSession } from '../../../trainer/graph/session.ts'
import type { Value } from '../../../trainer/graph/index.ts'
import { gradCheck, rand } from './gradcheck.ts'
import * as composites from '../../../trainer/graph/composites.ts'
import { rope, rotateHalfMatrix } from '../../../trainer/model/llama-graph.ts'

const TOL = 1e-6
const positive = (n: number): Float64Array => rand(n, 0.5, 1.5) // in [1, 2]
const check = (name: string, specs: Parameters<typeof gradCheck>[0], build: (...xs: Value[]) => Value, tol = TOL,
  eps = 1e-6): void => {
  test(name, async () => {
    const err = await gradCheck(specs, build, eps)
    assert.ok(err < tol, `${name}: relative gradient error ${err}`)
  })
}

// elementwise, with broadcasting in both directions and a dynamic dim
check('Add (broadcast)', [{ shape: [2, 3, 4], declared: ['b', 3, 4] }, { shape: [3, 1] }], (a, b) => op.add(a, b))
check('Sub (broadcast)', [{ shape: [3, 1] }, { shape: [2, 3, 4] }], (a, b) => op.sub(a, b))
check('Mul (broadcast)', [{ shape: [2, 3, 4] }, { shape: [4] }], (a, b) => op.mul(a, b))
check('Div (broadcast)', [{ shape: [2, 3] }, { shape: [1, 3], data: positive(3) }], (a, b) => op.div(a, b))
check('Pow (constant exponent)', [{ shape: [2, 3], data: positive(6) }], (a) => op.pow(a, 2.5))
check('Pow (tensor exponent)', [{ shape: [2, 3], data: positive(6) }, { shape: [3] }], (a, b) => op.powv(a, b))
check('Neg', [{ shape: [5] }], (a) => op.neg(a))
check('Sqrt', [{ shape: [2, 3], data: positive(6) }], (a) => op.sqrt(a))
check('Reciprocal', [{ shape: [2, 3], data: positive(6) }], (a) => op.reciprocal(a))
check('Exp', [{ shape: [2, 3] }], (a) => op.exp(a))
check('Log', [{ shape: [2, 3], data: positive(6) }], (a) => op.log(a))
check('Tanh', [{ shape: [2, 3] }], (a) => op.tanh(a))
check('Sigmoid', [{ shape: [2, 3] }], (a) => op.sigmoid(a))
check('Where (masking, broadcast)', [{ shape: [2, 3] }, { shape: [3] },
  { shape: [2, 3], dtype: 'bool', data: Uint8Array.from([1, 0, 1, 0, 0, 1]) }],
  (a, b, c) => op.where(c, a, b))
check('Cast (float64 -> float32 -> float64)', [{ shape: [4] }],
  (a) => op.cast(op.mul(op.cast(a, 'float32'), op.cast(a, 'float32')), 'float64'),
  1e-3, 1e-3) // float32 in the middle: a coarser step and tolerance
check('Identity', [{ shape: [3] }], (a) => op.identity(a))

// linear algebra
check('MatMul (batched)', [{ shape: [2, 3, 4], declared: ['b', 't', 4] }, { shape: [2, 4, 5] }],
  (a, b) => op.matmul(a, b))
check('MatMul (broadcast batch)', [{ shape: [2, 2, 3, 4] }, { shape: [2, 1, 4, 5] }], (a, b) => op.matmul(a, b))
check('MatMul (2-D weight)', [{ shape: [2, 3, 4] }, { shape: [4, 5] }], (a, b) => op.matmul(a, b))
for (const transA of [false, true]) {
  for (const transB of [false, true]) {
    check(`Gemm transA=${transA} transB=${transB} alpha=1.5`,
      [{ shape: transA ? [4, 3] : [3, 4] }, { shape: transB ? [5, 4] : [4, 5] }],
      (a, b) => op.gemm(a, b, { transA, transB, alpha: 1.5 }))
  }
}

// reductions and softmax
check('ReduceSum (keepdims)', [{ shape: [2, 3, 4], declared: ['b', 't', 4] }], (a) => op.reduceSum(a, [1], true))
check('ReduceSum (no keepdims)', [{ shape: [2, 3, 4] }], (a) => op.reduceSum(a, [0, 2], false))
check('ReduceMean (static)', [{ shape: [2, 3, 4] }], (a) => op.reduceMean(a, [-1], true))
check('ReduceMean (dynamic dim)', [{ shape: [2, 3, 4], declared: ['b', 't', 4] }], (a) => op.reduceMean(a, [1], false))
check('Softmax', [{ shape: [2, 5] }], (a) => op.softmax(a, -1))
check('Softmax (axis 1 of 3)', [{ shape: [2, 3, 2] }], (a) => op.softmax(a, 1))
check('LogSoftmax', [{ shape: [3, 5] }], (a) => op.logSoftmax(a, -1))

// shape ops
check('Reshape', [{ shape: [2, 3, 4], declared: ['b', 3, 4] }],
  (a) => op.mul(op.reshape(a, [0, 12]), op.reshape(a, [0, -1])))
check('Transpose', [{ shape: [2, 3, 4] }], (a) => op.matmul(op.transpose(a, [0, 2, 1]), a))
check('Unsqueeze / Squeeze', [{ shape: [3, 4] }], (a) => op.mul(op.unsqueeze(a, [0]),
  op.squeeze(op.unsqueeze(a, [1]), [1])))
check('Expand', [{ shape: [3, 1] }, { shape: [2, 3, 4] }], (a, b) => op.mul(op.expand(a, op.shapeOf(b), b.shape), b))
check('Concat', [{ shape: [2, 3] }, { shape: [2, 2] }], (a, b) => op.concat([a, b, a], 1))
check('Slice (static, negative start)', [{ shape: [2, 6] }], (a) => op.slice(a, [1, -4], [2, -1], [0, 1]))
check('Slice (dynamic axis, to the end)', [{ shape: [2, 6], declared: ['b', 6] }],
  (a) => op.slice(a, [1, 2], [2 ** 31 - 1, 2 ** 31 - 1], [0, 1]))
check('Gather (rows, axis 0)', [{ shape: [5, 3] },
  { shape: [2, 3], dtype: 'int64', data: BigInt64Array.from([0n, 4n, 4n, 2n, 1n, 0n]) }],
  (e, i) => op.gather(e, i, 0))
check('GatherElements (label pick)', [{ shape: [3, 4] },
  { shape: [3, 1], dtype: 'int64', data: BigInt64Array.from([3n, 0n, 2n]) }],
  (a, i) => op.gatherElements(a, i, 1))

// compositions the model uses
check('RMSNorm pieces', [{ shape: [2, 3, 4], declared: ['b', 't', 4] }, { shape: [4] }], (x, w) =>
  op.mul(op.mul(x, op.reciprocal(op.sqrt(op.add(op.reduceMean(op.mul(x, x), [-1], true), 1e-5)))), w))

// composites: hand-written backwards (a wrong one would still run, so each is checked on its own)
check('SiLU composite', [{ shape: [2, 3], declared: ['b', 3] }], (a) => composites.silu(a))
check('SiLU composite (output reused downstream)', [{ shape: [2, 3] }, { shape: [2, 3] }], (a, b) => {
  const y = composites.silu(a)
  return op.mul(op.add(y, op.sigmoid(a)), op.mul(y, b)) // the inner sigmoid also gets gradients through another use
})
check('RMSNorm composite (x and weight)', [{ shape: [2, 3, 4], declared: ['b', 't', 4] }, { shape: [4] }],
  (x, w) => composites.rmsNorm(x, w, 1e-5))
check('RMSNorm composite (x only, weight frozen)', [{ shape: [3, 4] }, { shape: [4], grad: false }],
  (x, w) => composites.rmsNorm(x, w, 1e-5))
check('TokenNLL composite (a row without a label)', [{ shape: [4, 7], declared: ['n', 7] },
  { shape: [4, 1], dtype: 'int64', data: BigInt64Array.of(3n, 0n, 6n, 0n) },
  { shape: [4], data: Float64Array.of(1, 1, 1, 0), grad: false }],
(logits, labels, valid) => composites.tokenNll(logits, labels, valid))
check('SoftmaxAttention composite (masked, q/k/v)',
  [{ shape: [2, 6, 4], declared: ['b', 6, 4] }, { shape: [2, 5, 4] }, { shape: [2, 5, 3] }], (q, k, v) => {
  const mask = q.graph.constant('float64', [6, 5], Float64Array.from({ length: 30 }, (_, i) => (i % 5) > (i / 5 | 0)
    ? -1e9 : 0))
  return composites.softmaxAttention(q, k, v, (s) => op.softmax(op.add(s, mask), -1))
})
check('SoftmaxAttention composite (v frozen, output reused)',
  [{ shape: [1, 2, 3, 4] }, { shape: [1, 2, 3, 4] }, { shape: [1, 2, 3, 4], grad: false }], (q, k, v) => {
  const o = composites.softmaxAttention(q, k, v, (s) => op.softmax(s, -1))
  return op.mul(o, op.add(q, 1))
})
test('rotate_half as a matrix equals cat(-x2, x1)', async () => {
  const g = new Graph('float64')
  const x = g.input('x', 'float64', [2, 3, 6])
  const diff = op.sub(op.matmul(x, rotateHalfMatrix(g, 6)),
    op.concat([op.neg(op.slice(x, [3], [6], [-1])), op.slice(x, [0], [3], [-1])], -1))
  const session = await createSession(g.toModel({ diff, ref: op.identity(x) }))
  const r = await session.run({ x: new ort.Tensor('float64', rand(36), [2, 3, 6]) })
  await session.release()
  assert.ok((r.ref!.data as Float64Array).some((v) => v !== 0))
  assert.ok((r.diff!.data as Float64Array).every((v) => v === 0))
})
check('RoPE (rotate-half matrix, broadcast tables)',
  [{ shape: [2, 3, 2, 4], declared: ['b', 't', 2, 4] }, { shape: [3, 1, 4], grad: false },
  { shape: [3, 1, 4], grad: false }],
  (x, cos, sin) => rope(x, cos, sin, rotateHalfMatrix(x.graph, 4)))
test('RotaryEmbedding composite (ONNX op, float32): value and gradient equal the standard-op rope', async () => {
  const [B, T, H, hd, P] = [2, 5, 3, 4, 16]
  const g = new Graph('float32')
  const x = g.input('x', 'float32', [B, T, H * hd])
  const w = g.input('w', 'float32', [B, T, H * hd])
  const cosH = g.input('cos', 'float32', [P, hd / 2])
  const sinH = g.input('sin', 'float32', [P, hd / 2])
  const pos = g.input('pos', 'int64', [B, T])
  const ours = composites.rotaryEmbedding(x, cosH, sinH, pos, H)
  // [T, 1, hd]
  const table = (h: Value): Value => op.unsqueeze(op.gather(op.concat([h, h], -1),
    op.reshape(op.slice(pos, [0], [1], [0]), [-1]), 0), [1])
  const ref = op.reshape(rope(op.reshape(x, [B, T, H, hd]), table(cosH), table(sinH), rotateHalfMatrix(g, hd)),
    [B, T, H * hd])
  const [dOurs] = gradients(op.reduceSum(op.mul(ours, w), [0, 1, 2], false), [x])
  const [dRef] = gradients(op.reduceSum(op.mul(ref, w), [0, 1, 2], false), [x])
  const session = await createSession(g.toModel({ ours, ref, dOurs: dOurs!, dRef: dRef! }, { opset: 23 }))
  const f32 = (n: number): Float32Array => Float32Array.from(rand(n))
  const r = await session.run({
    x: new ort.Tensor('float32', f32(B * T * H * hd), [B, T, H * hd]),
    w: new ort.Tensor('float32', f32(B * T * H * hd), [B, T, H * hd]),
    cos: new ort.Tensor('float32', f32(P * hd / 2), [P, hd / 2]),
    sin: new ort.Tensor('float32', f32(P * hd / 2), [P, hd / 2]),
    // offset positions
    pos: new ort.Tensor('int64', BigInt64Array.from({ length: B * T }, (_, i) => BigInt(3 + i % T)), [B, T])
  })
  await session.release()
  const maxDiff = (a: string, b: string): number => (r[a]!.data as Float32Array)
    .reduce((m, v, i) => Math.max(m, Math.abs(v - (r[b]!.data as Float32Array)[i]!)), 0)
  assert.ok(maxDiff('ours', 'ref') < 1e-5, `value ${maxDiff('ours', 'ref')}`)
  assert.ok(maxDiff('dOurs', 'dRef') < 1e-5, `gradient ${maxDiff('dOurs', 'dRef')}`)
})
