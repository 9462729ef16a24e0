// A peer refuses base weights that do not hash to its job's baseModel.sha256, with one line, and hashes a
// model once: the digests are cached in the state folder by path, size and mtime.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { modelHash } from '../../trainer/checkpoint/model-hash.ts'
import { checkModelPin, modelHashCache, ModelPinError } from '../../node/model-pin.ts'
import { parseJobSpec } from '../../protocol/job-spec.ts'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'fedit-pin-'))
const exampleJob = (): ReturnType<typeof parseJobSpec> => parseJobSpec(readFileSync('examples/job.json', 'utf8'),
  'examples/job.json')

test('the digest cache: a second start reads no weight; a new size or mtime is hashed again', async () => {
  const state = tmp()
  const dir = tmp()
  const file = join(dir, 'model.safetensors')
  writeFileSync(file, randomBytes(100_000))
  const t = Math.floor(Date.now() / 1000) - 60 // whole seconds: utimes can set them back exactly
  utimesSync(file, t, t)
  const hashed: string[] = []
  const run = async (): Promise<string> => await modelHash(dir,
    { cache: modelHashCache(state), onHashing: (f) => hashed.push(f) })
  const h = await run()
  assert.deepEqual(hashed, [file])
  assert.equal(await run(), h) // a fresh cache object: read back from the state folder
  assert.equal(hashed.length, 1, 'the cached digest was used')
  // same size and mtime: the cache trusts them (that is the point: no 13 GB read at each start)
  const bytes = readFileSync(file); bytes[0] = bytes[0]! ^ 1; writeFileSync(file, bytes)
  utimesSync(file, t, t)
  assert.equal(await run(), h)
  utimesSync(file, t, t + 5)
  assert.notEqual(await run(), h, 'a new mtime is hashed again')
  assert.equal(hashed.length, 2)
  writeFileSync(join(state, 'model-hashes.json'), '{ damaged')
  assert.notEqual(await run(), h, 'a damaged cache is an empty one')
})

test('checkModelPin takes the pinned weights and refuses others with one line', async () => {
  const job = exampleJob()
  await checkModelPin(job, 'assets/stories260K/stories260K.bin', tmp())
  const other = join(tmp(), 'stories260K.bin')
  const bytes = readFileSync('assets/stories260K/stories260K.bin');
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1
  writeFileSync(other, bytes)
  await assert.rejects(checkModelPin(job, other, tmp()), (e: Error) => e instanceof ModelPinError &&
    !e.message.includes('\n') &&
    e.message.startsWith(`${other} is not the job's base model: its weights hash to `) &&
      e.message.includes('stories260K at b0a507e7ad0f6266'))
})

test('fedit peer refuses a model that is not the job\'s before it joins', () => {
  const dir = tmp()
  const model = join(dir, 'stories260K.bin')
  const bytes = readFileSync('assets/stories260K/stories260K.bin'); bytes[100] = bytes[100]! ^ 1
  writeFileSync(model, bytes)
  copyFileSync('assets/stories260K/tok512.bin', join(dir, 'tok512.bin'))
  const r = spawnSync(process.execPath, ['bin/fedit.js', 'peer', '--job', 'examples/job.json', '--model', model,
    '--data', 'assets/dolly/dolly-15k.jsonl.gz',
    '--bootstrap', '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWExukfEbi187ScwzZGCPPu5hv1PVjnim1oRhCAMHYc3Um', '--state',
      join(dir, 'state'), '--local'], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 1, r.stdout + r.stderr)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr, /^fedit peer: .*stories260K\.bin is not the job's base model/)
})
