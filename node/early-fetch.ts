// A member drawn for a role in the next round (its aggregator or the next in the order, a trainer, a witness)
// fetches a result's global adapter from the result's aggregator while the witnesses still judge it, and adopts it
// once they confirm it, as every member does. The next round waits on those few members' adoption: at 100 peers in
// one process a confirmation took 2-4 s and the fetch after it 2-3 s more (p90 ~10 s), in the burst of every
// member's fetch, so the elected aggregator announced late, another member's attempt clock ran out first, and
// trainers that adopted late missed the deadline (docs/performance.md, sessions 16-19). Fetched early, the bytes
// are checked as any fetch's (sha256, then the layout) and adopted only on the quorum: it buys time, not trust.
import type { RoundResult } from '../protocol/messages.ts'
import { hex } from './hex.ts'

/**
 * Early fetches kept at once: one per result hash, until its round is adopted or passed. An elected aggregator gone
 * bad may sign results for several attempts; a member fetches two of them at most early, the others after confirmation.
 */
const EARLY_KEPT = 2

/** the early fetches of one member (started from Trust's 'taken', handed to adoption once) */
export class EarlyFetch<T> {
  private readonly started = new Map<string, { readonly round: number, readonly fetched: Promise<T | undefined> }>()

  /** `fetch`: the global `hash` from `from` alone (one try: adoption fetches it again from the others) */
  constructor (private readonly fetch: (hash: string, from: string) => Promise<T | undefined>) {}

  /** Starts fetching `r`'s global from its aggregator: false when one for it is under way, or too many are. */
  start (r: RoundResult, aggregator: string): boolean {
    const hash = hex(r.newHash)
    if (this.started.has(hash) || this.started.size >= EARLY_KEPT) return false
    this.started.set(hash, { round: r.round, fetched: this.fetch(hash, aggregator).catch(() => undefined) })
    return true
  }

  /** The early fetch of `hash`, if one was started; handed over once, so its bytes are not held twice. */
  take (hash: string): Promise<T | undefined> | undefined {
    const e = this.started.get(hash)
    this.started.delete(hash)
    return e?.fetched
  }

  /** Round `completed` is adopted: early fetches of its results and older ones are of no use now. */
  forget (completed: number): void {
    for (const [hash, e] of this.started) if (e.round <= completed) this.started.delete(hash)
  }

  get size (): number { return this.started.size }
}

const PENDING = Symbol('pending')

/** where the early fetch stands when adoption's own fetch starts: none was started, it is being asked, it failed */
export type EarlyState = 'none' | 'under way' | 'failed'

/**
 * The global from an early fetch if it has it now; if it is still under way, from whichever finds it first, it or
 * `fetch` (started now: an aggregator that stalls the early fetch delays no one's adoption); else from `fetch`.
 * `fetch` is told where the early fetch stands: under way, its source is being asked already; failed, its source
 * has just stalled or refused us. `early`: whether the early fetch's bytes are the ones returned.
 */
export async function firstFetched<T> (early: Promise<T | undefined> | undefined,
  fetch: (early: EarlyState) => Promise<T | undefined>):
  Promise<{ readonly got: T | undefined, readonly early: boolean }> {
  if (early === undefined) return { got: await fetch('none'), early: false }
  // a settled promise first in a race wins it: this tells settled from pending without waiting
  const now = await Promise.race([early, Promise.resolve(PENDING)])
  if (now !== PENDING) {
    return now !== undefined ? { got: now, early: true } : { got: await fetch('failed'), early: false }
  }
  const late = fetch('under way')
  return await new Promise((resolve) => {
    let left = 2
    const settle = (got: T | undefined, isEarly: boolean): void => {
      if (got !== undefined) resolve({ got, early: isEarly })
      else if (--left === 0) resolve({ got: undefined, early: false })
    }
    early.then((g) => { settle(g, true) }, () => { settle(undefined, true) })
    late.then((g) => { settle(g, false) }, () => { settle(undefined, false) })
  })
}
