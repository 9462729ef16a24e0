// The job's memory of each peer, kept by the aggregator from round to round (FoolsGold, Fung et al. 2020, over
// residuals): per peer, the sum of its residuals (its clipped delta minus the round's aggregate step) as a count
// sketch of SKETCH_DIM buckets, so 20M-coordinate deltas cost 8 KB per peer and a witness recomputes it exactly.
// Honest residuals come from each peer's own data and noise; colluders repeating one hidden bias every round
// build residual sums that point the same way, which no single round shows.
import type { Exclusion } from './robust-rules.ts'
import { DecisionKind, fmt } from './decision-kind.ts'

export const SKETCH_DIM = 1024
/** peers a job's history keeps (8 KiB each): past it, the longest unseen go first, so the blob stays <= 8 MiB */
export const MAX_HISTORY_PEERS = 1024

export interface PeerHistory {
  /** rounds whose residual is summed in */
  readonly rounds: number
  /** the last round whose residual is summed in */
  readonly last: number
  /** count sketch of the summed residuals (length SKETCH_DIM) */
  readonly sketch: Float64Array
}

/** peer id -> its history in this job */
export type JobHistory = ReadonlyMap<string, PeerHistory>

/** Adds the count sketch of scale·(rows - base) (segments in a fixed order, one global coordinate index) into acc. */
export function addSketch (acc: Float64Array, rows: readonly Float32Array[], base: readonly Float32Array[],
  scale: number): void {
  let g = 0
  for (let s = 0; s < base.length; s++) {
    const r = rows[s]; const b = base[s]
    for (let k = 0; k < b.length; k++, g++) {
      // a fixed integer hash of the coordinate: bucket from the low bits, sign from the top bit
      let h = Math.imul(g ^ (g >>> 16), 0x45d9f3b)
      h = Math.imul(h ^ (h >>> 16), 0x45d9f3b)
      h ^= h >>> 16
      const v = scale * (r[k] - b[k])
      acc[h & (SKETCH_DIM - 1)] += h < 0 ? -v : v
    }
  }
}

function cosine (a: Float64Array, b: Float64Array): number {
  let ab = 0; let aa = 0; let bb = 0
  for (let k = 0; k < a.length; k++) { ab += a[k] * b[k]; aa += a[k] * a[k]; bb += b[k] * b[k] }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0
}

/**
 * Peers (indices into `peers`) whose residual history has cosine >= maxCosine with another present peer's, both
 * with at least minRounds rounds of history. Each excluded peer's reason names its closest partner.
 */
export function historyOutliers (peers: readonly string[], history: JobHistory | undefined, maxCosine: number,
  minRounds: number): Exclusion[] {
  if (history === undefined) return []
  const h = peers.map((p) => history.get(p))
  const out: Exclusion[] = []
  for (let i = 0; i < peers.length; i++) {
    const hi = h[i]
    if (hi === undefined || hi.rounds < minRounds) continue
    let best = -Infinity; let partner = -1
    for (let j = 0; j < peers.length; j++) {
      const hj = h[j]
      if (j === i || hj === undefined || hj.rounds < minRounds) continue
      const c = cosine(hi.sketch, hj.sketch)
      if (c > best) { best = c; partner = j }
    }
    if (partner >= 0 && best >= maxCosine) {
      out.push({ index: i, kind: DecisionKind.HistoryColluder,
        reason: `residuals over ${hi.rounds} rounds agree with ${peers[partner]}'s (cosine ${fmt(best)} ` +
        `>= ${maxCosine})` })
    }
  }
  return out
}

/**
 * The history after round `round`: each peer's residual sketch (its own minus the aggregate step's) added to its
 * sum. Past MAX_HISTORY_PEERS, the peers seen longest ago leave (ties by id): a peer still training is never one.
 */
export function nextHistory (prev: JobHistory | undefined, sent: ReadonlyMap<string, Float64Array>,
  step: Float64Array, round: number): JobHistory {
  const next = new Map(prev ?? [])
  for (const [peer, sk] of sent) {
    const old = next.get(peer)
    const sum = old === undefined ? new Float64Array(SKETCH_DIM) : Float64Array.from(old.sketch)
    for (let k = 0; k < SKETCH_DIM; k++) sum[k] += sk[k] - step[k]
    next.set(peer, { rounds: (old?.rounds ?? 0) + 1, last: round, sketch: sum })
  }
  if (next.size > MAX_HISTORY_PEERS) {
    const gone = [...next].sort(([a, x], [b, y]) => x.last - y.last || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, next.size - MAX_HISTORY_PEERS)
    for (const [p] of gone) next.delete(p)
  }
  return next
}
