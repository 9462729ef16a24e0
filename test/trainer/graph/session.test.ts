// Session helper and model emission: devices that are absent fail with one clear line; external weight files
// (F32/F16/BF16 at byte offsets, reached through a symlink from another folder, or staged as hardlinks) load in
// place; toModel's node order.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ort from 'onnxruntime-node'
import { Graph, op } from '../../../trainer/graph/index.ts'
import { checkDevice, createSession } from '../../../trainer/graph/session.ts'
import { onnx } from '../../../trainer/graph/onnx-proto.ts'
import { stageWeightFiles, weight } from '../../../trainer/graph/weights.ts'
import { float16ToFloat32, float32ToBfloat16, float32ToFloat16 } from '../../../trainer/safetensors.ts'
import type { LlamaCheckpoint, WeightDtype, WeightRef } from '../../../trainer/model/config.ts'

const tiny = (): ReturnType<Graph['toModel']> => {
  const g = new Graph()
  return g.toModel({ y: op.neg(g.input('x', 'float32', [2])) })
}

test('an absent CUDA provider is a one-line DeviceUnavailableError', async () => {
  assert.throws(() => checkDevice('cuda'), (e: Error) => e.name === 'DeviceUnavailableError' &&
    /cuda/.test(e.message) && !e.message.includes('\n'))
  await assert.rejects(createSession(tiny(), { device: 'cuda' }), { name: 'DeviceUnavailableError' })
  assert.throws(() => checkDevice('tpu' as 'cpu'), { name: 'DeviceUnavailableError' })
})

test('F32/F16/BF16 weights as external data, through a symlink and as staged hardlinks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-ext-'))
  try {
    const K = 4
    const M = 3
    const w = Float32Array.from({ length: K * M }, (_, i) => (i - 5) / 7)
    const bf = Uint16Array.from(w, float32ToBfloat16)
    const h = Uint16Array.from(w, float32ToFloat16)
    const bytes = new Uint8Array(6 + 48 + 24 + 24) // an odd header size: unaligned offsets must work
    bytes.set(new Uint8Array(w.buffer), 6)
    bytes.set(new Uint8Array(h.buffer), 54)
    bytes.set(new Uint8Array(bf.buffer), 78)
    mkdirSync(join(dir, 'blobs'))
    mkdirSync(join(dir, 'snapshot'))
    writeFileSync(join(dir, 'blobs', 'abc123'), bytes)
    const link = join(dir, 'snapshot', 'model.safetensors')
    symlinkSync(join('..', 'blobs', 'abc123'), link) // the Hugging Face cache layout
    const ref = (dtype: WeightDtype, offset: number, len: number,
      path = link): WeightRef => ({ shape: [M, K], dtype, source: { kind: 'file', path, offset, byteLength: len } })
    const ckpt: LlamaCheckpoint = {
      config: undefined as never,
      origin: dir,
      weights: new Map([['w32', ref('F32', 6, 48)], ['w16', ref('F16', 54, 24)], ['wbf', ref('BF16', 78, 24)]])
    }
    const run = async (c: LlamaCheckpoint): Promise<Record<string, Float32Array>> => {
      const g = new Graph()
      const x = g.input('x', 'float32', [1, K])
      const outs = Object.fromEntries([...c.weights].map(([n, r]) => [`y_${n}`,
        op.gemm(x, weight(g, n, r), { transB: true })]))
      const s = await createSession(g.toModel(outs))
      const r = await s.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [1, K]) })
      await s.release()
      return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, t.data as Float32Array]))
    }
    const ref32 = (vals: ArrayLike<number>): number[] => Array.from({ length: M }, (_, m) => [0, 1, 2, 3]
      .reduce((a, k) => a + vals[m * K + k]! * (k + 1), 0))
    const check = (r: Record<string, Float32Array>): void => {
      const close = (a: ArrayLike<number>, b: number[]): boolean => b.every((v, i) => Math.abs(a[i]! - v) < 1e-5)
      assert.ok(close(r.y_w32!, ref32(w)), 'F32')
      assert.ok(close(r.y_w16!, ref32(Array.from(h, float16ToFloat32))), 'F16')
      assert.ok(close(r.y_wbf!, ref32(Array.from(bf, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]!))),
        'BF16')
    }
    check(await run(ckpt))
    const staged = stageWeightFiles(ckpt, join(dir, 'staged'), 'hardlink')
    const stagedPath = (staged.weights.get('w32')!.source as { path: string }).path
    assert.equal(statSync(stagedPath).nlink, 2) // a hardlink, not a copy
    check(await run(staged))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('toModel lists the leaves (nodes no other node reads) last, newest first, so ORT runs them in creation order',
  async () => {
  const g = new Graph()
  const x = g.input('x', 'float32', [3])
  const a = op.neg(x)
  const first = op.exp(a) // a leaf made early: the first layer's gradient of a backward, say
  const b = op.sqrt(op.mul(a, a))
  const second = op.neg(b) // a leaf made later
  const model = g.toModel({ first, second })
  const ops = onnx.ModelProto.decode(model.bytes).graph!.node!.map((n) => n.opType)
  assert.deepEqual(ops, ['Neg', 'Mul', 'Sqrt', 'Neg', 'Exp'])
  const s = await createSession(model)
  const out = await s.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3), [3]) })
  assert.deepEqual([...out.second!.data as Float32Array].map((v) => Math.round(v * 1e4) / 1e4), [-1, -2, -3])
  await s.release()
})
