// Who holds what: the Dolly training pool split among the simulated peers (seeded), each peer's category mix,
// and the paper's three local-only baselines (Local-1/2/3: one peer with a single category, one with another,
// one with two). Pure: records in, indices and counts out.
import type { InstructionRecord } from '../trainer/data/record.ts'
import type { PartitionMethod } from '../trainer/data/partition.ts'
import { partition, partitionSummary } from '../trainer/data/partition.ts'
import { createRng, deriveSeed, shuffleInPlace } from '../trainer/rng.ts'

export interface PeerShare {
  readonly index: number
  readonly label: string
  readonly records: readonly InstructionRecord[]
  /** records per category */
  readonly counts: Readonly<Record<string, number>>
}

export interface ShareOptions {
  readonly peers: number
  readonly method: PartitionMethod
  readonly seed: number
  readonly alpha: number
  readonly limitPerPeer?: number
  readonly label: (i: number) => string
}

export function shareTrainingPool (pool: readonly InstructionRecord[], o: ShareOptions): PeerShare[] {
  const parts = partition(pool, { method: o.method, clients: o.peers, seed: o.seed, alpha: o.alpha,
    ...(o.method === 'shepherd-quantity' ? { minPerClient: Math.min(40, Math.floor(pool.length / o.peers)) } : {}) })
  return parts.map((idx, i) => {
    // a limited peer keeps a seeded random sample of its partition, so its category mix stays the same
    const keep = o.limitPerPeer === undefined || idx.length <= o.limitPerPeer
      ? idx
      : shuffleInPlace([...idx], createRng(deriveSeed(o.seed, `limit:${i}`))).slice(0, o.limitPerPeer)
        .sort((a, b) => a - b)
    const records = keep.map((k) => pool[k]!)
    return { index: i, label: o.label(i), records, counts: partitionSummary(records, [records.map((_, j) => j)])[0]! }
  })
}

/** Categories that make up at least `minShare` of a peer's data, largest first. */
export function mainCategories (counts: Readonly<Record<string, number>>, minShare = 0.1): string[] {
  const total = Object.values(counts).reduce((a, b) => a + b, 0)
  return Object.entries(counts).filter(([, n]) => n / Math.max(1, total) >= minShare)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([c]) => c)
}

export interface LocalPick { readonly index: number, readonly categories: readonly string[] }

/**
 * Local-1: the peer most dominated by one category; Local-2: the same for another category; Local-3: the peer
 * whose two largest categories cover the most while each holds at least 20% (two categories). With an IID split
 * no peer has one category: the picks are then the closest, and their category lists say so.
 */
export function pickLocalPeers (shares: readonly PeerShare[]): LocalPick[] {
  const top = shares.map((s) => {
    const total = Object.values(s.counts).reduce((a, b) => a + b, 0)
    const sorted = Object.entries(s.counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    return { s, total, first: sorted[0], second: sorted[1] }
  })
  const share1 = (t: typeof top[number]): number => (t.first?.[1] ?? 0) / Math.max(1, t.total)
  const bySingle = [...top].sort((a, b) => share1(b) - share1(a) || a.s.index - b.s.index)
  const l1 = bySingle[0]!
  const l2 = bySingle.find((t) => t !== l1 && t.first?.[0] !== l1.first?.[0]) ?? bySingle[1]!
  const two = (t: typeof top[number]): number => t.second === undefined || t.second[1] / Math.max(1, t.total) < 0.2 ? -1
    : (t.first![1] + t.second[1]) / t.total
  const l3 = [...top].filter((t) => t !== l1 && t !== l2).sort((a, b) => two(b) - two(a) || a.s.index - b.s.index)[0]
  return [l1, l2, ...(l3 === undefined ? [] : [l3])]
    .map((t) => ({ index: t.s.index, categories: mainCategories(t.s.counts) }))
}
