// Who is live in the job, from signed Hello heartbeats: a member is live while its last Hello is younger
// than the TTL. Pure bookkeeping; the clock is passed in.
// Every peer hears every Hello, so at a fixed interval each peer's share of the traffic (and of the signature
// checks) grows with the membership: 512 a second at 1024 members and a 2 s heartbeat. Past HELLOS_PER_HEARTBEAT
// members a peer stretches its interval in proportion (capped), says so in its Hellos, and the others keep it
// live for that much longer.
import { MAX_HELLO_INTERVAL_MS } from '../protocol/limits.ts'

/** Hellos a peer hears per base heartbeat, at most (up to the interval's cap), whatever the membership. */
export const HELLOS_PER_HEARTBEAT = 32
/** A member is live for this many of its announced Hello intervals (as the default TTL is 3 heartbeats). */
export const INTERVALS_PER_TTL = 3

/** The Hello interval of a peer that sees `live` members: the base heartbeat, longer past HELLOS_PER_HEARTBEAT. */
export function helloIntervalMs (baseMs: number, live: number): number {
  return Math.max(baseMs, Math.min(MAX_HELLO_INTERVAL_MS, Math.round(baseMs * live / HELLOS_PER_HEARTBEAT)))
}

/** what a member's Hello says of its machine */
export interface Capabilities {
  readonly device: string
  /** measured training speed, 0 = not measured yet */
  readonly tokensPerSecond: number
  readonly samples: number
}

export interface MemberStatus {
  readonly peer: string
  readonly round: number
  readonly hash: string
  /** the seed of its next round (hex), '' when unsaid */
  readonly beacon: string
  readonly seenAt: number
  /** live until seenAt + ttlMs */
  readonly ttlMs: number
  readonly capabilities?: Capabilities
  /** what its last Hello said of its reachability (protocol/election.ts Reachability; 0 = unsaid) */
  readonly reachability: number
}

export class MemberView {
  private readonly seen = new Map<string, MemberStatus>()
  /** peer -> when we first heard it stand on each of its last few rounds */
  private readonly reached = new Map<string, Array<{ readonly round: number, readonly at: number }>>()

  constructor (readonly self: string, readonly ttlMs: number) {}

  /** `intervalMs`: the Hello interval the member announced (0 = unsaid: the view's own TTL) */
  hello (peer: string, round: number, hash: string, now: number, capabilities?: Capabilities, intervalMs = 0,
    beacon = '', reachability = 0): void {
    const ttlMs = Math.max(this.ttlMs, INTERVALS_PER_TTL * Math.min(intervalMs, MAX_HELLO_INTERVAL_MS))
    this.seen.set(peer, { peer, round, hash, beacon, seenAt: now, ttlMs, reachability,
      ...(capabilities !== undefined ? { capabilities } : {}) })
    const reached = this.reached.get(peer) ?? []
    if (!reached.some((x) => x.round === round)) {
      reached.push({ round, at: now })
      if (reached.length > REACHED_KEPT) reached.shift()
      this.reached.set(peer, reached)
    }
  }

  /**
   * When a majority of the live peers that `counts` (self aside) had said they stand on round `round` or later:
   * the middle one of the first Hellos saying so. Peers send one as soon as they adopt a result, so this is when
   * round + 1 became due for most of them, as every member heard it; a minority of liars claiming a far round
   * early cannot move it. Undefined while no majority said so.
   */
  reachedAt (round: number, now: number, counts: (peer: string) => boolean): number | undefined {
    const times: number[] = []
    for (const [peer, list] of this.reached) {
      const s = this.seen.get(peer)
      if (peer === this.self || s === undefined || !fresh(s, now) || !counts(peer)) continue
      const t = list.filter((x) => x.round >= round).map((x) => x.at)
      times.push(t.length > 0 ? Math.min(...t) : Infinity)
    }
    const at = times.sort((a, b) => a - b)[Math.floor(times.length / 2)]
    return at === undefined || at === Infinity ? undefined : at
  }

  /** the live members' last Hellos (self excluded), sorted by peer id */
  statuses (now: number): MemberStatus[] {
    return [...this.seen.values()].filter((s) => fresh(s, now) && s.peer !== this.self)
      .sort((a, b) => a.peer < b.peer ? -1 : 1)
  }

  /** what member `peer`'s last Hello said of its reachability, live or not (0 = unsaid or never heard) */
  reachabilityOf (peer: string): number {
    return this.seen.get(peer)?.reachability ?? 0
  }

  forget (peer: string): void {
    this.seen.delete(peer)
    this.reached.delete(peer)
  }

  /** live members, self included, sorted */
  live (now: number): string[] {
    const out = [this.self]
    for (const s of this.seen.values()) if (fresh(s, now) && s.peer !== this.self) out.push(s.peer)
    return out.sort()
  }

  isLive (peer: string, now: number): boolean {
    if (peer === this.self) return true
    const s = this.seen.get(peer)
    return s !== undefined && fresh(s, now)
  }

  holdersOf (hash: string, now: number): string[] {
    return [...this.seen.values()].filter((s) => s.hash === hash && fresh(s, now)).map((s) => s.peer)
  }
}

/** rounds remembered per peer for reachedAt (the current and the few before it are all the clock asks for) */
const REACHED_KEPT = 4

const fresh = (s: MemberStatus, now: number): boolean => now - s.seenAt <= s.ttlMs
