import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { roundHash } from '../fixtures/aggregate-hash.ts'

test('a round\'s aggregate is the same bytes in any update order and in another process (witnesses recompute it)',
  async () => {
  const here = await roundHash('forward')
  assert.match(here, /^[0-9a-f]{64}$/)
  assert.equal(await roundHash('reverse'), here)
  const script = fileURLToPath(new URL('../fixtures/aggregate-hash.ts', import.meta.url))
  const other = execFileSync(process.execPath, ['--import', 'tsx', script, 'print'],
    { encoding: 'utf8', timeout: 60_000 }).trim()
  assert.equal(other, here)
})
