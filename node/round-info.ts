// What one completed round looks like in logs, events and the simulation report
// (DESIGN.md: rounds:[{round, aggregator, selected[], included[], excluded:[{peer, reason}], seconds, bytes,
// trainLoss, ...}]).
import type { RoundResult } from '../protocol/messages.ts'
import { hex } from './hex.ts'

export interface RoundInfo {
  readonly round: number
  /** 0 = the elected aggregator served; n = the n-th in the failover order did */
  readonly attempt: number
  readonly aggregator: string
  readonly selected: readonly string[]
  readonly included: readonly string[]
  readonly excluded: ReadonlyArray<{ readonly peer: string, readonly reason: string }>
  /** announce to result, as the aggregator measured it */
  readonly seconds: number
  /** update bytes the aggregator received */
  readonly bytes: number
  /** sample-weighted mean training loss of the included updates */
  readonly trainLoss: number
  /** sha256 of the new global adapter ('' for a missed round before the one caught up to) */
  readonly hash: string
  /**
   * true: this peer did not see the round's result (it was stopped, or fell behind) and caught up past it from
   * the adapter a quorum of live peers reports. Who aggregated and trained is unknown (attempt -1, empty lists,
   * zeros); the round caught up to carries the adapter's hash, the rounds before it ''.
   */
  readonly missed?: true
}

/** The entries of rounds `from`..`to` that a peer caught up past, standing on `hash` at round `to`. */
export function missedRounds (from: number, to: number, hash: string): RoundInfo[] {
  const out: RoundInfo[] = []
  for (let round = from; round <= to; round++) {
    out.push(Object.freeze({ round, attempt: -1, aggregator: '', selected: [], included: [], excluded: [], seconds: 0,
      bytes: 0, trainLoss: 0, hash: round === to ? hash : '', missed: true as const }))
  }
  return out
}

export function roundInfoOf (r: RoundResult, aggregator: string): RoundInfo {
  return Object.freeze({
    round: r.round,
    attempt: r.attempt,
    aggregator,
    selected: [...r.selected],
    included: [...r.included],
    excluded: r.excluded.map((x) => ({ peer: x.peer, reason: x.reason })),
    seconds: r.seconds,
    bytes: Number(r.bytes),
    trainLoss: r.trainLoss,
    hash: hex(r.newHash)
  })
}

/** One log line per round. */
export function formatRound (i: RoundInfo, self: string): string {
  if (i.missed === true) {
    return `round ${i.round}: missed${i.hash !== '' ? ` (caught up: global ${i.hash.slice(0, 12)})` : ''}`
  }
  const short = (p: string): string => p.slice(-6)
  const excluded = i.excluded.map((x) => `${short(x.peer)}(${x.reason})`).join(',')
  const ex = i.excluded.length === 0 ? '' : ` excluded=${excluded}`
  const failover = i.attempt > 0 ? ` (failover ${i.attempt})` : ''
  const me = i.aggregator === self ? ' (me)' : ''
  return `round ${i.round}${failover}: aggregator=${short(i.aggregator)}${me} ` +
    `included=${i.included.length}/${i.selected.length}${ex} trainLoss=${i.trainLoss.toFixed(4)} ` +
    `${i.seconds.toFixed(1)}s ${(i.bytes / 1e6).toFixed(2)}MB global=${i.hash.slice(0, 12)}`
}
