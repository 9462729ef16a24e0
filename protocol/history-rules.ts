// Which history a round may start from (DESIGN.md "The job's history travels with its results"). A result names
// the history it started from (historyBase) and the one after it (historyHash); the first must be the previous
// result's historyHash. Starting from the empty history instead (a reset) is visible in the result, and a
// witness accepts it only when it cannot get the previous history either: a quorum of witnesses that hold it
// rejects a reset, so an aggregator cannot wipe its colluders' records; when nobody serves it, the round goes on.
// Pure: hashes are hex, '' is the empty history, undefined is "we do not know which history our global has".

export type HistoryBaseCheck =
  /** the result starts from the history we know (hash '' : the empty one) */
  | { readonly kind: 'continue', readonly hash: string }
  /**
   * the empty history instead of the non-empty one we know (`wiped`): only when that one cannot be had; or we do
   * not know ours (restored, caught up: `wiped` undefined), and cannot contest it
   */
  | { readonly kind: 'reset', readonly wiped: string | undefined }
  /** a non-empty history while we do not know our global's (restored or caught up): we cannot judge */
  | { readonly kind: 'unknown' }
  /** a history that is not the previous result's */
  | { readonly kind: 'forged' }

export function checkHistoryBase (known: string | undefined, named: string): HistoryBaseCheck {
  if (known === undefined) return named === '' ? { kind: 'reset', wiped: undefined } : { kind: 'unknown' }
  if (named === known) return { kind: 'continue', hash: known }
  if (named === '') return { kind: 'reset', wiped: known }
  return { kind: 'forged' }
}
