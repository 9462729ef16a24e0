// Splits a training pool among simulated clients, seeded and deterministic. A partition is a list of record
// indices per client (into the array given); every record goes to exactly one client.
// - 'iid': a shuffled, near-equal split.
// - 'shepherd-categories' (Shepherd's non-IID with equal quantity): records sorted by category are cut into
//   clients x shardsPerClient equal shards, shuffled, and each client takes shardsPerClient of them, so it sees
//   a few categories and every client has about the same volume.
// - 'shepherd-quantity' (Shepherd's non-IID with different quantity): each category is split among the clients
//   by Dirichlet(alpha) proportions, clients already above the mean volume get no more, redrawn until every
//   client has at least minPerClient records.
// - 'dirichlet': the plain per-category Dirichlet(alpha) split (label skew), redrawn only until no client is empty.
import { DataError } from './errors.ts'
import type { Rng } from '../rng.ts'
import { createRng, dirichlet, shuffleInPlace } from '../rng.ts'

export type PartitionMethod = 'iid' | 'shepherd-categories' | 'shepherd-quantity' | 'dirichlet'

export interface PartitionOptions {
  readonly method: PartitionMethod
  readonly clients: number
  readonly seed: number
  /** Dirichlet concentration ('shepherd-quantity', 'dirichlet'); default 0.5 as in Shepherd */
  readonly alpha?: number
  /** 'shepherd-quantity': least records per client (default 40, Shepherd's min_require_size) */
  readonly minPerClient?: number
  /** 'shepherd-categories': shards per client (default 2, as in Shepherd) */
  readonly shardsPerClient?: number
}

export type Partition = ReadonlyArray<readonly number[]>

const MAX_DRAWS = 1000

export function partition (records: ReadonlyArray<{ readonly category: string }>, opts: PartitionOptions): Partition {
  const n = records.length
  const k = opts.clients
  if (!Number.isSafeInteger(k) || k < 1) throw new DataError(`partition: clients must be a positive integer, got ${k}`)
  if (n < k) throw new DataError(`partition: ${n} records cannot be shared among ${k} clients`)
  const rng = createRng(opts.seed)
  switch (opts.method) {
    case 'iid': return iid(n, k, rng)
    case 'shepherd-categories': return byCategoryShards(records, k, opts.shardsPerClient ?? 2, rng)
    case 'shepherd-quantity': return dirichletSplit(records, k, opts.alpha ?? 0.5, opts.minPerClient ?? 40, true, rng)
    case 'dirichlet': return dirichletSplit(records, k, opts.alpha ?? 0.5, opts.minPerClient ?? 1, false, rng)
    default: throw new DataError(`partition: unknown method ${String(opts.method)}`)
  }
}

function iid (n: number, k: number, rng: Rng): number[][] {
  const idx = shuffleInPlace(Array.from({ length: n }, (_, i) => i), rng)
  return Array.from({ length: k }, (_, c) => idx.slice(Math.floor(c * n / k), Math.floor((c + 1) * n / k)))
}

function byCategoryShards (records: ReadonlyArray<{ readonly category: string }>, k: number, perClient: number,
  rng: Rng): number[][] {
  const shards = k * perClient
  if (records.length < shards) throw new DataError(`partition: ${records.length} records cannot make ${shards} shards`)
  const sorted = Array.from({ length: records.length }, (_, i) => i)
    .sort((a, b) => records[a]!.category < records[b]!.category ? -1 : records[a]!.category > records[b]!.category ? 1
      : a - b)
  const pieces = Array.from({ length: shards }, (_, s) => sorted.slice(Math.floor(s * sorted.length / shards),
    Math.floor((s + 1) * sorted.length / shards)))
  shuffleInPlace(pieces, rng)
  return Array.from({ length: k }, (_, c) => pieces.slice(c * perClient, (c + 1) * perClient).flat())
}

function dirichletSplit (records: ReadonlyArray<{ readonly category: string }>, k: number, alpha: number,
  minPerClient: number, capAtMean: boolean, rng: Rng): number[][] {
  if (!(alpha > 0)) throw new DataError(`partition: alpha must be positive, got ${alpha}`)
  if (minPerClient * k > records.length) {
    throw new DataError(`partition: ${records.length} records cannot give ${k} clients at least ${minPerClient} each`)
  }
  const byCat = new Map<string, number[]>()
  records.forEach((r, i) => {
    let l = byCat.get(r.category)
    if (l === undefined) byCat.set(r.category, l = [])
    l.push(i)
  })
  const cats = [...byCat.keys()].sort()
  const mean = records.length / k
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    const parts: number[][] = Array.from({ length: k }, () => [])
    for (const cat of cats) {
      const idx = shuffleInPlace([...byCat.get(cat)!], rng)
      let p = dirichlet(k, alpha, rng)
      // Shepherd: a client already holding its share of the data takes no more
      if (capAtMean) p = p.map((x, c) => parts[c]!.length < mean ? x : 0)
      const sum = p.reduce((a, b) => a + b, 0)
      if (sum === 0) p = p.map(() => 1 / k)
      else p = p.map((x) => x / sum)
      let acc = 0; let start = 0
      for (let c = 0; c < k; c++) {
        acc += p[c]!
        const end = c === k - 1 ? idx.length : Math.floor(acc * idx.length)
        parts[c]!.push(...idx.slice(start, end))
        start = end
      }
    }
    if (Math.min(...parts.map((x) => x.length)) >= minPerClient) return parts
  }
  throw new DataError(`partition: no Dirichlet(${alpha}) draw in ${MAX_DRAWS} gave every one of ${k} ` +
    `clients ${minPerClient} records; raise alpha or lower the minimum`)
}

/** Records per category for each client (for reports and tests). */
export function partitionSummary (records: ReadonlyArray<{ readonly category: string }>,
  parts: Partition): Array<Record<string, number>> {
  return parts.map((idx) => {
    const counts: Record<string, number> = {}
    for (const i of idx) counts[records[i]!.category] = (counts[records[i]!.category] ?? 0) + 1
    return counts
  })
}
