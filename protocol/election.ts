// Who aggregates a round and who trains in it. Pure and deterministic: every peer that knows the same
// members and the previous global adapter hash computes the same answer, and no single peer picks the
// seed (it is the hash of an adapter several peers produced). A peer could grind many peer ids to rank
// first more often; the allow-list of a private federation closes that.
import { createHash } from 'node:crypto'

function rank (seed: string, label: string, round: number, member: string): string {
  return createHash('sha256').update(`${seed}\n${label}\n${round}\n${member}`).digest('hex')
}

function orderBy (members: readonly string[], key: (m: string) => string): string[] {
  const unique = [...new Set(members)]
  const keys = new Map(unique.map((m) => [m, key(m)]))
  return unique.sort((a, b) => keys.get(a)! < keys.get(b)! ? -1 : keys.get(a)! > keys.get(b)! ? 1 : (a < b ? -1 : 1))
}

/**
 * The aggregator order of `round`: [0] is elected, [1] takes over when [0] is silent past the deadline, and so on
 * (aggregatorAt: past the last, the order starts again).
 */
export function electionOrder (members: readonly string[], prevGlobalHash: string, round: number): string[] {
  return orderBy(members, (m) => rank(prevGlobalHash, 'aggregator', round, m))
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
  orderBy(members, (m) => rank(prevGlobalHash, `select/${attempt}`, round, m)).slice(0, Math.max(0, k)).sort()

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
