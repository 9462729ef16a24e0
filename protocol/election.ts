// Who aggregates a round and who trains in it. Pure and deterministic: every peer that knows the same
// members and the previous global adapter hash computes the same answer, and no single peer picks the
// seed (it is the hash of an adapter several peers produced). A peer could grind many peer ids to rank
// first more often; the allow-list of a private federation closes that.
import { createHash } from 'node:crypto'

// Every peer orders the same members by the same seed many times a round (each tick, each announce and result it
// checks, each Hello's role check), and a simulation hosts many peers in one process: the SHA-256 ranks were 4 % of
// a 100-peer process's round time (docs/performance.md, session 23). So the orders are kept, bounded: the last
// ORDERS_KEPT lists by seed, label, round and members. A pure function's memo: it changes no answer.
const ORDERS_KEPT = 64
const orders = new Map<string, readonly string[]>()

function rank (seed: string, label: string, round: number, member: string): string {
  return createHash('sha256').update(`${seed}\n${label}\n${round}\n${member}`).digest('hex')
}

function orderBy (members: readonly string[], seed: string, label: string, round: number): string[] {
  const memoKey = JSON.stringify([seed, label, round, members]) // unambiguous, whatever the strings hold
  const kept = orders.get(memoKey)
  if (kept !== undefined) return [...kept]
  const unique = [...new Set(members)]
  const keys = new Map(unique.map((m) => [m, rank(seed, label, round, m)]))
  const order = unique.sort((a, b) =>
    keys.get(a)! < keys.get(b)! ? -1 : keys.get(a)! > keys.get(b)! ? 1 : (a < b ? -1 : 1))
  // a Map keeps insertion order: the oldest goes first
  if (orders.size >= ORDERS_KEPT) orders.delete(orders.keys().next().value!)
  orders.set(memoKey, [...order])
  return order
}

/**
 * The aggregator order of `round`: [0] is elected, [1] takes over when [0] is silent past the deadline, and so on
 * (aggregatorAt: past the last, the order starts again).
 */
export function electionOrder (members: readonly string[], prevGlobalHash: string, round: number): string[] {
  return orderBy(members, prevGlobalHash, 'aggregator', round)
}

export function electAggregator (
  members: readonly string[], prevGlobalHash: string, round: number, attempt = 0
): string | undefined {
  return aggregatorAt(electionOrder(members, prevGlobalHash, round), attempt)
}

/**
 * Who announces attempt `attempt` over `order`: its place, counted round the order again once every member had
 * its turn. Without the wrap a round whose attempts outran its members could never end: a job of 5 whose two
 * convicted aggregators took attempts 0 and 1 had, over the 3 left, one attempt more (2), and when that one
 * failed too no one was ever due again (attempt 3 had no aggregator). MAX_ATTEMPTS bounds the turns.
 */
export function aggregatorAt (order: readonly string[], attempt: number): string | undefined {
  return order.length === 0 ? undefined : order[attempt % order.length]
}

export interface SelectionInput {
  readonly members: readonly string[]
  readonly k: number
  readonly prevGlobalHash: string
  readonly round: number
  readonly attempt: number
}

/** Chooses the round's trainers; pluggable, the default is a seeded random k of the live members (as Shepherd). */
export type SelectFn = (input: SelectionInput) => string[]

export const selectRandomK: SelectFn = ({ members, k, prevGlobalHash, round, attempt }) =>
  orderBy(members, prevGlobalHash, `select/${attempt}`, round).slice(0, Math.max(0, k)).sort()

// ---------------------------------------------------------------- reachable aggregators
/** What a member's Hello says of its reachability (Hello.reachability); 0 = unsaid (treated as reachable). */
export const Reachability = { Unsaid: 0, Public: 1, Relayed: 2, Unreachable: 3 } as const
export const MAX_REACHABILITY = 3

/** A member others can send their updates to: dialable directly or through a relay, or did not say. */
export function isElectable (reachability: number): boolean {
  return reachability !== Reachability.Unreachable
}

/**
 * The attempt to announce when `due` is: the first at or past `due` whose member in `order` is electable, so
 * an aggregator nobody can reach is skipped at once instead of wasting a silent deadline. The attempt number
 * stays its place in the order, so every member checks the announce with electAggregator as before. When no
 * one from `due` on is electable, `due` itself (the plain order).
 */
export function electableAttempt (order: readonly string[], due: number, electable: (m: string) => boolean): number {
  for (let a = due; a < due + order.length; a++) if (electable(aggregatorAt(order, a)!)) return a
  return due
}
