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
//
// This file is the peer's public face, its start and stop, the round clock and the gossip dispatch; the
// shared state is peer-core.ts, the roles member-role.ts, aggregator-role.ts and catch-up.ts.
import './polyfill.ts'
import { EventEmitter } from 'node:events'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import type { JobSpec } from '../protocol/job-spec.ts'
import { selectRandomK } from '../protocol/election.ts'
import type { SelectFn } from '../protocol/election.ts'
import { decodeRoundMessage, Reject } from '../protocol/validation.ts'
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { RoundResult } from '../protocol/messages.ts'
import type { AggregateFn } from '../trainer/aggregate/types.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { createHost } from './host.ts'
import type { FeditHost, HostOptions } from './host.ts'
import { loadOrCreateKey } from './identity.ts'
import { decodeAdapter, encodeAdapter, layoutOf, sha256Hex } from './adapter-codec.ts'
import { serveAdapters, serveUpdates } from './transfer.ts'
import { runDiscovery } from './discovery.ts'
import { helloIntervalMs, MemberView } from './member-view.ts'
import type { MemberStatus } from './member-view.ts'
import { RoundStage } from './round-stage.ts'
import type { RoundInfo } from './round-info.ts'
import { hex, unhex } from './hex.ts'
import { dueAttempt } from './round-clock.ts'
import { PeerCore } from './peer-core.ts'
import { MemberRole } from './member-role.ts'
import { AggregatorRole } from './aggregator-role.ts'
import { CatchUp } from './catch-up.ts'
import { Trust } from './trust.ts'
import { MembershipBook } from './membership-book.ts'
import { OPEN_JOB_MEMBERSHIP, PRIVATE_JOB_MEMBERSHIP, solvePow } from '../protocol/membership.ts'
import { fetchAdapter, withRetries } from './transfer.ts'
import { peerIdFromString } from '@libp2p/peer-id'

export { trainSeed } from './member-role.ts'

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

/** listen, bootstrap, local (many peers on 127.0.0.1), allowList and swarmKey go to the host as they are */
export interface PeerOptions extends Pick<HostOptions, 'listen' | 'bootstrap' | 'local' | 'allowList' | 'swarmKey'> {
  readonly job: JobSpec
  readonly jobId: string
  /** the peer does not close it: the caller owns it */
  readonly trainer: LocalTrainer
  readonly aggregate: AggregateFn
  readonly stateDir: string
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
  readonly beforePublishResult?: (info: RoundInfo, result: RoundResult) => Promise<void>
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
  rejected: [{ readonly from: string, readonly reason: string, readonly where: 'gossip' | 'hello' | 'update' | 'adapter' | 'announce' | 'result' | 'attestation', readonly round?: number }]
  stage: [RoundStage]
  done: []
}

export class Peer {
  readonly events = new EventEmitter<PeerEvents>()
  readonly timing: PeerTiming
  private readonly opts: PeerOptions
  private readonly core: PeerCore
  private readonly member: MemberRole
  private readonly aggregator: AggregatorRole
  private readonly catchUp: CatchUp
  private ticker?: NodeJS.Timeout
  private powNonce = 0n

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
    // the roles call each other only as the rounds run, never while being built
    this.core = new PeerCore(opts, this.timing, this.events, (round) => { this.member.replayDeferred(round) })
    this.catchUp = new CatchUp(this.core)
    this.aggregator = new AggregatorRole(this.core, async (round, attempt) => { await this.member.trainAndSubmit(round, attempt, this.core.peerId) })
    this.member = new MemberRole(this.core, this.catchUp, this.aggregator)
  }

  // ------------------------------------------------------------------ public face
  get peerId (): string { return this.core.peerId }
  get libp2p (): FeditHost { return this.core.libp2p }
  get stage (): RoundStage { return this.core.stage }
  /** the current global adapter, its hash and the number of rounds it has seen */
  get global (): { readonly round: number, readonly hash: string, readonly adapter: Adapter } {
    return { round: this.core.completed, hash: this.core.globalHash, adapter: this.core.globalAdapter }
  }

  /** completed rounds this peer took part in or saw, in DESIGN.md's report shape */
  get rounds (): readonly RoundInfo[] { return this.core.roundLog }
  multiaddrs (): string[] { return this.libp2p.getMultiaddrs().map(String) }
  members (): string[] { return this.core.view?.live(Date.now()) ?? [] }
  /** what the live members last said of themselves (round, hash, capabilities) */
  memberStatus (): MemberStatus[] { return this.core.view?.statuses(Date.now()) ?? [] }
  /** the training speed this peer advertises (tokens/s, 0 until it trained) */
  get measuredTokensPerSecond (): number { return this.member.tokensPerSecond }

  async start (): Promise<void> {
    const { job } = this.opts
    const core = this.core
    const key = this.opts.privateKey ?? await loadOrCreateKey(core.store.keyPath)
    const initial = this.opts.trainer.initialAdapter(job.recipe.seed)
    core.layout = layoutOf(initial)
    const saved = core.store.load()
    if (saved !== undefined) {
      const d = decodeAdapter(saved.bytes, core.layout, core.maxAdapterBytes)
      if (!d.ok) throw new Error(`saved global adapter does not fit the job: ${d.reason}`)
      core.setGlobal(saved.round, saved.hash, saved.bytes, d.adapter)
      core.roundLog = core.store.loadRounds()
      core.log(`resuming at round ${saved.round} (global ${saved.hash.slice(0, 12)})`)
    } else {
      const bytes = encodeAdapter(initial)
      core.setGlobal(0, sha256Hex(bytes), bytes, initial)
      core.persist(undefined)
    }
    core.firstRound = core.completed + 1
    core.cur = core.freshRound(core.completed + 1)
    core.key = key
    core.trust = new Trust({
      job, jobId: this.opts.jobId, stateDir: this.opts.stateDir, aggregate: this.opts.aggregate, select: this.opts.select ?? selectRandomK,
      self: () => this.peerId,
      key: () => key,
      log: core.log,
      reject: (from, reason, where, round) => { this.events.emit('rejected', { from, reason, where, round }) },
      publish: async (msg) => { await core.publish(msg) },
      fetch: async (from, hash) => await withRetries(2, async () => await fetchAdapter(this.libp2p, peerIdFromString(from), hash, { jobId: this.opts.jobId, maxBytes: core.maxAdapterBytes, timeoutMs: this.timing.transferTimeoutMs })),
      standing: () => ({ completed: core.completed, hash: core.globalHash, adapter: core.globalAdapter, layout: core.layout, maxAdapterBytes: core.maxAdapterBytes })
    })
    await core.trust.evidence.load()
    core.trust.events.on('confirmed', ({ result, aggregator }) => { this.member.adoptConfirmed(result, aggregator).catch((e: Error) => core.log(`result: ${e.message}`)) })
    core.trust.events.on('failover', (f) => { this.member.failOver(f.round, f.attempt) })
    const beacon = core.store.loadBeacon(core.completed)
    if (beacon !== undefined) core.trust.beacon = beacon
    // an allow-listed peer's owner vouches for every identity: no proof of work, no age
    const price = this.opts.allowList !== undefined ? PRIVATE_JOB_MEMBERSHIP : job.membership ?? OPEN_JOB_MEMBERSHIP
    core.book = new MembershipBook(this.opts.jobId, price, core.completed, core.trust.excluded)
    const host = core.host = await createHost({ privateKey: key, listen: this.opts.listen, bootstrap: this.opts.bootstrap, local: this.opts.local, allowList: this.opts.allowList, swarmKey: this.opts.swarmKey })
    core.view = new MemberView(this.peerId, this.timing.memberTtlMs)
    this.powNonce = solvePow(this.opts.jobId, this.peerId, price.powBits)
    await serveAdapters(host, { jobId: this.opts.jobId, lookup: (h) => core.adapters.get(h) ?? core.trust.served(h), timeoutMs: this.timing.transferTimeoutMs })
    await serveUpdates(host, {
      jobId: this.opts.jobId,
      maxBytes: core.maxAdapterBytes,
      timeoutMs: this.timing.transferTimeoutMs,
      admit: (sender, h) => this.aggregator.admitUpdate(sender, h),
      accept: async (sender, h, bytes) => await this.aggregator.acceptUpdate(sender, h, bytes),
      onReject: (sender, reason) => { this.aggregator.rejectUpdate(sender, reason) }
    })
    const pubsub = host.services.pubsub
    pubsub.topicValidators.set(core.topic, (_from, msg) => this.validateGossip(msg))
    pubsub.addEventListener('message', (evt) => { this.onGossip(evt.detail) })
    pubsub.subscribe(core.topic)
    runDiscovery(host, { jobId: this.opts.jobId, intervalMs: this.timing.discoveryIntervalMs, signal: core.abort.signal, onError: (e) => core.log(`discovery: ${e.message}`) }).catch(() => {})
    this.ticker = setInterval(() => { this.tick() }, this.timing.tickMs)
    core.log(`peer ${this.peerId} in job ${this.opts.jobId.slice(0, 12)}… at round ${core.completed}/${job.rounds}; listening on ${this.multiaddrs().join(' ')}`)
  }

  async stop (): Promise<void> {
    const core = this.core
    if (core.stopped) return
    core.stopped = true
    clearInterval(this.ticker)
    if (core.collector?.timer !== undefined) clearTimeout(core.collector.timer)
    core.abort.abort()
    await core.host?.stop()
    await core.saving
  }

  // ------------------------------------------------------------------ gossip
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
    const core = this.core
    if (msg.topic !== core.topic || msg.type !== 'signed' || core.stopped) return
    const d = decodeRoundMessage(msg.data, this.opts.jobId)
    if (!d.valid) return
    const from = msg.from.toString()
    switch (d.message.kind) {
      case 'hello': {
        const h = d.message.hello
        const now = Date.now()
        const view = core.view!
        const unpaid = core.book.hello(from, h.powNonce ?? 0n, core.completed, view.isLive(from, now))
        if (unpaid !== undefined) { this.events.emit('rejected', { from, reason: unpaid, where: 'hello', round: h.round }); break }
        // the sender's interval counts only up to the one the job sets at the membership we see
        const cap = helloIntervalMs(this.timing.heartbeatMs, view.live(now).length + 1)
        view.hello(from, h.round, hex(h.globalHash), now, { device: h.device, tokensPerSecond: h.tokensPerSecond, samples: h.samples }, Math.min(h.intervalMs, cap), hex(h.beacon))
        break
      }
      case 'attestation': core.trust.onAttestation(d.message.attestation, from).catch((e: Error) => core.log(`attestation: ${e.message}`)); break
      case 'announce': this.member.onAnnounce(d.message.announce, from).catch((e: Error) => core.log(`announce: ${e.message}`)); break
      case 'result': this.member.onResult(d.message.result, from).catch((e: Error) => core.log(`result: ${e.message}`)); break
    }
  }

  private sendHello (): void {
    const core = this.core
    const now = Date.now()
    const intervalMs = helloIntervalMs(this.timing.heartbeatMs, core.view?.live(now).length ?? 1)
    core.nextHello = now + intervalMs
    void core.publish({ hello: { jobId: this.opts.jobId, round: core.completed, globalHash: unhex(core.globalHash), device: this.opts.device ?? 'cpu', tokensPerSecond: this.member.tokensPerSecond, samples: this.member.samples, intervalMs, powNonce: this.powNonce, beacon: unhex(core.trust.beacon) } })
  }

  // ------------------------------------------------------------------ the round clock
  private tick (): void {
    const core = this.core
    if (core.stopped || core.view === undefined) return
    const now = Date.now()
    if (now >= core.nextHello) this.sendHello()
    this.catchUp.maybeCatchUp(now)
    if (core.completed >= this.opts.job.rounds) return
    const r = core.completed + 1
    if (core.cur.round !== r) core.cur = core.freshRound(r)
    if (core.stage === RoundStage.Collecting || core.stage === RoundStage.Aggregating) return
    let members: readonly string[]
    const counted = core.countedMembers(r, now)
    if (core.cur.announce === undefined) {
      const live = counted
      if (live.length < this.opts.job.minPeers) {
        core.cur.since = now
        core.setStage(RoundStage.Gathering)
        return
      }
      if (core.stage === RoundStage.Gathering) { core.cur.since = now; core.setStage(RoundStage.AwaitAnnounce) }
      members = live
    } else {
      // keep the announced members (silent aggregator included) so every member computes the same order
      members = core.cur.announce.members.filter((m) => !core.trust.excluded.has(m))
    }
    const settleMs = r === core.firstRound ? this.timing.settleMs : 0
    const silenceMs = this.opts.job.roundDeadlineSeconds * 1000
    // a signed result of the attempt we follow is being witnessed: one more silence before failing over
    const a = core.cur.announce
    if (a !== undefined && core.trust.awaiting(r, a.attempt) && now < a.deadlineMs + this.timing.graceMs + silenceMs) return
    const due = dueAttempt(core.cur, now, { silenceMs, graceMs: this.timing.graceMs, settleMs })
    if (due === undefined || core.trust.order(members, r)[due] !== this.peerId) return
    // a quorum already finished round r (we restarted behind, or missed its result): aggregating it again
    // would fork the job; maybeCatchUp fetches their adapter instead
    if (this.catchUp.quorumAhead(now) !== undefined) return
    this.aggregator.run(r, due, members)
  }
}

export function createPeer (opts: PeerOptions): Peer {
  return new Peer(opts)
}
