// When the next attempt of a round is due, from what a peer knows of the round: pure, the clock is passed in.
//   no announce yet: attempt a is due a * silence after the round became due (after the settle on a first
//     round), so the elected aggregator goes first and each next one in the order takes over a silence later;
//   announce accepted: its aggregator had until its deadline + grace to publish a result; from then on,
//     attempt accepted + 1 is due, then one more each silence. An aggregator whose Hellos stopped (gone) has
//     no deadline to wait for: the next attempt is due at once, and an attempt whose aggregator is gone is
//     skipped (it would never be announced), so a crash costs a few Hello intervals, not deadline + grace.
import { MAX_ATTEMPTS } from '../protocol/limits.ts'

export interface RoundClock {
  /** when the round became due */
  readonly since: number
  /** the attempt whose announce we follow, -1: none */
  readonly accepted: number
  readonly announce?: { readonly deadlineMs: number }
  /** attempts this peer announced itself */
  readonly announcedByMe: ReadonlySet<number>
}

export interface ClockTiming {
  /** how long an attempt may stay silent: the round deadline */
  readonly silenceMs: number
  readonly graceMs: number
  /** extra wait before the first attempt (a first round after start), else 0 */
  readonly settleMs: number
}

/**
 * The attempt that is due to be announced now, or undefined when none is (not yet, too many, or done).
 * `gone(a)`: attempt a's aggregator is no longer live (its Hellos stopped).
 */
export function dueAttempt (r: RoundClock, now: number, t: ClockTiming,
  gone: (attempt: number) => boolean = () => false): number | undefined {
  let due: number
  if (r.announce === undefined) {
    const elapsed = now - r.since - t.settleMs
    if (elapsed < 0) return undefined
    due = Math.floor(elapsed / t.silenceMs)
  } else {
    const expire = gone(r.accepted) ? now : r.announce.deadlineMs + t.graceMs
    if (now < expire) return undefined
    due = r.accepted + 1 + Math.floor((now - expire) / t.silenceMs)
  }
  while (due < MAX_ATTEMPTS && gone(due)) due++
  if (due >= MAX_ATTEMPTS || r.announcedByMe.has(due) || due <= r.accepted) return undefined
  return due
}
