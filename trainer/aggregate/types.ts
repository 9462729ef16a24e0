// The aggregation interface the aggregator role (node/) calls. The rules behind it are pure functions over adapters.
import type { Adapter } from '../lora/adapter.ts'

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
}

export interface Decision {
  readonly peer: string
  readonly included: boolean
  /** why it was excluded (or clipped), e.g. "norm 41.2 > 3 x median 3.1"; doubles as a log/metric label */
  readonly reason?: string
  /** its weight in the combine step, when included */
  readonly weight?: number
}

export interface AggregationResult {
  readonly adapter: Adapter
  readonly decisions: readonly Decision[]
}

export type AggregateFn = (updates: readonly ClientUpdate[], ctx: AggregationContext) => AggregationResult
