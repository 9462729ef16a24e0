// The one function that turns a round's updates into the next global adapter, called by the aggregator and by
// every witness: the same inputs give the same bytes on every machine and process (tested), because the
// updates go in one canonical order (by author) and the aggregation is single-threaded, seedless arithmetic.
import type { AggregateFn, AggregationContext, ClientUpdate, Decision } from '../trainer/aggregate/types.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { encodeAdapter, sha256Hex } from './adapter-codec.ts'

export interface RoundAggregate {
  readonly adapter: Adapter
  readonly bytes: Uint8Array
  readonly hash: string
  /** one per update, in canonical (author) order */
  readonly decisions: readonly Decision[]
}

export function byAuthor<T extends { readonly peer: string }> (updates: readonly T[]): T[] {
  return [...updates].sort((a, b) => a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)
}

export function aggregateRound (aggregate: AggregateFn, updates: readonly ClientUpdate[],
  ctx: AggregationContext): RoundAggregate {
  const res = aggregate(byAuthor(updates), ctx)
  const bytes = encodeAdapter(res.adapter)
  return { adapter: res.adapter, bytes, hash: sha256Hex(bytes), decisions: res.decisions }
}
