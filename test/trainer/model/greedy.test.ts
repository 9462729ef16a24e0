// Oracle: greedy decoding of stories260K from BOS reproduces llama2.c's 256 ids.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { loadLlama2c } from '../../../trainer/checkpoint/llama2c.ts'
import { Generator } from '../../../trainer/model/generate.ts'

test('stories260K greedy decoding matches llama2.c (256 ids)', async () => {
  const ref = JSON.parse(readFileSync('assets/stories260K/greedy_reference.json', 'utf8')) as { ids: number[] }
  const ckpt = loadLlama2c('assets/stories260K/stories260K.bin')
  const gen = await Generator.create(ckpt, { threads: 1 })
  const ids = await gen.generate([ckpt.config.bosId], { maxTokens: 256, temperature: 0, stopId: null })
  await gen.release()
  assert.deepEqual(ids, ref.ids)
})
