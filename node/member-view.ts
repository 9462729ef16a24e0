// Who is live in the job, from signed Hello heartbeats: a member is live for a few of the Hello intervals it
// announced (at least the view's TTL). Pure bookkeeping; the clock is passed in.
// Every peer hears every Hello, so if all Hello at the heartbeat each peer's share of the traffic (and of the
// signature checks) grows with the membership. Past `largeJobMembers` members only the peers with a role in the
// round that every member acts on (peer.ts hasRole: its aggregator and next failover candidate) keep the heartbeat
// (the selected trainers are probed by their aggregator instead, trainer-probe.ts); the others stretch their
// interval so that all of them together send about `idleHellosPerHeartbeat` Hellos per heartbeat, up to the cap.
// A receiver keeps a member live for INTERVALS_PER_TTL of the interval it announced, capped by what the job allows
// at the membership the receiver knows: a liar can claim no more than a quiet honest member of that job would.
import { MAX_HELLO_INTERVAL_MS } from '../protocol/limits.ts'
import { helloTtlMs } from '../protocol/membership.ts'

/** A member is live for this many of its announced Hello intervals (as the default TTL is 3 heartbeats). */
export const INTERVALS_PER_TTL = 3
/** Members a peer must know before the peers without a role stretch their Hello interval. */
export const LARGE_JOB_MEMBERS = 16
/** Hellos the job's peers without a role send per heartbeat, all together (up to the interval's cap). */
export const IDLE_HELLOS_PER_HEARTBEAT = 1
/** A member heard within this long counts as known (for the interval and its cap), live or not. */
const KNOWN_FOR_MS = INTERVALS_PER_TTL * MAX_HELLO_INTERVAL_MS

export interface HelloPlan {
  /** the heartbeat: the interval of peers with a role, and of every peer in a small job */
  readonly baseMs: number
  readonly largeJobMembers: number
  readonly idleHellosPerHeartbeat: number
}

/** The interval of a quiet member in a job of `known` members: ~idleHellosPerHeartbeat a heartbeat in all, capped. */
export function idleIntervalMs (plan: HelloPlan, known: number): number {
  const ms = Math.round(plan.baseMs * known / Math.max(plan.idleHellosPerHeartbeat, 1e-3))
  return Math.max(plan.baseMs, Math.min(MAX_HELLO_INTERVAL_MS, ms))
}

/**
 * The longest interval a receiver that knows `known` members accepts: the idle one, with a margin of half the
 * threshold (a sender may know a few more members than we do); a small job's members all Hello at the heartbeat.
 */
function intervalCapMs (plan: HelloPlan, known: number): number {
  return known <= plan.largeJobMembers / 2 ? plan.baseMs : idleIntervalMs(plan, known)
}

/** Our Hello interval, knowing `known` members: the heartbeat with a role or in a small job, else the idle one. */
export function helloIntervalMs (plan: HelloPlan, known: number, hasRole: boolean): number {
  return hasRole || known <= plan.largeJobMembers ? plan.baseMs : idleIntervalMs(plan, known)
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
  /** the Hello interval it announced (0 = unsaid); it stays live for INTERVALS_PER_TTL of them, capped */
  readonly intervalMs: number
  readonly capabilities?: Capabilities
  /** what its last Hello said of its reachability (protocol/election.ts Reachability; 0 = unsaid) */
  readonly reachability: number
}

export class MemberView {
  private readonly seen = new Map<string, MemberStatus>()
  /** peer -> when we first heard it stand on each of its last few rounds */
  private readonly reached = new Map<string, Array<{ readonly round: number, readonly at: number }>>()

  /** moves whenever the live set may change other than by a member outliving its last Hello (liveUntil) */
  liveVersion = 0

  /** when we last heard another member's own Hello (not a handed-on one): whether Hellos reach us at all */
  private lastHeardAt = -Infinity

  /** the known members and the interval cap, recomputed at most once a second (the cap is read per member) */
  private known = { at: -Infinity, count: 1, capMs: 0 }

  /**
   * `ttlMs`: a member is live at least this long after its last Hello. `plan`: the job's Hello plan, which caps an
   * announced interval (without it, the protocol's MAX_HELLO_INTERVAL_MS).
   */
  constructor (readonly self: string, readonly ttlMs: number, private readonly plan?: HelloPlan) {}

  /** `intervalMs`: the Hello interval the member announced (0 = unsaid: the view's own TTL) */
  hello (peer: string, round: number, hash: string, now: number, capabilities?: Capabilities, intervalMs = 0,
    beacon = '', reachability = 0): void {
    if (peer !== this.self) this.lastHeardAt = Math.max(this.lastHeardAt, now)
    this.set({ peer, round, hash, beacon, seenAt: now, intervalMs, reachability,
      ...(capabilities !== undefined ? { capabilities } : {}) })
    const reached = this.reached.get(peer) ?? []
    if (!reached.some((x) => x.round === round)) {
      reached.push({ round, at: now })
      if (reached.length > REACHED_KEPT) reached.shift()
      this.reached.set(peer, reached)
    }
  }

  /**
   * A member's Hello that another member handed on (members-exchange.ts), heard by it at `status.seenAt` (its
   * claim). It makes the member known and live, never newer than a Hello we heard ourselves, and it says nothing
   * of when the member adopted a round (reachedAt): that is the attempt clock's shared start, and one member's
   * word must not move it. `newer`: it is newer, by its author's sequence, than the Hello we took last: gossip
   * reorders (a joiner is sent the last seconds' messages after the newer ones), and a heartbeat Hello that reached
   * us after the member's next, quiet one kept it out of our view until a quiet interval later (bench scale: a joiner
   * refused the announces of rounds 1 to 3 as listing 3 members it did not count). Its word is taken then, and the
   * time we heard the member stays ours.
   */
  handedOn (status: MemberStatus, newer = false): boolean {
    const s = this.seen.get(status.peer)
    if (status.peer === this.self) return false
    if (s !== undefined && s.seenAt >= status.seenAt) {
      if (!newer) return false
      this.set({ ...status, seenAt: s.seenAt })
      return true
    }
    this.set(status)
    return true
  }

  private set (status: MemberStatus): void {
    const prev = this.seen.get(status.peer)
    if (prev === undefined) this.known.at = -Infinity
    // the live set may grow (a member not live before), or a member's time to live change (another interval)
    if (prev === undefined || !this.fresh(prev, status.seenAt) || prev.intervalMs !== status.intervalMs) {
      this.liveVersion++
    }
    this.seen.set(status.peer, status)
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
      if (peer === this.self || s === undefined || !this.fresh(s, now) || !counts(peer)) continue
      const t = list.filter((x) => x.round >= round).map((x) => x.at)
      times.push(t.length > 0 ? Math.min(...t) : Infinity)
    }
    const at = times.sort((a, b) => a - b)[Math.floor(times.length / 2)]
    return at === undefined || at === Infinity ? undefined : at
  }

  /**
   * Members heard in the last KNOWN_FOR_MS, self included, live or not: the job's size as this view knows it. It
   * does not depend on liveness, so a quiet member's long interval cannot shrink its own cap.
   */
  knownCount (now: number): number { return this.knownAt(now).count }

  private knownAt (now: number): { readonly count: number, readonly capMs: number } {
    if (Math.abs(now - this.known.at) < 1000) return this.known
    const count = 1 + this.heardLately(now).length
    const capMs = this.plan === undefined ? MAX_HELLO_INTERVAL_MS : intervalCapMs(this.plan, count)
    this.known = { at: now, count, capMs }
    return this.known
  }

  /** members heard within KNOWN_FOR_MS, live or not (self excluded) */
  heardLately (now: number): string[] {
    const out: string[] = []
    for (const s of this.seen.values()) if (s.peer !== this.self && now - s.seenAt <= KNOWN_FOR_MS) out.push(s.peer)
    return out
  }

  /** how long after its last Hello member `s` stays live: its announced intervals, capped at the job's */
  ttlOf (s: MemberStatus, now: number): number {
    return helloTtlMs(s.intervalMs, this.knownAt(now).capMs, this.ttlMs, INTERVALS_PER_TTL)
  }

  private fresh (s: MemberStatus, now: number): boolean { return now <= this.lapsesAt(s, now) }

  /** when member `s` stops being live unless it Hellos again (its TTL as the job's size known at `now` caps it) */
  private lapsesAt (s: MemberStatus, now: number): number { return s.seenAt + this.ttlOf(s, now) }

  /** the live members' last Hellos (self excluded), sorted by peer id */
  statuses (now: number): MemberStatus[] {
    return this.liveWhere(now, () => true).sort((a, b) => a.peer < b.peer ? -1 : 1)
  }

  /** the live members' last Hellos (self excluded) that `keep` selects, unsorted */
  liveWhere (now: number, keep: (s: MemberStatus) => boolean): MemberStatus[] {
    const out: MemberStatus[] = []
    for (const s of this.seen.values()) if (s.peer !== this.self && keep(s) && this.fresh(s, now)) out.push(s)
    return out
  }

  /** what member `peer`'s last Hello said of its reachability, live or not (0 = unsaid or never heard) */
  reachabilityOf (peer: string): number {
    return this.seen.get(peer)?.reachability ?? 0
  }

  forget (peer: string): void {
    this.known.at = -Infinity
    this.liveVersion++
    this.seen.delete(peer)
    this.reached.delete(peer)
  }

  /**
   * Live members, self included, sorted, and until when that list holds unless `liveVersion` moves: the first time
   * one of them outlives its last Hello. (A member that becomes live moves the version; one whose TTL shrinks as the
   * job's known size falls may outlive `until` by the caller's own bound.)
   */
  liveUntil (now: number): { readonly members: string[], readonly until: number } {
    let until = Infinity
    for (const s of this.seen.values()) {
      if (s.peer !== this.self && this.fresh(s, now)) until = Math.min(until, this.lapsesAt(s, now))
    }
    return { members: this.live(now), until }
  }

  /** live members, self included, sorted */
  live (now: number): string[] {
    const out = [this.self]
    for (const s of this.seen.values()) if (this.fresh(s, now) && s.peer !== this.self) out.push(s.peer)
    return out.sort()
  }

  /** how many members are live, self included (live(now).length, without the list) */
  liveCount (now: number): number {
    let n = 1
    for (const s of this.seen.values()) if (s.peer !== this.self && this.fresh(s, now)) n++
    return n
  }

  /**
   * Whether `peers` have all gone silent while others' Hellos still reach us: none of them live, and another
   * member's own Hello (not a handed-on one) heard after the last of them lapsed. Silence alone is no proof: a joiner
   * not yet in the gossip mesh knows the job from handed-on Hellos, and every heartbeat Hello in its view lapses
   * within seconds while their senders are alive.
   */
  goneSilent (peers: readonly string[], now: number): boolean {
    let lapsed = -Infinity
    for (const p of peers) {
      if (this.isLive(p, now)) return false
      const s = this.seen.get(p)
      if (s !== undefined) lapsed = Math.max(lapsed, this.lapsesAt(s, now))
    }
    return this.lastHeardAt > lapsed
  }

  /** member `peer`'s last Hello, live or not */
  lastOf (peer: string): MemberStatus | undefined { return this.seen.get(peer) }

  isLive (peer: string, now: number): boolean {
    if (peer === this.self) return true
    const s = this.seen.get(peer)
    return s !== undefined && this.fresh(s, now)
  }

  holdersOf (hash: string, now: number): string[] {
    return [...this.seen.values()].filter((s) => s.hash === hash && this.fresh(s, now)).map((s) => s.peer)
  }
}

/** rounds remembered per peer for reachedAt (the current and the few before it are all the clock asks for) */
const REACHED_KEPT = 4

