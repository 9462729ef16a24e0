// A fedit peer: one libp2p host in one job, playing the member role every round and the aggregator role
// when elected (or when failing over for a silent aggregator). Many peers can live in one process (the
// simulation, tests): nothing here is global.
//
// Round r (completed = r - 1, global adapter hash h):
//   order = electionOrder(members, h, r); order[a] announces attempt a when attempt a is due:
//     a = 0 right after enough members are live; a + 1 when attempt a stays silent (no announce for one
//     deadline) or its aggregator publishes no result by deadline + grace.
//   selected members train from h and push their update; the aggregator aggregates at the deadline (or
//   when all answered), stores the new global adapter and publishes RoundResult; members fetch it by hash.
import './polyfill.ts'
import { EventEmitter } from 'node:events'
import { createHash } from 'node:crypto'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { JobSpec } from '../protocol/job-spec.ts'
import { RoundMessage } from '../protocol/messages.ts'
import type { RoundAnnounce, RoundResult, UpdateHeader } from '../protocol/messages.ts'
import { roundsTopic } from '../protocol/topics.ts'
import { electionOrder, selectRandomK } from '../protocol/election.ts'
import type { SelectFn } from '../protocol/election.ts'
import { decodeRoundMessage, Reject } from '../protocol/validation.ts'
import { checkAnnounce, checkUpdate } from '../protocol/round-rules.ts'
import type { Check } from '../protocol/round-rules.ts'
import { MAX_ATTEMPTS, ROUND_WINDOW } from '../protocol/limits.ts'
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { AggregateFn, ClientUpdate } from '../trainer/aggregate/types.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { createHost } from './host.ts'
import type { FeditHost } from './host.ts'
import { loadOrCreateKey } from './identity.ts'
import { decodeAdapter, encodeAdapter, layoutOf, peftConfigJson, sha256Hex } from './adapter-codec.ts'
import type { AdapterLayout } from './adapter-codec.ts'
import { fetchAdapter, pushUpdate, serveAdapters, serveUpdates, withRetries } from './transfer.ts'
import { runDiscovery } from './discovery.ts'
import { MemberView } from './member-view.ts'
import type { MemberStatus } from './member-view.ts'
import { nextTokensPerSecond } from './throughput.ts'
import { StateStore } from './state-store.ts'
import { RoundStage } from './round-stage.ts'
import { formatRound, roundInfoOf } from './round-info.ts'
import type { RoundInfo } from './round-info.ts'

export interface PeerTiming {
  /** between Hello heartbeats */
  readonly heartbeatMs: number
  /** a member without a Hello for this long is no longer live */
  readonly memberTtlMs: number
  /** how often the round clock is checked */
  readonly tickMs: number
  /** after enough members are live, wait this long before round 1 so every view has them */
  readonly settleMs: number
  /** extra wait for a RoundResult after the deadline before failing over */
  readonly graceMs: number
  readonly discoveryIntervalMs: number
  readonly transferTimeoutMs: number
}

export interface PeerOptions {
  readonly job: JobSpec
  readonly jobId: string
  /** the peer does not close it: the caller owns it */
  readonly trainer: LocalTrainer
  readonly aggregate: AggregateFn
  readonly stateDir: string
  readonly listen?: readonly string[]
  readonly bootstrap?: readonly string[]
  /** many peers on 127.0.0.1 (tests, simulation); see HostOptions.local */
  readonly local?: boolean
  readonly allowList?: ReadonlySet<string>
  readonly swarmKey?: Uint8Array
  /** default: stateDir/identity.key, created on first run */
  readonly privateKey?: PrivateKey
  readonly select?: SelectFn
  readonly timing?: Partial<PeerTiming>
  readonly logger?: (line: string) => void
  readonly device?: string
  /** local examples, advertised in Hello */
  readonly samples?: number
  /**
   * TEST SEAM, leave unset outside tests: awaited after a global adapter arrived and verified, before
   * fetchGlobal hands it on, so a test can hold a member behind (a slow fetch) deterministically.
   */
  readonly afterFetch?: (hash: string) => Promise<void>
  /**
   * TEST SEAM, leave unset outside tests: awaited after this peer aggregated a round and adopted its result,
   * before it publishes the RoundResult, so a test can make that result arrive late (after a failover
   * attempt's) deterministically.
   */
  readonly beforePublishResult?: (info: RoundInfo) => Promise<void>
}

export interface AnnounceEvent {
  readonly round: number
  readonly attempt: number
  readonly aggregator: string
  readonly selected: readonly string[]
  readonly members: readonly string[]
  /** Date.now() when this peer published (aggregator) or received (member) it */
  readonly at: number
  readonly mine: boolean
}

export interface PeerEvents {
  announce: [AnnounceEvent]
  trained: [{ readonly round: number, readonly attempt: number, readonly samples: number, readonly trainLoss: number }]
  result: [RoundInfo]
  /** a message, update or adapter from the network was refused */
  rejected: [{ readonly from: string, readonly reason: string, readonly where: 'gossip' | 'update' | 'adapter' | 'announce' | 'result' }]
  stage: [RoundStage]
  done: []
}

interface CurrentRound {
  readonly round: number
  /** when the round became due (or, with an accepted announce, unused) */
  since: number
  accepted: number
  announce?: { readonly attempt: number, readonly aggregator: string, readonly members: readonly string[], readonly selected: readonly string[], readonly deadlineMs: number }
  readonly aggregators: Map<number, string>
  readonly announcedByMe: Set<number>
}

interface Collector {
  readonly round: number
  readonly attempt: number
  readonly baseHash: string
  readonly selected: ReadonlySet<string>
  readonly received: Map<string, ClientUpdate & { trainLoss: number }>
  readonly rejected: Map<string, string>
  readonly deadlineMs: number
  readonly startedAt: number
  bytes: number
  closed: boolean
  timer?: NodeJS.Timeout
}

interface Trained { readonly round: number, readonly baseHash: string, readonly adapter: Adapter, readonly bytes: Uint8Array, readonly hash: string, readonly samples: number, readonly trainLoss: number }

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
const unhex = (s: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(s, 'hex'))

/** The per-peer, per-round training seed: reproducible, different for every peer and round. */
export function trainSeed (jobSeed: number, round: number, peer: string): number {
  return createHash('sha256').update(`${jobSeed}/${round}/${peer}`).digest().readUInt32BE(0) >>> 1
}

export class Peer {
  readonly events = new EventEmitter<PeerEvents>()
  readonly timing: PeerTiming
  private readonly opts: PeerOptions
  private readonly store: StateStore
  private readonly topic: string
  private readonly select: SelectFn
  private readonly log: (line: string) => void
  private host?: FeditHost
  private view?: MemberView
  private layout!: AdapterLayout
  private stageNow = RoundStage.Gathering
  private completed = 0
  private globalHash = ''
  private globalAdapter!: Adapter
  /**
   * Which result made our global adapter: its attempt and base. Two attempts of one round can both publish
   * (the elected aggregator's result arrives after the failover one also finished); every peer then keeps
   * the earlier attempt's, so the job does not fork. -1: unknown (restored or caught up), never replaced.
   */
  private globalAttempt = -1
  private globalBase = ''
  /** the first round after start: like round 1, it waits settleMs so the view holds the others' Hellos */
  private firstRound = 1
  private readonly adapters = new Map<string, Uint8Array>() // hash -> bytes we serve
  private roundLog: RoundInfo[] = []
  private cur!: CurrentRound
  private collector?: Collector
  private trained?: Trained
  private catchingUp = false
  /**
   * An announce for a round too far ahead of us (we are still fetching earlier results): gossip delivers it
   * once, so it is kept and checked again each time we adopt a result. Without it a member a result or two
   * behind missed the round it was selected for and the aggregator waited out its whole deadline
   * (bench/round: a 10 s round among 0.5 s ones). A few at most, from live members, not far ahead: a
   * forged one costs a re-check, nothing more.
   */
  private deferred: Array<{ readonly a: RoundAnnounce, readonly sender: string }> = []
  /** measured from our trainer's results, advertised in Hello */
  private tokensPerSecond = 0
  /** examples in our last round (or opts.samples until we trained), advertised in Hello */
  private samples = 0
  private nextHello = 0
  private ticker?: NodeJS.Timeout
  private readonly abort = new AbortController()
  private saving: Promise<void> = Promise.resolve()
  private stopped = false

  constructor (opts: PeerOptions) {
    this.opts = opts
    const deadlineMs = opts.job.roundDeadlineSeconds * 1000
    const hb = opts.timing?.heartbeatMs ?? 2000
    this.timing = {
      heartbeatMs: hb,
      memberTtlMs: opts.timing?.memberTtlMs ?? hb * 3,
      tickMs: opts.timing?.tickMs ?? Math.min(250, hb),
      settleMs: opts.timing?.settleMs ?? hb,
      graceMs: opts.timing?.graceMs ?? Math.max(1000, deadlineMs / 4),
      discoveryIntervalMs: opts.timing?.discoveryIntervalMs ?? 10_000,
      transferTimeoutMs: opts.timing?.transferTimeoutMs ?? Math.max(30_000, deadlineMs)
    }
    this.store = new StateStore(opts.stateDir, opts.jobId)
    this.samples = opts.samples ?? 0
    this.topic = roundsTopic(opts.jobId)
    this.select = opts.select ?? selectRandomK
    this.log = opts.logger ?? (() => {})
  }

  // ------------------------------------------------------------------ public face
  get peerId (): string { return this.host?.peerId.toString() ?? '' }
  get libp2p (): FeditHost { if (this.host === undefined) throw new Error('peer not started'); return this.host }
  get stage (): RoundStage { return this.stageNow }
  /** the current global adapter, its hash and the number of rounds it has seen */
  get global (): { readonly round: number, readonly hash: string, readonly adapter: Adapter } {
    return { round: this.completed, hash: this.globalHash, adapter: this.globalAdapter }
  }

  /** completed rounds this peer took part in or saw, in DESIGN.md's report shape */
  get rounds (): readonly RoundInfo[] { return this.roundLog }
  multiaddrs (): string[] { return this.libp2p.getMultiaddrs().map(String) }
  members (): string[] { return this.view?.live(Date.now()) ?? [] }
  /** what the live members last said of themselves (round, hash, capabilities) */
  memberStatus (): MemberStatus[] { return this.view?.statuses(Date.now()) ?? [] }
  /** the training speed this peer advertises (tokens/s, 0 until it trained) */
  get measuredTokensPerSecond (): number { return this.tokensPerSecond }

  async start (): Promise<void> {
    const { job } = this.opts
    const key = this.opts.privateKey ?? await loadOrCreateKey(this.store.keyPath)
    const initial = this.opts.trainer.initialAdapter(job.recipe.seed)
    this.layout = layoutOf(initial)
    const saved = this.store.load()
    if (saved !== undefined) {
      const d = decodeAdapter(saved.bytes, this.layout, this.maxAdapterBytes)
      if (!d.ok) throw new Error(`saved global adapter does not fit the job: ${d.reason}`)
      this.setGlobal(saved.round, saved.hash, saved.bytes, d.adapter)
      this.roundLog = this.store.loadRounds()
      this.log(`resuming at round ${saved.round} (global ${saved.hash.slice(0, 12)})`)
    } else {
      const bytes = encodeAdapter(initial)
      this.setGlobal(0, sha256Hex(bytes), bytes, initial)
      this.persist(undefined)
    }
    this.firstRound = this.completed + 1
    this.cur = this.freshRound(this.completed + 1)
    this.host = await createHost({ privateKey: key, listen: this.opts.listen, bootstrap: this.opts.bootstrap, local: this.opts.local, allowList: this.opts.allowList, swarmKey: this.opts.swarmKey })
    this.view = new MemberView(this.peerId, this.timing.memberTtlMs)
    await serveAdapters(this.host, { jobId: this.opts.jobId, lookup: (h) => this.adapters.get(h), timeoutMs: this.timing.transferTimeoutMs })
    await serveUpdates(this.host, {
      jobId: this.opts.jobId,
      maxBytes: this.maxAdapterBytes,
      timeoutMs: this.timing.transferTimeoutMs,
      admit: (sender, h) => this.admitUpdate(sender, h),
      accept: async (sender, h, bytes) => this.acceptUpdate(sender, h, bytes),
      onReject: (sender, reason) => this.rejectUpdate(sender, reason)
    })
    const pubsub = this.host.services.pubsub
    pubsub.topicValidators.set(this.topic, (_from, msg) => this.validateGossip(msg))
    pubsub.addEventListener('message', (evt) => { this.onGossip(evt.detail) })
    pubsub.subscribe(this.topic)
    runDiscovery(this.host, { jobId: this.opts.jobId, intervalMs: this.timing.discoveryIntervalMs, signal: this.abort.signal, onError: (e) => this.log(`discovery: ${e.message}`) }).catch(() => {})
    this.ticker = setInterval(() => { this.tick() }, this.timing.tickMs)
    this.log(`peer ${this.peerId} in job ${this.opts.jobId.slice(0, 12)}… at round ${this.completed}/${job.rounds}; listening on ${this.multiaddrs().join(' ')}`)
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.ticker)
    if (this.collector?.timer !== undefined) clearTimeout(this.collector.timer)
    this.abort.abort()
    await this.host?.stop()
    await this.saving
  }

  // ------------------------------------------------------------------ state
  private get maxAdapterBytes (): number { return Math.min(this.opts.job.maxAdapterBytes, this.layout.byteLength) }

  private setStage (s: RoundStage): void {
    if (s === this.stageNow) return
    this.stageNow = s
    this.events.emit('stage', s)
  }

  private freshRound (round: number): CurrentRound {
    return { round, since: Date.now(), accepted: -1, aggregators: new Map(), announcedByMe: new Set() }
  }

  private setGlobal (round: number, hash: string, bytes: Uint8Array, adapter: Adapter): void {
    this.completed = round
    this.globalHash = hash
    this.globalAdapter = adapter
    this.adapters.set(hash, bytes)
    // serve the newest few: members a round behind may still fetch the previous one
    while (this.adapters.size > 3) this.adapters.delete(this.adapters.keys().next().value!)
  }

  private persist (info: RoundInfo | undefined): void {
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
  private adopt (round: number, hash: string, bytes: Uint8Array, adapter: Adapter, info: RoundInfo | undefined, base = ''): void {
    if (round <= this.completed || this.stopped) return
    this.setGlobal(round, hash, bytes, adapter)
    this.globalAttempt = info !== undefined && base !== '' ? info.attempt : -1
    this.globalBase = base
    if (info !== undefined) this.roundLog.push(info)
    this.persist(info)
    if (this.collector !== undefined && this.collector.round <= round) { clearTimeout(this.collector.timer); this.collector = undefined }
    this.cur = this.freshRound(round + 1)
    this.log(info !== undefined ? formatRound(info, this.peerId) : `caught up to round ${round} (global ${hash.slice(0, 12)})`)
    if (info !== undefined) this.events.emit('result', info)
    this.nextHello = 0 // tell the others at once
    const replay = this.deferred.filter((d) => d.a.round > round).sort((x, y) => x.a.round - y.a.round)
    this.deferred = []
    if (replay.length > 0) {
      // checked afresh (window, election, deadline) now that we stand further on
      void (async () => { for (const d of replay) await this.onAnnounce(d.a, d.sender).catch((e: Error) => this.log(`announce: ${e.message}`)) })()
    }
    if (round >= this.opts.job.rounds) {
      this.setStage(RoundStage.Done)
      this.events.emit('done')
    } else {
      this.setStage(RoundStage.AwaitAnnounce)
    }
  }

  // ------------------------------------------------------------------ gossip
  private async publish (msg: Parameters<typeof RoundMessage.encode>[0]): Promise<void> {
    try {
      await this.libp2p.services.pubsub.publish(this.topic, RoundMessage.encode(msg))
    } catch (err) {
      if (!this.stopped) this.log(`publish failed: ${(err as Error).message}`)
    }
  }

  private validateGossip (msg: Message): TopicValidatorResult {
    const from = msg.type === 'signed' ? msg.from.toString() : 'unsigned'
    const reject = (reason: string): TopicValidatorResult => {
      this.events.emit('rejected', { from, reason, where: 'gossip' })
      return TopicValidatorResult.Reject
    }
    if (msg.type !== 'signed') return reject(Reject.Unsigned)
    if (this.opts.allowList !== undefined && !this.opts.allowList.has(from)) return reject(Reject.NotAllowed)
    const d = decodeRoundMessage(msg.data, this.opts.jobId)
    return d.valid ? TopicValidatorResult.Accept : reject(d.reason)
  }

  private onGossip (msg: Message): void {
    if (msg.topic !== this.topic || msg.type !== 'signed' || this.stopped) return
    const d = decodeRoundMessage(msg.data, this.opts.jobId)
    if (!d.valid) return
    const from = msg.from.toString()
    switch (d.message.kind) {
      case 'hello': {
        const h = d.message.hello
        this.view?.hello(from, h.round, hex(h.globalHash), Date.now(), { device: h.device, tokensPerSecond: h.tokensPerSecond, samples: h.samples })
        break
      }
      case 'announce': this.onAnnounce(d.message.announce, from).catch((e: Error) => this.log(`announce: ${e.message}`)); break
      case 'result': this.onResult(d.message.result, from).catch((e: Error) => this.log(`result: ${e.message}`)); break
    }
  }

  private sendHello (): void {
    this.nextHello = Date.now() + this.timing.heartbeatMs
    void this.publish({ hello: { jobId: this.opts.jobId, round: this.completed, globalHash: unhex(this.globalHash), device: this.opts.device ?? 'cpu', tokensPerSecond: this.tokensPerSecond, samples: this.samples } })
  }

  // ------------------------------------------------------------------ the round clock
  private tick (): void {
    if (this.stopped || this.view === undefined) return
    const now = Date.now()
    if (now >= this.nextHello) this.sendHello()
    this.maybeCatchUp(now)
    if (this.completed >= this.opts.job.rounds) return
    const r = this.completed + 1
    if (this.cur.round !== r) this.cur = this.freshRound(r)
    if (this.stageNow === RoundStage.Collecting || this.stageNow === RoundStage.Aggregating) return
    const silenceMs = this.opts.job.roundDeadlineSeconds * 1000
    let due: number
    let members: readonly string[]
    if (this.cur.announce === undefined) {
      const live = this.view.live(now)
      if (live.length < this.opts.job.minPeers) {
        this.cur.since = now
        this.setStage(RoundStage.Gathering)
        return
      }
      if (this.stageNow === RoundStage.Gathering) { this.cur.since = now; this.setStage(RoundStage.AwaitAnnounce) }
      const elapsed = now - this.cur.since - (r === this.firstRound ? this.timing.settleMs : 0)
      if (elapsed < 0) return
      due = Math.floor(elapsed / silenceMs)
      members = live
    } else {
      const expire = this.cur.announce.deadlineMs + this.timing.graceMs
      if (now < expire) return
      due = this.cur.accepted + 1 + Math.floor((now - expire) / silenceMs)
      // keep the announced members (silent aggregator included) so every member computes the same order
      members = this.cur.announce.members
    }
    if (due >= MAX_ATTEMPTS || this.cur.announcedByMe.has(due) || due <= this.cur.accepted) return
    const order = electionOrder(members, this.globalHash, r)
    if (order[due] !== this.peerId) return
    // a quorum already finished round r (we restarted behind, or missed its result): aggregating it again
    // would fork the job; maybeCatchUp fetches their adapter instead
    if (this.quorumAhead(now) !== undefined) return
    this.runAggregator(r, due, members)
  }

  /** the furthest (round, hash) past ours that a quorum of live peers report in their Hellos */
  private quorumAhead (now: number): ReturnType<MemberView['ahead']> {
    const others = this.view!.live(now).length - 1
    return this.view!.ahead(this.completed, Math.min(2, Math.max(1, others)), now)
  }

  /** Behind the others (missed results, restarted): fetch the global adapter that a quorum of live peers report. */
  private maybeCatchUp (now: number): void {
    if (this.catchingUp || this.view === undefined) return
    const ahead = this.quorumAhead(now)
    if (ahead === undefined) return
    if (this.collector !== undefined) {
      // a quorum is past the round we collect for: its result was made elsewhere (a failover that overtook us)
      this.log(`round ${this.collector.round}: the others are at round ${ahead.round} already; no result from us`)
      clearTimeout(this.collector.timer)
      this.collector.closed = true
      this.collector = undefined
      this.setStage(RoundStage.AwaitResult)
    }
    // one round behind is normal while a result is being fetched: from one round behind, catch up only once
    // the result is overdue (the announced deadline and the grace have passed, or no announce came for a grace)
    if (ahead.round === this.completed + 1) {
      const overdue = this.cur.announce !== undefined ? this.cur.announce.deadlineMs + this.timing.graceMs : this.cur.since + this.timing.graceMs
      if (now < overdue) return
    }
    this.catchingUp = true
    this.fetchGlobal(ahead.hash, ahead.holders)
      .then((g) => { if (g !== undefined) this.adopt(ahead.round, ahead.hash, g.bytes, g.adapter, undefined) })
      .catch(() => {})
      .finally(() => { this.catchingUp = false })
  }

  /**
   * Fetches and verifies a global adapter from the first source that has it: members whose Hello says they
   * hold it (in random order) before `from` (the aggregator that made it), so the members of a job do not
   * all fetch a new adapter from one peer at once; the hash check makes any holder as good as another.
   */
  private async fetchGlobal (hash: string, from: readonly string[]): Promise<{ bytes: Uint8Array, adapter: Adapter } | undefined> {
    const holders = (this.view?.holdersOf(hash, Date.now()) ?? []).filter((p) => !from.includes(p))
    for (let i = holders.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [holders[i], holders[j]] = [holders[j]!, holders[i]!] }
    const sources = [...new Set([...holders, ...from])].filter((p) => p !== this.peerId)
    for (const p of sources) {
      try {
        const bytes = await withRetries(3, async () => await fetchAdapter(this.libp2p, peerIdFromString(p), hash, { jobId: this.opts.jobId, maxBytes: this.maxAdapterBytes, timeoutMs: this.timing.transferTimeoutMs }))
        const d = decodeAdapter(bytes, this.layout, this.maxAdapterBytes)
        if (d.ok) {
          await this.opts.afterFetch?.(hash)
          return { bytes, adapter: d.adapter }
        }
        this.events.emit('rejected', { from: p, reason: d.reason, where: 'adapter' })
      } catch (err) {
        if (this.stopped) return undefined
        this.log(`fetch of ${hash.slice(0, 12)} from ${p.slice(-6)} failed: ${(err as Error).message}`)
        this.events.emit('rejected', { from: p, reason: (err as { reason?: string }).reason ?? 'stream_error', where: 'adapter' })
      }
    }
    return undefined
  }

  // ------------------------------------------------------------------ member role
  private async onAnnounce (a: RoundAnnounce, sender: string): Promise<void> {
    const now = Date.now()
    const baseHash = hex(a.baseHash)
    const known = new Set(this.view!.live(now)) // the sender counts only if it is live (sends Hellos)
    const check = checkAnnounce(a, baseHash, { sender, completedRound: this.completed, acceptedAttempt: this.cur.round === a.round ? this.cur.accepted : -1, knownMembers: known, nowMs: now })
    if (!check.ok) {
      if (check.reason === 'round_out_of_window' && a.round <= this.completed + 2 * ROUND_WINDOW && known.has(sender)) {
        this.deferred.push({ a, sender })
        if (this.deferred.length > 4) this.deferred.shift()
      }
      this.events.emit('rejected', { from: sender, reason: check.reason, where: 'announce' })
      return
    }
    if (a.round !== this.completed + 1 || baseHash !== this.globalHash) {
      // we are behind (or forked): take the elected aggregator's base before following its round
      const g = await this.fetchGlobal(baseHash, [sender])
      if (g === undefined) { this.events.emit('rejected', { from: sender, reason: Reject.BadField + ': unknown base', where: 'announce' }); return }
      // results may have come in while we fetched: never step back to an older global
      if (this.stopped || this.completed >= a.round || (this.cur.round === a.round && this.cur.accepted >= a.attempt)) return
      if (this.completed !== a.round - 1 || this.globalHash !== baseHash) {
        this.setGlobal(a.round - 1, baseHash, g.bytes, g.adapter)
        this.persist(undefined)
        this.cur = this.freshRound(a.round)
      }
    }
    this.acceptAnnounce(a, sender, now)
    if (this.collector !== undefined && this.collector.attempt < a.attempt) { clearTimeout(this.collector.timer); this.collector = undefined } // superseded
    if (a.selected.includes(this.peerId)) await this.trainAndSubmit(a.round, a.attempt, sender)
    else this.setStage(RoundStage.AwaitResult)
  }

  private acceptAnnounce (a: RoundAnnounce, aggregator: string, now: number): void {
    this.cur.accepted = a.attempt
    this.cur.aggregators.set(a.attempt, aggregator)
    this.cur.announce = { attempt: a.attempt, aggregator, members: [...a.members], selected: [...a.selected], deadlineMs: Number(a.deadlineMs) }
    this.events.emit('announce', { round: a.round, attempt: a.attempt, aggregator, selected: [...a.selected], members: [...a.members], at: now, mine: aggregator === this.peerId })
  }

  private async trainAndSubmit (round: number, attempt: number, aggregator: string): Promise<void> {
    const baseHash = this.globalHash
    let t = this.trained
    if (t === undefined || t.round !== round || t.baseHash !== baseHash) {
      this.setStage(RoundStage.Training)
      const res = await this.opts.trainer.train({ round, base: this.globalAdapter, seed: trainSeed(this.opts.job.recipe.seed, round, this.peerId), signal: this.abort.signal })
      const bytes = encodeAdapter(res.adapter)
      t = { round, baseHash, adapter: res.adapter, bytes, hash: sha256Hex(bytes), samples: res.samples, trainLoss: res.trainLoss }
      this.tokensPerSecond = nextTokensPerSecond(this.tokensPerSecond, res)
      this.samples = res.samples
      this.trained = t // a failover attempt of the same round reuses it instead of training again
      this.log(`round ${round}: trained on ${t.samples} examples in ${res.seconds.toFixed(1)} s, loss ${t.trainLoss.toFixed(4)}, ${Math.round(res.tokens / Math.max(res.seconds, 1e-9))} tok/s`)
      this.events.emit('trained', { round, attempt, samples: t.samples, trainLoss: t.trainLoss })
    }
    if (this.stopped || this.cur.round !== round || this.cur.accepted !== attempt) return // superseded meanwhile
    if (aggregator === this.peerId) {
      const c = this.collector
      if (c !== undefined && c.round === round && c.attempt === attempt && !c.closed) {
        // our own update passes the same checks as anyone's
        const d = decodeAdapter(t.bytes, this.layout, this.maxAdapterBytes)
        if (!d.ok) { this.rejectUpdate(this.peerId, d.reason); return }
        c.received.set(this.peerId, { peer: this.peerId, samples: t.samples, round, baseHash, adapter: d.adapter, trainLoss: t.trainLoss })
        this.maybeFinish(c)
      }
      return
    }
    this.setStage(RoundStage.Pushing)
    const header: UpdateHeader = { jobId: this.opts.jobId, round, attempt, baseHash: unhex(baseHash), samples: t.samples, trainLoss: t.trainLoss, size: BigInt(t.bytes.byteLength), adapterHash: unhex(t.hash) }
    try {
      // each attempt gets a limit sized to the update (5 s at least, 250 kB/s), not the whole transfer timeout:
      // a push stuck on a connection that is going away (seen under load in bench/round) is retried while the
      // aggregator still collects, instead of after its deadline
      const attemptMs = Math.min(this.timing.transferTimeoutMs, Math.max(5000, t.bytes.byteLength / 250))
      const ack = await withRetries(3, async () => await pushUpdate(this.libp2p, peerIdFromString(aggregator), header, t.bytes, attemptMs))
      if (!ack.accepted) this.log(`round ${round}: aggregator refused our update (${ack.reason})`)
    } catch (err) {
      if (!this.stopped) this.log(`round ${round}: could not push our update (${(err as Error).message})`)
    }
    if (this.cur.round === round && this.cur.accepted === attempt) this.setStage(RoundStage.AwaitResult)
  }

  private async onResult (r: RoundResult, sender: string): Promise<void> {
    if (this.isEarlierAttempt(r)) { await this.preferEarlierAttempt(r, sender); return }
    if (r.round <= this.completed) return // already have it (gossip may deliver twice)
    const reject = (reason: string): void => { this.events.emit('rejected', { from: sender, reason, where: 'result' }) }
    if (r.round === this.completed + 1) {
      if (hex(r.baseHash) !== this.globalHash) { reject('wrong_base'); return }
      const expected = this.cur.round === r.round ? this.cur.aggregators.get(r.attempt) : undefined
      // without its announce (missed it) we take a result from a live member; with it, only from its aggregator
      if (expected !== undefined ? expected !== sender : !this.view!.isLive(sender, Date.now())) { reject('not_aggregator'); return }
    } else if (!this.view!.isLive(sender, Date.now())) { reject('unknown_sender'); return }
    const hash = hex(r.newHash)
    const g = await this.fetchGlobal(hash, [sender])
    if (g === undefined) { reject('adapter_unavailable'); return }
    this.adopt(r.round, hash, g.bytes, g.adapter, roundInfoOf(r, sender), hex(r.baseHash))
  }

  /**
   * A result for the round we completed, from an earlier attempt than the one we adopted, on the same base:
   * the earlier attempt wins everywhere, so we switch to it and drop whatever we began on the other.
   */
  private isEarlierAttempt (r: RoundResult): boolean {
    return r.round === this.completed && this.globalAttempt > r.attempt && hex(r.baseHash) === this.globalBase && hex(r.newHash) !== this.globalHash
  }

  private async preferEarlierAttempt (r: RoundResult, sender: string): Promise<void> {
    if (!this.view!.isLive(sender, Date.now())) { this.events.emit('rejected', { from: sender, reason: 'unknown_sender', where: 'result' }); return }
    const hash = hex(r.newHash)
    const g = await this.fetchGlobal(hash, [sender])
    if (g === undefined) { this.events.emit('rejected', { from: sender, reason: 'adapter_unavailable', where: 'result' }); return }
    if (this.stopped || !this.isEarlierAttempt(r)) return // moved on (or switched) while fetching
    const info = roundInfoOf(r, sender)
    this.setGlobal(r.round, hash, g.bytes, g.adapter)
    this.globalAttempt = r.attempt
    const last = this.roundLog.length - 1
    if (last >= 0 && this.roundLog[last]!.round === r.round) this.roundLog[last] = info
    else this.roundLog.push(info)
    this.persist(info)
    if (this.collector !== undefined) { clearTimeout(this.collector.timer); this.collector = undefined }
    this.cur = this.freshRound(r.round + 1)
    this.log(`round ${r.round}: two attempts published a result; keeping the earlier one`)
    this.log(formatRound(info, this.peerId))
    this.events.emit('result', info)
    this.nextHello = 0
    this.setStage(r.round >= this.opts.job.rounds ? RoundStage.Done : RoundStage.AwaitAnnounce)
  }

  // ------------------------------------------------------------------ aggregator role
  private runAggregator (round: number, attempt: number, members: readonly string[]): void {
    const now = Date.now()
    this.cur.announcedByMe.add(attempt)
    const live = members.filter((m) => this.view!.isLive(m, now)) // a silent peer is not worth waiting for
    const selected = this.select({ members: live, k: this.opts.job.peersPerRound, prevGlobalHash: this.globalHash, round, attempt })
    const deadlineMs = now + this.opts.job.roundDeadlineSeconds * 1000
    const a: RoundAnnounce = { jobId: this.opts.jobId, round, attempt, baseHash: unhex(this.globalHash), members: [...members].sort(), selected, deadlineMs: BigInt(deadlineMs) }
    const c: Collector = { round, attempt, baseHash: this.globalHash, selected: new Set(selected), received: new Map(), rejected: new Map(), deadlineMs, startedAt: now, bytes: 0, closed: false }
    if (this.collector?.timer !== undefined) clearTimeout(this.collector.timer)
    this.collector = c
    c.timer = setTimeout(() => { this.finish(c) }, deadlineMs - now)
    this.acceptAnnounce(a, this.peerId, now)
    this.setStage(RoundStage.Collecting)
    this.log(`round ${round}${attempt > 0 ? ` (failover ${attempt})` : ''}: aggregating; selected ${selected.map((s) => s.slice(-6)).join(',')}`)
    void this.publish({ announce: a })
    if (c.selected.has(this.peerId)) this.trainAndSubmit(round, attempt, this.peerId).catch((e: Error) => this.log(`local training failed: ${e.message}`))
  }

  private admitUpdate (sender: string, h: UpdateHeader): Check {
    const c = this.collector
    if (c === undefined) return { ok: false, reason: 'not_aggregating' }
    return checkUpdate(h, hex(h.baseHash), { sender, round: c.round, attempt: c.attempt, baseHash: c.baseHash, selected: c.selected, received: new Set(c.received.keys()), deadlineMs: c.deadlineMs, nowMs: Date.now(), closed: c.closed })
  }

  private async acceptUpdate (sender: string, h: UpdateHeader, bytes: Uint8Array): Promise<Check> {
    const again = this.admitUpdate(sender, h) // the body took time: still open? not a duplicate meanwhile?
    if (!again.ok) return again
    const c = this.collector!
    const d = decodeAdapter(bytes, this.layout, this.maxAdapterBytes)
    if (!d.ok) { this.rejectUpdate(sender, d.reason); return { ok: false, reason: d.reason } }
    c.bytes += bytes.byteLength
    c.received.set(sender, { peer: sender, samples: h.samples, round: h.round, baseHash: c.baseHash, adapter: d.adapter, trainLoss: h.trainLoss })
    c.rejected.delete(sender)
    this.maybeFinish(c)
    return { ok: true }
  }

  private rejectUpdate (sender: string, reason: string): void {
    this.events.emit('rejected', { from: sender, reason, where: 'update' })
    const c = this.collector
    if (c !== undefined && c.selected.has(sender) && !c.received.has(sender)) c.rejected.set(sender, reason)
  }

  private maybeFinish (c: Collector): void {
    if (c.received.size === c.selected.size) this.finish(c)
  }

  private finish (c: Collector): void {
    if (c.closed || this.collector !== c) return
    c.closed = true
    clearTimeout(c.timer)
    if (this.completed !== c.round - 1 || this.stopped) return
    this.setStage(RoundStage.Aggregating)
    const updates = [...c.received.values()]
    const fail = (why: string): void => {
      this.log(`round ${c.round}: no result (${why}); the next in the failover order will retry`)
      this.collector = undefined
      this.setStage(RoundStage.AwaitResult)
    }
    if (updates.length === 0) { fail('no updates'); return }
    let res
    try {
      res = this.opts.aggregate(updates, { round: c.round, baseHash: c.baseHash, global: this.globalAdapter })
    } catch (err) {
      fail(`aggregation failed: ${(err as Error).message}`)
      return
    }
    const included = res.decisions.filter((d) => d.included).map((d) => d.peer)
    if (included.length === 0) { fail('every update was excluded'); return }
    const excluded = [
      ...res.decisions.filter((d) => !d.included).map((d) => ({ peer: d.peer, reason: (d.reason ?? 'excluded').slice(0, 200) })),
      ...[...c.selected].filter((p) => !c.received.has(p)).map((p) => ({ peer: p, reason: c.rejected.get(p) ?? 'no_update' }))
    ]
    const inc = updates.filter((u) => included.includes(u.peer))
    const samples = inc.reduce((s, u) => s + u.samples, 0)
    const trainLoss = inc.reduce((s, u) => s + u.trainLoss * u.samples, 0) / samples
    const bytes = encodeAdapter(res.adapter)
    const hash = sha256Hex(bytes)
    const result: RoundResult = {
      jobId: this.opts.jobId,
      round: c.round,
      attempt: c.attempt,
      baseHash: unhex(c.baseHash),
      newHash: unhex(hash),
      selected: [...c.selected].sort(),
      included: included.sort(),
      excluded,
      trainLoss,
      bytes: BigInt(c.bytes),
      seconds: (Date.now() - c.startedAt) / 1000,
      adapterBytes: BigInt(bytes.byteLength)
    }
    const info = roundInfoOf(result, this.peerId)
    this.adopt(c.round, hash, bytes, res.adapter, info, c.baseHash) // before publishing, so fetches find it
    const hold = this.opts.beforePublishResult?.(info)
    if (hold === undefined) void this.publish({ result })
    else void hold.then(async () => { if (!this.stopped) await this.publish({ result }) })
  }
}

export function createPeer (opts: PeerOptions): Peer {
  return new Peer(opts)
}
