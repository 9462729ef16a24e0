import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { readDolly } from '../../../trainer/data/readers.ts'
import { splitHeldOut } from '../../../trainer/data/split.ts'
import { partition, partitionSummary } from '../../../trainer/data/partition.ts'
import type { PartitionMethod } from '../../../trainer/data/partition.ts'
import { DataError } from '../../../trainer/data/errors.ts'

const DOLLY = fileURLToPath(new URL('../../../assets/dolly/dolly-15k.jsonl.gz', import.meta.url))
const train = splitHeldOut(readDolly(DOLLY).records).train

const isExactCover = (parts: ReadonlyArray<readonly number[]>, n: number): boolean => {
  const seen = new Uint8Array(n)
  for (const p of parts) for (const i of p) { if (seen[i] === 1) return false; seen[i] = 1 }
  return seen.every((x) => x === 1)
}

test('every method covers each record exactly once and is deterministic in its seed', () => {
  for (const method of ['iid', 'shepherd-categories', 'shepherd-quantity', 'dirichlet'] as PartitionMethod[]) {
    const a = partition(train, { method, clients: 10, seed: 42 })
    assert.equal(a.length, 10)
    assert.ok(isExactCover(a, train.length), method)
    assert.deepEqual(partition(train, { method, clients: 10, seed: 42 }), a, method)
    assert.notDeepEqual(partition(train, { method, clients: 10, seed: 43 }), a, method)
  }
})

test('iid gives equal volumes with every category everywhere', () => {
  const parts = partition(train, { method: 'iid', clients: 10, seed: 1 })
  const sizes = parts.map((p) => p.length)
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1)
  assert.ok(partitionSummary(train, parts).every((c) => Object.keys(c).length === 8))
})

test('shepherd-categories: a few categories per client, roughly equal volume', () => {
  const parts = partition(train, { method: 'shepherd-categories', clients: 10, seed: 1 })
  const sizes = parts.map((p) => p.length)
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 2, String(sizes)) // two shards, each within 1
  const cats = partitionSummary(train, parts).map((c) => Object.keys(c).length)
  assert.ok(cats.every((n) => n <= 4), String(cats))
  assert.ok(cats.reduce((a, b) => a + b, 0) / cats.length <= 3)
})

test('shepherd-quantity: very different volumes, each client above the minimum', () => {
  const parts = partition(train, { method: 'shepherd-quantity', clients: 10, seed: 1, alpha: 0.5, minPerClient: 40 })
  const sizes = parts.map((p) => p.length)
  assert.ok(Math.min(...sizes) >= 40)
  assert.ok(Math.max(...sizes) > 2 * Math.min(...sizes), String(sizes))
  // a larger alpha moves towards iid: category shares per client spread less
  const spread = (alpha: number): number => {
    const s = partitionSummary(train, partition(train, { method: 'dirichlet', clients: 10, seed: 3, alpha }))
    return s.reduce((acc, c) => acc + Math.max(...Object.values(c)) / Object.values(c).reduce((a, b) => a + b, 0),
      0) / s.length
  }
  assert.ok(spread(100) < spread(0.1))
})

test('impossible requests get a clear error', () => {
  assert.throws(() => partition(train.slice(0, 5), { method: 'iid', clients: 10, seed: 1 }), DataError)
  assert.throws(() => partition(train.slice(0, 100),
    { method: 'shepherd-quantity', clients: 10, seed: 1, minPerClient: 40 }), /at least 40/)
})
