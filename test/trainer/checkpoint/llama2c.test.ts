import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { llama2cLayout, loadLlama2c, permuteRotary } from '../../../trainer/checkpoint/llama2c.ts'
import { CheckpointError } from '../../../trainer/checkpoint/errors.ts'

const MODEL = new URL('../../../assets/stories260K/stories260K.bin', import.meta.url).pathname

test('loads stories260K with its header and shared classifier', () => {
  const ck = loadLlama2c(MODEL)
  assert.deepEqual({ ...ck.config }, { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512,
    maxSeqLen: 512, normEps: 1e-5, ropeTheta: 10000, tiedEmbeddings: true, bosId: 1, eosId: 2 })
  assert.deepEqual(ck.weights.get('model.layers.4.self_attn.k_proj.weight')!.shape, [32, 64])
  assert.equal(ck.weights.has('lm_head.weight'), false)
  assert.equal(ck.weights.size, 1 + 5 * 9 + 1)
})

test('llama2cLayout: the header alone gives loadLlama2c\'s config, shapes and types, and the same checks', () => {
  const ck = loadLlama2c(MODEL)
  const layout = llama2cLayout(MODEL)
  assert.deepEqual(layout.config, ck.config)
  const listed = (m: typeof layout.weights): string[] =>
    [...m].map(([n, r]) => `${n} [${r.shape.join(',')}] ${r.dtype}`).sort()
  assert.deepEqual(listed(layout.weights), listed(ck.weights))
  const cut = join(mkdtempSync(join(tmpdir(), 'fedit-l2c-')), 'cut.bin')
  writeFileSync(cut, readFileSync(MODEL).subarray(0, 1000))
  assert.throws(() => llama2cLayout(cut), /truncated/)
})

test('rotary permutation is a bijection and its inverse undoes it', () => {
  const w = Float32Array.from({ length: 4 * 8 * 3 }, (_, i) => i)
  const p = permuteRotary(w, 4, 3)
  assert.notDeepEqual(p, w)
  assert.deepEqual(permuteRotary(p, 4, 3, true), w)
  // head 0, row 1 of the split layout is interleaved row 2
  assert.deepEqual([...p.subarray(3, 6)], [6, 7, 8])
})

test('a truncated, padded or nonsense checkpoint gets a one-line reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-l2c-'))
  const bytes = readFileSync(MODEL)
  const cut = join(dir, 'cut.bin'); writeFileSync(cut, bytes.subarray(0, bytes.length - 100))
  assert.throws(() => loadLlama2c(cut), (e: Error) => e instanceof CheckpointError && /truncated/.test(e.message) &&
    !e.message.includes('\n'))
  const pad = join(dir, 'pad.bin'); writeFileSync(pad, Buffer.concat([bytes, Buffer.alloc(8)]))
  assert.throws(() => loadLlama2c(pad), /trailing data or wrong header/)
  const junk = join(dir, 'junk.bin'); writeFileSync(junk, Buffer.from('hello world, not a model at all'))
  assert.throws(() => loadLlama2c(junk), /header/)
  assert.throws(() => loadLlama2c(join(dir, 'missing.bin')), /cannot read/)
})
