// A running federation as the orchestrator sees it, whether its peers live in this process or in their own:
// round events in peer ids, the global adapter of each completed round, and a way to make a peer vanish.
import type { EventEmitter } from 'node:events'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { RoundInfo } from '../node/round-info.ts'

export interface FleetAnnounce {
  readonly round: number
  readonly attempt: number
  readonly aggregator: string
  readonly selected: readonly string[]
}

export interface FleetEvents {
  /**
   * once per (round, attempt, aggregator), as soon as the fleet learns of it. Peers that lost the announcing
   * aggregator before its announce reached them elect among the members they still see, so one attempt of a
   * round can have a second aggregator (the first one killed right after announcing, say)
   */
  announce: [FleetAnnounce]
  /** a selected peer finished its local training */
  trained: [{ readonly peer: string, readonly round: number, readonly trainLoss: number, readonly samples: number }]
  /**
   * a completed round and its global adapter: the first report seen, then again if the peers switch to an earlier
   * attempt's result for it (fork choice: two attempts of the round both published one); see ResultChoice
   */
  result: [{ readonly info: RoundInfo, readonly adapter: () => Promise<Adapter> }]
  /** a peer convicted `offender` (evidence kept, excluded for the rest of the job): `kind` is the evidence's */
  convicted: [{ readonly by: string, readonly offender: string, readonly kind: string, readonly round: number }]
  /** a peer witnessed a result: the update bytes it fetched and the seconds its recompute took (in-process only) */
  witnessed: [{ readonly peer: string, readonly round: number, readonly bytes: number, readonly seconds: number }]
  /** in-process fleets: each peer taking an announce (`mine`: its aggregator publishing it), at Date.now() `at` */
  accepted: [{ readonly peer: string, readonly round: number, readonly attempt: number, readonly at: number,
    readonly mine: boolean }]
  /** something worth a line of progress (a peer's own log line, a warning) */
  note: [string]
}

/** a peer thread's event-loop delay since the last reset (monitorEventLoopDelay, 10 ms resolution) */
export interface LoopLag { readonly p99Ms: number, readonly maxMs: number }
/** a peer as an in-process fleet shows it: its connections and the members live in its view */
export interface PeerView { readonly index: number, readonly members: readonly string[],
  readonly connections: number, readonly gossipPeers: number }

export interface Fleet {
  readonly events: EventEmitter<FleetEvents>
  /** peer ids by peer index (the partition index) */
  readonly ids: readonly string[]
  /** stops a peer at once, without goodbye (a crash, a lost connection) */
  kill (peer: string): Promise<void>
  alive (): string[]
  /** stops everything that is still running */
  stop (): Promise<void>
  /**
   * in-process fleets: each peer thread's event-loop delay since the first announce (a loop that lags delays every
   * message its peers handle and every connection their listeners accept)
   */
  loopLag?: (reset?: boolean) => Promise<readonly LoopLag[]>
  /** in-process fleets: each peer's view now */
  views?: () => Promise<readonly PeerView[]>
}

/**
 * Which round results a fleet passes on: a round's first, then one of an earlier attempt of it (the result the
 * peers' fork choice keeps, which may arrive after the failover's); never a later attempt's once one is taken.
 */
export class ResultChoice {
  private readonly taken = new Map<number, number>()

  /** true when the result of (round, attempt) is to be reported (and from now on counts as the round's) */
  accept (round: number, attempt: number): boolean {
    const prev = this.taken.get(round)
    if (prev !== undefined && attempt >= prev) return false
    this.taken.set(round, attempt)
    return true
  }

  /** the attempt reported for `round`, if any */
  attemptOf (round: number): number | undefined { return this.taken.get(round) }
}

/** A peer's log line worth a line of the run's progress: why a round waits (a push that failed, a refused update). */
export function isNoteworthy (line: string): boolean {
  return /could not|refused|failed|error/i.test(line)
}
