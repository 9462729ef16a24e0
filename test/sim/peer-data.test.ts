import { test } from 'node:test'
import assert from 'node:assert/strict'
import { shareTrainingPool, pickLocalPeers, mainCategories } from '../../sim/peer-data.ts'
import type { InstructionRecord } from '../../trainer/data/record.ts'

const rec = (category: string, line: number): InstructionRecord => ({ instruction: `i${line}`, input: '',
  response: `r${line}`, category, line })

test('shares cover the pool once, respect the limit, and are seeded', () => {
  const pool = Array.from({ length: 300 }, (_, i) => rec(['a', 'b', 'c'][i % 3]!, i + 81))
  const o = { peers: 5, method: 'iid' as const, seed: 3, alpha: 0.5, label: (i: number) => `p${i}` }
  const s = shareTrainingPool(pool, o)
  assert.equal(s.reduce((n, x) => n + x.records.length, 0), 300)
  assert.equal(new Set(s.flatMap((x) => x.records.map((r) => r.line))).size, 300)
  const lim = shareTrainingPool(pool, { ...o, limitPerPeer: 10 })
  assert.ok(lim.every((x) => x.records.length === 10))
  assert.deepEqual(shareTrainingPool(pool, { ...o, limitPerPeer: 10 }).map((x) => x.records.map((r) => r.line)),
    lim.map((x) => x.records.map((r) => r.line)))
})

test('Local-1/2 are single-category peers of different categories, Local-3 holds two', () => {
  const mk = (i: number, counts: Record<string, number>): Parameters<typeof pickLocalPeers>[0][number] => ({ index: i,
    label: `p${i}`, records: [], counts })
  const picks = pickLocalPeers([mk(0, { a: 50, b: 50 }), mk(1, { a: 100 }), mk(2, { a: 99, c: 1 }), mk(3, { b: 100 }),
    mk(4, { a: 90, c: 10 })])
  assert.deepEqual(picks.map((p) => p.index), [1, 3, 0])
  assert.deepEqual(picks.map((p) => p.categories), [['a'], ['b'], ['a', 'b']])
  assert.deepEqual(mainCategories({ a: 95, b: 5 }), ['a'])
})
