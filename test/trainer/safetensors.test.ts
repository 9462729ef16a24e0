import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encodeSafetensors, decodeSafetensors, parseSafetensorsHeader, float32ToFloat16, float16ToFloat32,
  SafetensorsError } from '../../trainer/safetensors.ts'
import { tensor } from '../../trainer/tensor.ts'

test('safetensors round trip (F32) is exact and deterministic', () => {
  const m = new Map([['b', tensor([2, 3], Float32Array.from([1, 2, 3, 4, 5, -6.5]))],
    ['a', tensor([1], Float32Array.of(0.25))]])
  const bytes = encodeSafetensors(m, { format: 'pt' })
  assert.deepEqual(encodeSafetensors(new Map([...m].reverse())), encodeSafetensors(m))
  const { tensors, metadata } = decodeSafetensors(bytes)
  assert.equal(metadata.format, 'pt')
  assert.deepEqual([...tensors.get('b')!.data], [1, 2, 3, 4, 5, -6.5])
  assert.deepEqual(tensors.get('b')!.shape, [2, 3])
  assert.equal((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 8, 0)
})

test('safetensors F16 round trip keeps representable values', () => {
  const vals = Float32Array.from([0, 1, -2, 0.5, 65504, 1e-7, 3.140625])
  const { tensors } = decodeSafetensors(encodeSafetensors(new Map([['x', tensor([7], vals)]]), {}, 'F16'))
  const got = tensors.get('x')!.data
  for (let i = 0; i < vals.length; i++) {
    assert.ok(Math.abs(got[i]! - vals[i]!) <= Math.abs(vals[i]!) * 1e-3 + 6e-8, `${got[i]} vs ${vals[i]}`)
  }
  assert.equal(float16ToFloat32(float32ToFloat16(1 / 3)), 0.333251953125)
})

test('truncated or inconsistent safetensors are rejected with a reason', () => {
  const bytes = encodeSafetensors(new Map([['x', tensor([4], Float32Array.from([1, 2, 3, 4]))]]))
  assert.throws(() => parseSafetensorsHeader(bytes, bytes.length - 4), SafetensorsError)
  assert.throws(() => decodeSafetensors(bytes.subarray(0, 6)), /too short/)
  const bad = bytes.slice(); bad[0] = 0xff; bad[5] = 0x7f
  assert.throws(() => decodeSafetensors(bad), /header length/)
})

test('decoding from a Node Buffer (e.g. readFileSync, pooled, non-zero byteOffset) reads the right bytes', () => {
  const t = new Map([['w', { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 4, 5, 6]) }]])
  const bytes = encodeSafetensors(t)
  const inPool = Buffer.concat([Buffer.alloc(13), Buffer.from(bytes)]).subarray(13)
  assert.deepEqual(decodeSafetensors(inPool).tensors.get('w')!.data, t.get('w')!.data)
})
