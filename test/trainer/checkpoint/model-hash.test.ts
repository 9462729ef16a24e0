// The base-model hash a job pins: a llama2.c file's sha256, or for a Hugging Face folder the sha256 of
// `LC_ALL=C sha256sum *.safetensors` (so a user can compute it with coreutils, as the README says).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { modelHash } from '../../../trainer/checkpoint/model-hash.ts'
import { CheckpointError } from '../../../trainer/checkpoint/errors.ts'

const sh = (script: string, cwd: string): string => execFileSync('bash', ['-c', script],
  { cwd, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } })

test('a llama2.c checkpoint hashes to sha256sum of the file: the pin of examples/job.json', async () => {
  const job = JSON.parse(readFileSync('examples/job.json', 'utf8')) as { baseModel: { sha256: string } }
  const h = await modelHash('assets/stories260K/stories260K.bin')
  assert.equal(h, job.baseModel.sha256)
  assert.equal(h, sh('sha256sum stories260K.bin', 'assets/stories260K').split(' ')[0])
})

test('a Hugging Face folder hashes to `sha256sum *.safetensors | sha256sum`: weights only, names included',
  async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-hf-hash-'))
  writeFileSync(join(dir, 'model-00002-of-00002.safetensors'), randomBytes(3000))
  writeFileSync(join(dir, 'model-00001-of-00002.safetensors'), randomBytes(5000))
  writeFileSync(join(dir, 'config.json'), '{}')
  const h = await modelHash(dir)
  assert.equal(h, sh('sha256sum *.safetensors | sha256sum', dir).split(' ')[0])
  assert.equal(await modelHash(join(dir, 'config.json')), h, 'a file of the folder names the folder')
  writeFileSync(join(dir, 'config.json'), '{"changed": true}')
  assert.equal(await modelHash(dir), h, 'config.json is not a weight')
  const w = readFileSync(join(dir, 'model-00001-of-00002.safetensors'))
  w[4000] = w[4000]! ^ 1
  writeFileSync(join(dir, 'model-00001-of-00002.safetensors'), w)
  assert.notEqual(await modelHash(dir), h, 'one weight byte changes it')
  await assert.rejects(modelHash(mkdtempSync(join(tmpdir(), 'fedit-hf-empty-'))),
    (e: Error) => e instanceof CheckpointError && /no \*\.safetensors/.test(e.message))
})
