// What a peer's roles share: where the job stands for us (our global adapter, the rounds log, the current
// round, the collector while we aggregate, our stage) and the few steps that change it for all of them
// (adopt a result, persist, publish). The behaviour lives in the roles: member-role.ts, aggregator-role.ts,
// catch-up.ts; peer.ts wires them to the host and the round clock.
import type { EventEmitter } from 'node:events'
import { RoundMessage } from '../protocol/messages.ts'
import type { UpdateCommit } from '../protocol/messages.ts'
import type { ClientUpdate } from '../trainer/aggregate/types.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { FeditHost } from './host.ts'
import { peftConfigJson } from './adapter-codec.ts'
import type { AdapterLayout } from './adapter-codec.ts'
import type { MemberView } from './member-view.ts'
import { StateStore } from './state-store.ts'
import { RoundStage } from './round-stage.ts'
import { formatRound } from './round-info.ts'
import type { RoundInfo } from './round-info.ts'
import { roundsTopic } from '../protocol/topics.ts'
import type { PeerEvents, PeerOptions, PeerTiming } from './peer.ts'
import type { PrivateKey } from '@libp2p/interface'
import type { Trust, FollowedAttempt } from './trust.ts'
import type { MembershipBook } from './membership-book.ts'

export interface CurrentRound {
  readonly round: number
  /** when the round became due (or, with an accepted announce, unused) */
  since: number
  accepted: number
  announce?: { readonly attempt: number, readonly aggregator: string, readonly members: readonly string[], readonly selected: readonly string[], readonly deadlineMs: number }
  readonly aggregators: Map<number, string>
  /** the announce of the attempt we follow: only its aggregator's result is considered */
  followed?: FollowedAttempt & { readonly attempt: number }
  readonly announcedByMe: Set<number>
}

/** the aggregator's round in progress */
export interface Collector {
  readonly round: number
  readonly attempt: number
  readonly baseHash: string
  readonly selected: ReadonlySet<string>
  readonly received: Map<string, ClientUpdate & { trainLoss: number, commit: UpdateCommit, bytes: Uint8Array }>
  readonly members: readonly string[]
  readonly rejected: Map<string, string>
  readonly deadlineMs: number
  readonly startedAt: number
  bytes: number
  closed: boolean
  timer?: NodeJS.Timeout
}

export class PeerCore {
  readonly store: StateStore
  readonly topic: string
  readonly log: (line: string) => void
  host?: FeditHost
  view?: MemberView
  key!: PrivateKey
  trust!: Trust
  book!: MembershipBook
  layout!: AdapterLayout
  stage = RoundStage.Gathering
  completed = 0
  globalHash = ''
  globalAdapter!: Adapter
  /**
   * Which result made our global adapter: its attempt and base. Two attempts of one round can both publish
   * (the elected aggregator's result arrives after the failover one also finished); every peer then keeps
   * the earlier attempt's, so the job does not fork. -1: unknown (restored or caught up), never replaced.
   */
  globalAttempt = -1
  globalBase = ''
  /** the first round after start: like round 1, it waits settleMs so the view holds the others' Hellos */
  firstRound = 1
  readonly adapters = new Map<string, Uint8Array>() // hash -> bytes we serve
  roundLog: RoundInfo[] = []
  cur!: CurrentRound
  collector?: Collector
  nextHello = 0
  readonly abort = new AbortController()
  saving: Promise<void> = Promise.resolve()
  stopped = false

  constructor (
    readonly opts: PeerOptions,
    readonly timing: PeerTiming,
    readonly events: EventEmitter<PeerEvents>,
    /** called as a result is adopted, before the stage moves on (the member role replays kept announces) */
    private readonly onAdopted: (round: number) => void
  ) {
    this.store = new StateStore(opts.stateDir, opts.jobId)
    this.topic = roundsTopic(opts.jobId)
    this.log = opts.logger ?? (() => {})
  }

  get peerId (): string { return this.host?.peerId.toString() ?? '' }
  get libp2p (): FeditHost { if (this.host === undefined) throw new Error('peer not started'); return this.host }
  get maxAdapterBytes (): number { return Math.min(this.opts.job.maxAdapterBytes, this.layout.byteLength) }

  setStage (s: RoundStage): void {
    if (s === this.stage) return
    this.stage = s
    this.events.emit('stage', s)
  }

  freshRound (round: number): CurrentRound {
    return { round, since: Date.now(), accepted: -1, aggregators: new Map(), announcedByMe: new Set() }
  }

  /** Follows an announce of the current round (ours or another's). */
  acceptAnnounce (a: { readonly round: number, readonly attempt: number, readonly members: readonly string[], readonly selected: readonly string[], readonly deadlineMs: bigint }, aggregator: string, now: number): void {
    this.cur.accepted = a.attempt
    this.cur.aggregators.set(a.attempt, aggregator)
    this.cur.followed = { attempt: a.attempt, aggregator, members: [...a.members] }
    this.cur.announce = { attempt: a.attempt, aggregator, members: [...a.members], selected: [...a.selected], deadlineMs: Number(a.deadlineMs) }
    this.events.emit('announce', { round: a.round, attempt: a.attempt, aggregator, selected: [...a.selected], members: [...a.members], at: now, mine: aggregator === this.peerId })
  }

  /** live members that count in round `round` (membership price paid, old enough, no evidence against them) */
  countedMembers (round: number, now: number): string[] {
    return this.view!.live(now).filter((m) => this.book.counts(m, round, this.peerId))
  }

  dropCollector (): void {
    if (this.collector === undefined) return
    clearTimeout(this.collector.timer)
    this.collector = undefined
  }

  setGlobal (round: number, hash: string, bytes: Uint8Array, adapter: Adapter): void {
    this.completed = round
    this.globalHash = hash
    this.globalAdapter = adapter
    this.adapters.set(hash, bytes)
    // serve the newest few: members a round behind may still fetch the previous one
    while (this.adapters.size > 3) this.adapters.delete(this.adapters.keys().next().value!)
  }

  persist (info: RoundInfo | undefined): void {
    const g = { round: this.completed, hash: this.globalHash, bytes: this.adapters.get(this.globalHash)! }
    const rounds = [...this.roundLog]
    const cfg = peftConfigJson(this.layout.config, this.opts.job.baseModel.id)
    // saves run one after another, in order, off the network path
    this.saving = this.saving.then(async () => {
      await this.store.saveGlobal(g, cfg)
      if (info !== undefined) await this.store.saveRounds(rounds)
    }).catch((err: Error) => { this.log(`state: could not save (${err.message})`) })
  }

  /** Takes a verified global adapter of round `round` as ours (`base`: the global it was made from, if known). */
  adopt (round: number, hash: string, bytes: Uint8Array, adapter: Adapter, info: RoundInfo | undefined, base = ''): void {
    if (round <= this.completed || this.stopped) return
    this.setGlobal(round, hash, bytes, adapter)
    this.globalAttempt = info !== undefined && base !== '' ? info.attempt : -1
    this.globalBase = base
    if (info !== undefined) this.roundLog.push(info)
    this.persist(info)
    if (this.collector !== undefined && this.collector.round <= round) this.dropCollector()
    this.cur = this.freshRound(round + 1)
    this.log(info !== undefined ? formatRound(info, this.peerId) : `caught up to round ${round} (global ${hash.slice(0, 12)})`)
    if (info !== undefined) this.events.emit('result', info)
    this.nextHello = 0 // tell the others at once
    this.onAdopted(round)
    if (round >= this.opts.job.rounds) {
      this.setStage(RoundStage.Done)
      this.events.emit('done')
    } else {
      this.setStage(RoundStage.AwaitAnnounce)
    }
  }

  async publish (msg: Parameters<typeof RoundMessage.encode>[0]): Promise<void> {
    try {
      await this.libp2p.services.pubsub.publish(this.topic, RoundMessage.encode(msg))
    } catch (err) {
      if (!this.stopped) this.log(`publish failed: ${(err as Error).message}`)
    }
  }
}
