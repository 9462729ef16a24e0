import { test } from 'node:test'
import assert from 'node:assert/strict'
import { float32ToBfloat16 as bfloat16Bits, float32ToFloat16 as float16Bits } from '../../trainer/safetensors.ts'

test('fp16 and bf16 bit patterns round to nearest even, with Inf, NaN and subnormals', () => {
  const f16: Array<[number, number]> = [[1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [65520, 0x7c00],
    [1e9, 0x7c00], [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -14, 0x0400], [2 ** -26, 0], [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02], [-0, 0x8000], [1e-9 * 0, 0]]
  for (const [x, bits] of f16) assert.equal(float16Bits(x), bits, `fp16 of ${x}`)
  assert.equal(float16Bits(NaN) & 0x7c00, 0x7c00)
  assert.notEqual(float16Bits(NaN) & 0x3ff, 0)
  const bf16: Array<[number, number]> = [[1, 0x3f80], [-2, 0xc000], [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82],
    [Infinity, 0x7f80]]
  for (const [x, bits] of bf16) assert.equal(bfloat16Bits(x), bits, `bf16 of ${x}`)
  assert.equal(bfloat16Bits(NaN), 0x7fc0)
})
