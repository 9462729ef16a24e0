// The one function that turns a round's updates into the next global adapter, called by the aggregator and by
// every witness: the same inputs give the same bytes on every machine and process (tested), because the
// updates go in one canonical order (by author) and the aggregation is single-threaded, seedless arithmetic.
// The job's history after the round (when the spec keeps one) comes out as bytes and hash the same way.
import type { AggregateFn, AggregationContext, ClientUpdate, Decision } from '../trainer/aggregate/types.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { JobHistory } from '../trainer/aggregate/history.ts'
import { encodeHistory } from '../trainer/aggregate/history-codec.ts'
import { encodeAdapter, sha256Hex } from './adapter-codec.ts'

export interface RoundAggregate {
  readonly adapter: Adapter
  readonly bytes: Uint8Array
  readonly hash: string
  /** one per update, in canonical (author) order */
  readonly decisions: readonly Decision[]
  /** the job's history after the round, encoded, when the spec keeps one */
  readonly history?: { readonly value: JobHistory, readonly bytes: Uint8Array, readonly hash: string }
}

export function byAuthor<T extends { readonly peer: string }> (updates: readonly T[]): T[] {
  return [...updates].sort((a, b) => a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)
}

export function aggregateRound (aggregate: AggregateFn, updates: readonly ClientUpdate[],
  ctx: AggregationContext): RoundAggregate {
  const res = aggregate(byAuthor(updates), ctx)
  const bytes = encodeAdapter(res.adapter)
  const h = res.history === undefined ? undefined : encodeHistory(res.history)
  return { adapter: res.adapter, bytes, hash: sha256Hex(bytes), decisions: res.decisions,
    ...(h !== undefined && res.history !== undefined
      ? { history: { value: res.history, bytes: h, hash: sha256Hex(h) } } : {}) }
}
