// Which global adapter a peer stands on, when the others' differs from ours: pure decisions.
//   catch up: when to ask for the chain of confirmed results past ours (catch-up.ts checks it);
//   follow at the end: two attempts of the last round were both confirmed and peers adopted different ones;
//     once the job is done every peer follows the adapter most of them hold.

/** How many live peers must hold another adapter for our round before a finished peer follows them
 * (followAtSameRound, with a strict majority too): two, or fewer when there are fewer others. */
export function catchUpQuorum (liveMembers: number): number {
  const others = liveMembers - 1
  return Math.min(2, Math.max(1, others))
}

export interface CatchUpInput {
  /** the furthest round a member claims, past ours */
  readonly aheadRound: number
  readonly completed: number
  /** when our current round became due */
  readonly since: number
  /** the deadline of the announce we follow for it, if any */
  readonly announcedDeadlineMs: number | undefined
  readonly graceMs: number
  readonly now: number
}

/**
 * Whether to ask for the chain past ours now. One round behind is normal while a result is being fetched: from
 * one round behind, only once the result is overdue (the announced deadline and the grace have passed, or
 * no announce came for a grace); from further behind at once.
 */
export function catchUpDue (a: CatchUpInput): boolean {
  if (a.aheadRound !== a.completed + 1) return true
  return a.now >= (a.announcedDeadlineMs ?? a.since) + a.graceMs
}

/** Where we stand: the result that made our global adapter (attempt -1: unknown, e.g. restored or caught up). */
export interface Standing {
  readonly completed: number
  readonly hash: string
  readonly attempt: number
  /** the global it was made from ('' when unknown) */
  readonly base: string
}

/**
 * Once the job is done (no later announce will rebase anyone), a peer follows the others: the adapter most live
 * peers at our round hold, when a quorum holds it and strictly more peers than ours (we count for ours); so
 * the majority never moves and the rule cannot oscillate. It applies whether or not we know which attempt made
 * ours: two attempts of the last round can both be confirmed (each by its own witnesses, the late first
 * aggregator's and the failover's), and peers that adopted different ones stayed forked for good (the earlier
 * attempt's fork choice is gone; seen once in the hostile test under load).
 */
export function followAtSameRound (
  g: Standing, atOurRound: ReadonlyArray<{ readonly hash: string }>, quorum: number
): string | undefined {
  const counts = new Map<string, number>([[g.hash, 1]])
  for (const s of atOurRound) counts.set(s.hash, (counts.get(s.hash) ?? 0) + 1)
  let best = g.hash
  for (const [h, n] of counts) if (n > counts.get(best)! || (n === counts.get(best)! && h < best)) best = h
  const n = counts.get(best)!
  return best !== g.hash && n >= quorum && n > counts.get(g.hash)! ? best : undefined
}
