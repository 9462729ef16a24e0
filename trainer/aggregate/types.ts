// The aggregation interface the aggregator role (node/) calls. The rules behind it are pure functions over adapters.
import type { Adapter } from '../lora/adapter.ts'
import type { DecisionKind } from './decision-kind.ts'
import type { JobHistory } from './history.ts'

export interface ClientUpdate {
  readonly peer: string // peer id (string form)
  readonly samples: number // number of training examples behind the update (FedAvg weight)
  readonly round: number
  readonly baseHash: string // hash of the global adapter it was trained from
  readonly adapter: Adapter // the peer's trained adapter (not a delta)
}

export interface AggregationContext {
  readonly round: number
  readonly baseHash: string
  /** the round's starting global adapter: deltas are taken against it, shapes and names checked against it */
  readonly global: Adapter
  /**
   * largest believable `samples` claim (a FedAvg weight is only as honest as its claim); default DEFAULT_MAX_SAMPLES
   */
  readonly maxSamples?: number
  /** what the aggregator remembers of each peer from the job's earlier rounds (the previous result's `history`);
   * read by the spec's history filter, absent in a job's first round */
  readonly history?: JobHistory
}

export const DEFAULT_MAX_SAMPLES = 1_000_000

export interface Decision {
  readonly peer: string
  readonly included: boolean
  /** what happened, as a metric label: 'included', 'clipped', or why it was excluded */
  readonly kind: DecisionKind
  /** human-readable, e.g. "norm 41.2 > 3 x median 3.1"; present for every exclusion and every clip */
  readonly reason?: string
  /** its weight in the combine step, when included (weights of the included sum to 1) */
  readonly weight?: number
}

export interface AggregationResult {
  readonly adapter: Adapter
  /** one per update, in the order the updates came */
  readonly decisions: readonly Decision[]
  /** true when nothing usable arrived and `adapter` is the global adapter, unchanged */
  readonly unchanged: boolean
  /** one line for the round log: what was combined how, or why the global adapter was kept */
  readonly summary: string
  /** the history to pass to the next round, when the spec keeps one (its history filter) */
  readonly history?: JobHistory
}

export type AggregateFn = (updates: readonly ClientUpdate[], ctx: AggregationContext) => AggregationResult
