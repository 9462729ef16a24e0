import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { readDolly } from '../../../trainer/data/readers.ts'
import { splitHeldOut } from '../../../trainer/data/split.ts'
import { partition } from '../../../trainer/data/partition.ts'

const DOLLY = fileURLToPath(new URL('../../../assets/dolly/dolly-15k.jsonl.gz', import.meta.url))

test('Dolly lines 1-80 are the test split, 10 per category, and never reach a client', () => {
  const { records } = readDolly(DOLLY)
  const { test: held, train } = splitHeldOut(records)
  assert.equal(held.length, 80)
  assert.equal(train.length, 15011 - 80)
  const perCat = new Map<string, number>()
  for (const r of held) perCat.set(r.category, (perCat.get(r.category) ?? 0) + 1)
  assert.equal(perCat.size, 8)
  assert.ok([...perCat.values()].every((n) => n === 10))
  const heldLines = new Set(held.map((r) => r.line))
  for (const method of ['iid', 'shepherd-categories', 'shepherd-quantity', 'dirichlet'] as const) {
    const parts = partition(train, { method, clients: 10, seed: 1 })
    for (const idx of parts) for (const i of idx) assert.ok(!heldLines.has(train[i]!.line))
  }
})
