// The randomness that elects, selects and draws witnesses, which no single member chooses.
// The seed of round r is a beacon chained over the rounds: beacon(r) = sha256(beacon(r - 1), the hashes of the
// updates round r - 1 included, sorted, leaving out its aggregator's own). Each trainer fixed its update (and
// signed its hash) before it could see the others', the aggregator's own update does not count, and witnesses
// recompute the filters that decide what is included, so the aggregator cannot re-draw the seed by re-drawing
// its output (as it could when the seed was the new adapter's hash). What it can still do, dropping received
// updates as "no_update", is visible in every result and bounded in DESIGN.md.
import { createHash } from 'node:crypto'
import type { RoundAnnounce, RoundResult } from './messages.ts'
import { aggregatorAt, electAggregator, electionOrder, selectRandomK } from './election.ts'
import type { SelectFn } from './election.ts'
import { RejectReason } from './reject-reason.ts'
import type { Check } from './round-rules.ts'

/** round 1's seed: fixed by the job */
export function genesisBeacon (jobId: string): string {
  return createHash('sha256').update(`fedit/beacon/0\n${jobId}`).digest('hex')
}

export interface IncludedUpdate { readonly author: string, readonly hash: string }

/** The seed of the round after the one that included `included` (hex hashes) under `aggregator`. */
export function nextBeacon (prev: string, aggregator: string, included: readonly IncludedUpdate[]): string {
  const hashes = included.filter((u) => u.author !== aggregator).map((u) => u.hash).sort()
  return createHash('sha256').update(`fedit/beacon\n${prev}\n${hashes.join('\n')}`).digest('hex')
}

/** Witnesses of an attempt: the first `w` of the seeded order over the members, its aggregator left out. */
export function witnessesOf (members: readonly string[], beacon: string, round: number, attempt: number,
  aggregator: string, w: number): string[] {
  return electionOrder(members.filter((m) => m !== aggregator), `${beacon}/witness/${attempt}`, round)
    .slice(0, Math.max(0, w))
}

/**
 * The members attempt `attempt` of `round` depends on, by seed `beacon` over `members`: its aggregator and the next
 * in the order (who takes over when it is silent), its `k` trainers and its `w` witnesses.
 */
export function roundRoles (members: readonly string[], beacon: string, round: number, attempt: number, k: number,
  w: number, select: SelectFn = selectRandomK): Set<string> {
  const order = electionOrder(members, beacon, round)
  const aggregator = aggregatorAt(order, attempt) ?? ''
  return new Set([aggregator, aggregatorAt(order, attempt + 1) ?? '',
    ...select({ members, k, prevGlobalHash: beacon, round, attempt }),
    ...witnessesOf(members, beacon, round, attempt, aggregator, w)].filter((m) => m !== ''))
}

/**
 * The announce's sender is aggregatorAt(order, attempt) over its members and its selection is the rule's, both
 * from the beacon.
 */
export function checkElection (a: RoundAnnounce, sender: string, beacon: string, k: number,
  select: SelectFn = selectRandomK): Check {
  if (electAggregator(a.members, beacon, a.round, a.attempt) !== sender) {
    return { ok: false, reason: RejectReason.NotElected }
  }
  const expected = [...select({ members: a.members, k, prevGlobalHash: beacon, round: a.round, attempt: a.attempt })]
    .sort()
  const got = [...a.selected].sort()
  if (expected.length !== got.length || expected.some((s, i) => s !== got[i])) {
    return { ok: false, reason: RejectReason.BadSelection }
  }
  return { ok: true }
}

/**
 * A result lists the beacon's selection for its attempt (over the members its announce listed) and includes or
 * excludes only those members: the same rule for a live result (node/trust.ts) and a chain link
 * (chain-rules.ts), so a result confirmed live never breaks the chain a peer behind checks.
 */
export function checkResultSelection (r: RoundResult, members: readonly string[], beacon: string, k: number,
  select: SelectFn = selectRandomK): Check {
  const no = (detail: string): Check => ({ ok: false, reason: `${RejectReason.BadSelection}: ${detail}` })
  const expected = [...select({ members, k, prevGlobalHash: beacon, round: r.round, attempt: r.attempt })].sort()
  const listed = [...r.selected].sort()
  if (listed.length !== expected.length || listed.some((p, i) => p !== expected[i])) {
    return no(`round ${r.round} attempt ${r.attempt} lists another selection`)
  }
  const drawn = new Set(expected)
  if (r.included.some((p) => !drawn.has(p)) || r.excluded.some((x) => !drawn.has(x.peer))) {
    return no(`round ${r.round}: a trainer not selected`)
  }
  return { ok: true }
}
