// Dropout cannot be finite-differenced (a fresh mask each run): check instead that the backward uses the
// forward's own mask and scale, and that the mask sequence is fixed by the seed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import ort from 'onnxruntime-node'
import { Graph, gradients, op } from '../../../trainer/graph/index.ts'
import { createSession } from '../../../trainer/graph/session.ts'

async function build (seed: number): Promise<ort.InferenceSession> {
  const g = new Graph()
  const x = g.input('x', 'float32', [4, 64])
  const y = op.dropout(x, 0.25, seed)
  const [dx] = gradients(op.reduceSum(y, [0, 1], false), [x])
  return createSession(g.toModel({ y, dx: dx! }), { threads: 1 })
}

test('dropout: backward uses the forward mask and 1/(1-p); masks are reproducible under a seed', async () => {
  const xs = Float32Array.from({ length: 256 }, (_, i) => 1 + (i % 7))
  const feeds = { x: new ort.Tensor('float32', xs, [4, 64]) }
  const a = await build(11)
  const b = await build(11)
  const ra = await a.run(feeds)
  const rb = await b.run(feeds)
  const y = ra.y!.data as Float32Array
  const dx = ra.dx!.data as Float32Array
  let dropped = 0
  for (let i = 0; i < xs.length; i++) {
    assert.ok(dx[i] === 0 || Math.abs(dx[i]! - 1 / 0.75) < 1e-6, `dx[${i}] = ${dx[i]}`)
    assert.ok(Math.abs(y[i]! - dx[i]! * xs[i]!) < 1e-5, `y[${i}] = ${y[i]} but dx*x = ${dx[i]! * xs[i]!}`)
    if (dx[i] === 0) dropped++
  }
  assert.ok(dropped > 30 && dropped < 100, `${dropped} of 256 dropped at p = 0.25`)
  assert.deepEqual(Array.from(rb.y!.data as Float32Array), Array.from(y))
  await a.release()
  await b.release()
})
