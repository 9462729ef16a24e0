// What a peer's roles share that is not the round's state: the options, the host and its transport, the
// member view, the adapter layout, the public events and the log. Set once at start (peer.ts) and then
// only read; the round's state (global adapter, current round, stage, collector) is round-state.ts's.
import type { EventEmitter } from 'node:events'
import { RoundMessage } from '../protocol/messages.ts'
import type { FeditHost } from './host.ts'
import type { AdapterLayout } from './adapter-codec.ts'
import type { MemberView } from './member-view.ts'
import type { PeerEvents, PeerOptions, PeerTiming, RejectedEvent, Transport } from './types.ts'
import type { PrivateKey } from '@libp2p/interface'
import type { Trust } from './trust.ts'
import type { MembershipBook } from './membership-book.ts'
import type { ReachabilityMonitor } from './reachability.ts'
import type { ChainStore } from './chain-store.ts'
import { isElectable } from '../protocol/election.ts'

export class PeerContext {
  readonly topic: string
  readonly log: (line: string) => void
  readonly abort = new AbortController()
  host?: FeditHost
  view?: MemberView
  key!: PrivateKey
  /** the trust rules: beacon, checks, witnesses, evidence (trust.ts) */
  trust!: Trust
  /** who counts: membership price and age (membership-book.ts) */
  book!: MembershipBook
  /** the confirmed rounds we adopted, with their proof (chain-store.ts) */
  chain!: ChainStore
  /** what this peer knows of its own and the others' reachability (reachability.ts) */
  reach?: ReachabilityMonitor
  layout!: AdapterLayout
  stopped = false
  /** asks member `peer` for the members it knows (members-exchange.ts); rate-limited there, never throws */
  askMembers: (peer: string, why: string) => void = () => {}
  /** sharedSince's last answer, and when it was worked out */
  private shared?: { readonly round: number, readonly at: number, readonly since: number | undefined }

  constructor (
    readonly opts: PeerOptions,
    readonly timing: PeerTiming,
    readonly events: EventEmitter<PeerEvents>,
    readonly transport: Transport,
    topic: string
  ) {
    this.topic = topic
    this.log = opts.logger ?? (() => {})
  }

  get peerId (): string { return this.host?.peerId.toString() ?? '' }
  get libp2p (): FeditHost { if (this.host === undefined) throw new Error('peer not started'); return this.host }
  get maxAdapterBytes (): number { return Math.min(this.opts.job.maxAdapterBytes, this.layout.byteLength) }

  /**
   * When round `round` became due for the counted others (a majority of them had adopted round - 1): the
   * attempt clock's shared start. A member that adopted late (a held-back fetch, a catch-up) would otherwise start
   * the round's clock on its own late observation and refuse the others' failover as not due. Undefined for
   * round 1 (due when enough members are live) or while no majority said so.
   */
  sharedSince (round: number, now: number): number | undefined {
    if (round < 2 || this.view === undefined) return undefined
    // what moves it comes in Hellos, a heartbeat apart: worked out once a heartbeat (1 s at most), not every tick
    // of every peer (each time over every member: 2 % of a 100-peer process's time in its rounds)
    const c = this.shared
    if (c?.round === round && now >= c.at && now - c.at < Math.min(1000, this.timing.heartbeatMs)) return c.since
    const since = this.view.reachedAt(round - 1, now, (m) => this.book.counts(m, round, this.peerId))
    this.shared = { round, at: now, since }
    return since
  }

  /** a message, update or adapter from `from` was refused: the public 'rejected' event */
  reject (from: string, reason: string, where: RejectedEvent['where'], round?: number): void {
    this.events.emit('rejected', { from, reason, where, ...(round !== undefined ? { round } : {}) })
  }

  /**
   * member m's Hellos stopped, or will have within `slackMs` (never in a frozen-membership run, where every
   * member is expected)
   */
  gone (m: string, now: number, slackMs = 0): boolean {
    return this.opts.members === undefined && this.view?.isLive(m, now + slackMs) !== true
  }

  /**
   * No one waits for member m's attempt: it is gone, or its last Hello said no one can reach it. A receiver
   * checking an announce passes a Hello interval of slack: the sender's view may have lost m's last Hello a
   * little before ours did (it gossips once; refused here, the failover would wait out the deadline).
   */
  passedOver (m: string, now: number, slackMs = 0): boolean {
    return this.gone(m, now, slackMs) || !isElectable(this.reachabilityOf(m))
  }

  /** as this peer knows it: itself from its addresses, the others from their last Hello (member-view.ts) */
  reachabilityOf (m: string): number {
    return m === this.peerId ? this.reach?.current ?? 0 : this.view?.reachabilityOf(m) ?? 0
  }

  /**
   * Live members that count in round `round` (membership price paid, old enough, no evidence against them), sorted.
   * Asked each tick and on each Hello while an announce waits for members (member-role.ts membersChanged): at 100
   * peers in one process that was ~4 % of its rounds' CPU (a sort and an age check per member each time). So the
   * list is kept while nothing it depends on moved (the round, the live set's version, the exclusions, the chain)
   * until its first member would outlive its Hello, a tick at most.
   */
  countedMembers (round: number, now: number): readonly string[] {
    const view = this.view!
    const key = `${round}|${view.liveVersion}|${this.book.excluded.size}|${this.chain.size}`
    const c = this.counted
    if (c !== undefined && c.key === key && now >= c.at && now < c.until) return c.members
    const live = view.liveUntil(now)
    const members = live.members.filter((m) => this.book.counts(m, round, this.peerId))
    this.counted = { key, at: now, until: Math.min(live.until, now + this.timing.tickMs), members }
    return members
  }

  private counted?: { readonly key: string, readonly at: number, readonly until: number,
    readonly members: readonly string[] }

  /**
   * The counted members that count for every member alike (MembershipBook.settled): what our elections run over
   * and our announces list. A receiver still takes any listed member it counts (countedMembers).
   */
  listedMembers (round: number, now: number): readonly string[] {
    const counted = this.countedMembers(round, now)
    if (this.listed?.of !== counted) {
      this.listed = { of: counted, members: counted.filter((m) => this.book.settled(m, round, this.peerId)) }
    }
    return this.listed.members
  }

  /** listedMembers of the countedMembers list it was made from (a new list whenever that one is made again) */
  private listed?: { readonly of: readonly string[], readonly members: readonly string[] }

  /** members that count for `round` and were heard lately, live or not (MemberView.heardLately) */
  knownMembers (round: number, now: number): string[] {
    return this.view!.heardLately(now).filter((m) => this.book.counts(m, round, this.peerId))
  }

  async publish (msg: Parameters<typeof RoundMessage.encode>[0]): Promise<void> {
    try {
      await this.transport.publish(this.libp2p, this.topic, RoundMessage.encode(msg))
    } catch (err) {
      if (!this.stopped) this.log(`publish failed: ${(err as Error).message}`)
    }
  }
}
