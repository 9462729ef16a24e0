// Which global adapter a peer stands on, when the others' differs from ours: pure decisions.
//   catch up: when to ask for the chain of confirmed results past ours (catch-up.ts checks it);
//   the last round: two attempts both confirmed, the fixed rule picks one (protocol/chain-rules.ts preferredResult).

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
