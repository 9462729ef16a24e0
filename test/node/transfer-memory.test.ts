// A transfer lets go of each chunk once it is copied out, not when its deadline fires (a 7B adapter under a
// 300 s deadline would otherwise hold hundreds of MB per round). Measured in a child with --expose-gc.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'

test('ChunkReader keeps no chunk it has consumed while the transfer signal is still live', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/fixtures/chunk-reader-retention.ts'],
    { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, r.stderr)
  const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as { readBytes: number, retainedBytes: number,
    signalAborted: boolean }
  assert.equal(m.signalAborted, false)
  // the last message may stay referenced until the next read; everything before it must be gone
  assert.ok(m.retainedBytes < 4 * (1 << 20),
    `retained ${(m.retainedBytes / 2 ** 20).toFixed(1)} MiB of ${m.readBytes / 2 ** 20} MiB read`)
})
