// A fedit peer: one libp2p host in one job, playing the member role every round and the aggregator role
// when elected (or when failing over for a silent aggregator). Many peers can live in one process (the
// simulation, tests): nothing here is global.
//
// Round r (completed = r - 1, beacon b: the seed no one chooses, protocol/seeds.ts):
//   order = electionOrder(members that count, b, r); order[a] announces attempt a when attempt a is due:
//     a = 0 right after enough members are live; a + 1 when attempt a stays silent (no announce for one
//     deadline) or its aggregator publishes no result by deadline + grace.
//   selected members train from the global adapter and push their signed update; the aggregator aggregates at
//   the deadline (or when all answered) and publishes a signed RoundResult; its witnesses recompute it and attest;
//   members (the aggregator too) adopt it with a quorum of agreeing attestations (trust.ts).
//
// This file is the peer's public face, its start and stop, the round clock and the gossip dispatch. The
// round's state and its transitions are round-state.ts (the only writer of the global adapter); the roles
// (member-role.ts, aggregator-role.ts, catch-up.ts) act on its events; docs/round.md walks one round.
import './polyfill.ts'
import { EventEmitter } from 'node:events'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import { aggregatorAt, electableAttempt, selectRandomK } from '../protocol/election.ts'
import { OPEN_JOB_MEMBERSHIP, PRIVATE_JOB_MEMBERSHIP, solvePow } from '../protocol/membership.ts'
import { decodeRoundMessage } from '../protocol/validation.ts'
import { RoundMessage } from '../protocol/messages.ts'
import type { Hello } from '../protocol/messages.ts'
import { witnessesOf } from '../protocol/seeds.ts'
import type { DecodedRoundMessage } from '../protocol/validation.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { roundsTopic } from '../protocol/topics.ts'
import { MAX_ATTEMPTS } from '../protocol/limits.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { JobHistory } from '../trainer/aggregate/history.ts'
import { createHost } from './host.ts'
import type { FeditHost } from './host.ts'
import { loadOrCreateKey } from './identity.ts'
import { decodeAdapter, encodeAdapter, layoutOf, peftConfigJson, sha256Hex } from './adapter-codec.ts'
import { libp2pTransport, serveAdapters, serveUpdates, withRetries } from './transfer.ts'
import { runDiscovery, TARGET_MEMBERS } from './discovery.ts'
import { MAX_CONNECTED_PEERS, TRIM_GRACE_MS, TRIM_INTERVAL_MS, trimConnections } from './connection-trim.ts'
import { MemberAddresses, ownAddrs } from './member-addresses.ts'
import { helloIntervalMs, IDLE_HELLOS_PER_HEARTBEAT, LARGE_JOB_MEMBERS, MemberView } from './member-view.ts'
import type { HelloPlan } from './member-view.ts'
import type { MemberStatus } from './member-view.ts'
import { RoundStage } from './round-stage.ts'
import type { RoundInfo } from './round-info.ts'
import { hex, unhex } from './hex.ts'
import { dueAttempt } from './round-clock.ts'
import { StateStore } from './state-store.ts'
import { PeerContext } from './peer-context.ts'
import { RoundState } from './round-state.ts'
import { MemberRole } from './member-role.ts'
import { AggregatorRole } from './aggregator-role.ts'
import { CatchUp } from './catch-up.ts'
import { ChainStore } from './chain-store.ts'
import { checkSavedHistory } from './saved-history.ts'
import { serveChain } from './chain-sync.ts'
import { MembersExchange, serveMembers } from './members-exchange.ts'
import { sealEnvelope } from './gossip-envelope.ts'
import { getHistory } from './history-fetch.ts'
import { ReachabilityMonitor } from './reachability.ts'
import type { PathCounts } from './reachability.ts'
import { Trust } from './trust.ts'
import { MembershipBook } from './membership-book.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerEvents, PeerOptions, PeerTiming } from './types.ts'

export { trainSeed } from './member-role.ts'
export type { AnnounceEvent, PeerEvents, PeerOptions, PeerTiming, Transport } from './types.ts'

export class Peer {
  readonly events = new EventEmitter<PeerEvents>()
  readonly timing: PeerTiming
  private readonly opts: PeerOptions
  private readonly ctx: PeerContext
  private readonly store: StateStore
  private readonly state: RoundState
  private readonly member: MemberRole
  private readonly aggregator: AggregatorRole
  private readonly catchUp: CatchUp
  private exchange?: MembersExchange
  /** where the members listen, by their Hellos, told to the peer store */
  private addresses?: MemberAddresses
  /** gossip decoded once, by the validator, for the handler (gossipsub hands both the same Message) */
  private readonly decoded = new WeakMap<Message, DecodedRoundMessage>()
  private nextHello = 0
  /** the interval our last Hello announced: the others expect the next one within it */
  private helloInterval = Infinity
  private powNonce = 0n
  private ticker?: NodeJS.Timeout
  private trim?: { readonly closed: () => number }
  /** the round/attempt whose hold-back (a catch-up) we last logged: said when it begins, not every tick */
  private heldBackSaid = ''

  constructor (opts: PeerOptions) {
    this.opts = opts
    const deadlineMs = opts.job.roundDeadlineSeconds * 1000
    const hb = opts.timing?.heartbeatMs ?? 2000
    this.timing = {
      heartbeatMs: hb,
      memberTtlMs: opts.timing?.memberTtlMs ?? hb * 3,
      largeJobMembers: opts.timing?.largeJobMembers ?? LARGE_JOB_MEMBERS,
      idleHellosPerHeartbeat: opts.timing?.idleHellosPerHeartbeat ?? IDLE_HELLOS_PER_HEARTBEAT,
      quietFetchMs: opts.timing?.quietFetchMs ?? 0, // off: docs/performance.md (session 17) says why
      tickMs: opts.timing?.tickMs ?? Math.min(250, hb),
      settleMs: opts.timing?.settleMs ?? hb,
      graceMs: opts.timing?.graceMs ?? Math.max(1000, deadlineMs / 4),
      discoveryIntervalMs: opts.timing?.discoveryIntervalMs ?? 10_000,
      transferTimeoutMs: opts.timing?.transferTimeoutMs ?? Math.max(30_000, deadlineMs),
      maxConnectedPeers: opts.timing?.maxConnectedPeers ?? MAX_CONNECTED_PEERS,
      trimGraceMs: opts.timing?.trimGraceMs ?? TRIM_GRACE_MS,
      trimIntervalMs: opts.timing?.trimIntervalMs ?? TRIM_INTERVAL_MS
    }
    const ctx = this.ctx = new PeerContext(opts, this.timing, this.events, opts.transport ?? libp2pTransport,
      roundsTopic(opts.jobId))
    this.store = new StateStore(opts.stateDir, opts.jobId)
    const state = this.state =
      new RoundState({ store: this.store, rounds: opts.job.rounds, log: ctx.log, self: () => ctx.peerId })
    // the public events the state emits, forwarded before any role reacts
    state.events.on('announce', (e) => { this.events.emit('announce', e) })
    state.events.on('result', (i) => { this.events.emit('result', i) })
    state.events.on('stage', (s) => { this.events.emit('stage', s) })
    state.events.on('done', () => { this.events.emit('done') })
    // a new global adapter: tell the others at once, unless we are a quiet member of a large job (Helloing slowly).
    // All of those at once on each adoption was a burst of N Hellos, each heard ~6 times by every one of N peers;
    // their drawn Hello carries the new round when it comes; the aggregator, which holds the new adapter first,
    // Hellos at the heartbeat, and the agreeing witnesses are named as sources by their attestations. Drawn for a
    // role in the next round, a quiet member says so at once
    state.events.on('adopted', () => { this.helloOnNewGlobal() })
    state.events.on('followed', () => { this.helloOnNewGlobal() })
    // drawn for a role (selected, next in the order) while Helloing slowly: say so at once, so the others
    // see us at the heartbeat (and notice our failure as fast) from now on
    state.events.on('announce', () => { this.helloIfDrawn() })
    state.events.on('stage', (s) => { if (s === RoundStage.AwaitAnnounce) this.helloIfDrawn() })
    this.catchUp = new CatchUp(ctx, state, (now) => this.member.isAdopting(now))
    this.aggregator = new AggregatorRole(ctx, state)
    this.member = new MemberRole(ctx, state)
  }

  // ------------------------------------------------------------------ public face
  get peerId (): string { return this.ctx.peerId }
  get libp2p (): FeditHost { return this.ctx.libp2p }
  get stage (): RoundStage { return this.state.stage }
  /** the current global adapter, its hash and the number of rounds it has seen */
  get global (): { readonly round: number, readonly hash: string, readonly adapter: Adapter } {
    return { round: this.state.completed, hash: this.state.globalHash, adapter: this.state.globalAdapter }
  }

  /** the job's per-peer history that goes with our global adapter (hash '' : empty; undefined: unknown to us) */
  get jobHistory (): { readonly hash: string | undefined, readonly value?: JobHistory } {
    const hash = this.state.historyHash
    const held = hash === undefined ? undefined : this.state.heldHistory(hash)
    return { hash, ...(held !== undefined ? { value: held.value } : {}) }
  }

  /** completed rounds this peer took part in or saw, in DESIGN.md's report shape */
  get rounds (): readonly RoundInfo[] { return this.state.rounds }
  multiaddrs (): string[] { return this.libp2p.getMultiaddrs().map(String) }
  members (): string[] { return this.ctx.view?.live(Date.now()) ?? [] }
  /** connected peers subscribed to the job's topic (gossipsub's view; 0 before start) */
  gossipPeers (): number {
    try { return this.libp2p.services.pubsub.getSubscribers(this.ctx.topic).length } catch { return 0 }
  }
  /** what member `peer` last said of itself, live or not (undefined: never heard) */
  lastHello (peer: string): MemberStatus | undefined { return this.ctx.view?.lastOf(peer) }
  /** what the live members last said of themselves (round, hash, capabilities) */
  memberStatus (): MemberStatus[] { return this.ctx.view?.statuses(Date.now()) ?? [] }
  /** peers this one holds evidence against (excluded from elections, selection and witnessing) */
  excluded (): string[] { return [...this.ctx.trust.excluded] }
  /** the training speed this peer advertises (tokens/s, 0 until it trained) */
  get measuredTokensPerSecond (): number { return this.member.tokensPerSecond }
  /** peers this one disconnected to keep its connection set bounded (connection-trim.ts) */
  get trimmedPeers (): number { return this.trim?.closed() ?? 0 }
  /** what this peer's Hellos say of its reachability (protocol/election.ts Reachability) */
  get reachability (): number { return this.ctx.reach?.current ?? 0 }
  /** how many adapter transfers this peer started went direct or through a relay, and their bytes */
  get transferPaths (): Readonly<PathCounts> | undefined { return this.ctx.reach?.paths }

  async start (): Promise<void> {
    const { job } = this.opts
    const { ctx, state, store } = this
    const key = this.opts.privateKey ?? await loadOrCreateKey(store.keyPath)
    const initial = this.opts.trainer.initialAdapter(job.recipe.seed)
    ctx.layout = layoutOf(initial)
    const cfg = peftConfigJson(ctx.layout.config, job.baseModel.id)
    const saved = store.load()
    if (saved !== undefined) {
      const d = decodeAdapter(saved.bytes, ctx.layout, ctx.maxAdapterBytes)
      if (!d.ok) throw new Error(`saved global adapter does not fit the job: ${d.reason}`)
      state.begin({ ...saved, adapter: d.adapter }, cfg, { rounds: store.loadRounds() })
      ctx.log(`resuming at round ${saved.round} (global ${saved.hash.slice(0, 12)})`)
    } else {
      const bytes = encodeAdapter(initial)
      state.begin({ round: 0, hash: sha256Hex(bytes), bytes, adapter: initial }, cfg)
    }
    ctx.key = key
    ctx.trust = new Trust({
      job,
      jobId: this.opts.jobId,
      stateDir: this.opts.stateDir,
      aggregate: this.opts.aggregate,
      select: this.opts.select ?? selectRandomK,
      self: () => this.peerId,
      key: () => key,
      log: ctx.log,
      saveBeacon: async (round, b) => { await store.saveBeacon(round, b) },
      reject: (from, reason, where, round) => { ctx.reject(from, reason, where, round) },
      publish: async (msg) => { await ctx.publish(msg) },
      // the whole transfer timeout a try, not tryLimitMs: a witness has one source, and an update it cannot fetch
      // is a disagreement, which a quorum of convicts the aggregator; it must not come of a loaded loop
      fetch: async (from, hash) => await withRetries(2, async () => await ctx.transport.fetchAdapter(ctx.libp2p,
        peerIdFromString(from), hash, { jobId: this.opts.jobId, maxBytes: ctx.maxAdapterBytes,
        timeoutMs: this.timing.transferTimeoutMs, what: 'update' })),
      history: async (hash, from) => (await getHistory(ctx, state, hash, from, state.globalHash))?.value,
      standing: () => ({ completed: state.completed, hash: state.globalHash, adapter: state.globalAdapter,
        layout: ctx.layout, maxAdapterBytes: ctx.maxAdapterBytes, historyHash: state.historyHash }),
      clock: (round, now) => this.member.clockOf(round, now),
      passedOver: (m, now) => ctx.passedOver(m, now, this.timing.heartbeatMs)
    })
    await ctx.trust.evidence.load()
    ctx.chain = new ChainStore(this.opts.stateDir, ctx.log)
    ctx.chain.load()
    if (saved !== undefined) {
      const h = checkSavedHistory(store.loadHistory(), ctx.chain.get(saved.round), saved)
      if (h.ok) state.restoreHistory(h.history)
      ctx.log(h.ok
        ? `resuming with the job's history ${h.history.hash === '' ? '(none kept)' : h.history.hash.slice(0, 12)}`
        : `the saved job history is not used (${h.reason}): unknown until the next result`)
    }
    const beacon = store.loadBeacon(state.completed)
    this.catchUp.setGenesis({ round: 0, hash: sha256Hex(encodeAdapter(initial)), beacon: ctx.trust.beacon },
      beacon === undefined && state.completed > 0)
    if (beacon !== undefined) ctx.trust.beacon = beacon
    ctx.trust.events.on('confirmed', ({ result, aggregator, members, attestations }) => {
      this.member.adoptConfirmed(result, aggregator, members, attestations)
        .catch((e: Error) => { ctx.log(`result: ${e.message}`) })
    })
    ctx.trust.events.on('taken', ({ result, aggregator, members, witness }) => {
      this.member.onTaken(result, aggregator, members, witness)
    })
    ctx.trust.events.on('witnessed', (w) => { this.events.emit('witnessed', w) })
    ctx.trust.events.on('failover', (f) => { state.attemptFailed(f.round, f.attempt, Date.now(), this.timing.graceMs) })
    // an allow-listed peer's owner vouches for every identity: no proof of work, no age
    const price = this.opts.allowList !== undefined ? PRIVATE_JOB_MEMBERSHIP : job.membership ?? OPEN_JOB_MEMBERSHIP
    ctx.book = new MembershipBook(this.opts.jobId, price, state.completed, ctx.trust.excluded,
      (m) => ctx.chain.firstListed(m))
    const o = this.opts
    const host = ctx.host = await createHost({
      privateKey: key, listen: o.listen, announce: o.announce, bootstrap: o.bootstrap, local: o.local,
      allowList: o.allowList, swarmKey: o.swarmKey, metrics: o.metrics, nat: o.nat, relay: o.relay, upnp: o.upnp
    })
    ctx.reach = new ReachabilityMonitor(host, o.nat ?? o.local !== true, (line) => { ctx.log(line) })
    ctx.view = new MemberView(this.peerId, this.timing.memberTtlMs, this.helloPlan)
    this.addresses = new MemberAddresses(host.peerStore, (line) => { ctx.log(line) })
    this.powNonce = solvePow(this.opts.jobId, this.peerId, price.powBits)
    ctx.book.ownProof(this.peerId, this.powNonce)
    const { jobId } = this.opts
    const timeoutMs = this.timing.transferTimeoutMs
    // global adapters and job histories by hash: ours, and those of our own result until the round is final
    const lookup = (h: string): Uint8Array | undefined =>
      state.adapterBytes(h) ?? state.heldHistory(h)?.bytes ?? ctx.trust.served(h)
    await serveAdapters(host, { jobId, lookup, timeoutMs })
    await serveUpdates(host, {
      jobId,
      maxBytes: ctx.maxAdapterBytes,
      timeoutMs,
      admit: (sender, h) => this.aggregator.admitUpdate(sender, h),
      accept: async (sender, h, bytes) => await this.aggregator.acceptUpdate(sender, h, bytes),
      onReject: (sender, reason) => { this.aggregator.rejectUpdate(sender, reason) }
    })
    await serveChain(host, { jobId, links: (from, max) => ctx.chain.from(from, max), timeoutMs })
    const exchange = this.exchange = new MembersExchange({
      jobId, topic: ctx.topic, timeoutMs, host: () => ctx.libp2p, self: () => this.peerId,
      minMembers: this.opts.job.minPeers,
      ownHello: async () => await sealEnvelope(key, host.peerId.toMultihash().bytes, ctx.topic, RoundMessage.encode({
        hello: this.hello(Number.isFinite(this.helloInterval) ? this.helloInterval : this.timing.heartbeatMs) })),
      isLive: (m, now) => ctx.view?.isLive(m, now) === true,
      handedOn: (from, h, seenAt, newer) => this.handedOn(from, h, seenAt, newer),
      membersChanged: () => { this.member.membersChanged() },
      // knowing the whole job now, we would go quiet at once (our interval grows with it): say we are here first
      joined: () => { this.nextHello = 0 },
      reject: (from, reason) => { ctx.reject(from, reason, 'members') },
      log: ctx.log
    })
    ctx.askMembers = (m, why) => { exchange.ask(m, why) }
    await serveMembers(host, exchange, timeoutMs)
    const pubsub = host.services.pubsub
    pubsub.topicValidators.set(ctx.topic, (_from, msg) => this.validateGossip(msg))
    pubsub.addEventListener('message', (evt) => { this.onGossip(evt.detail) })
    pubsub.subscribe(ctx.topic)
    const discovery = {
      jobId,
      intervalMs: this.timing.discoveryIntervalMs,
      signal: ctx.abort.signal,
      connectedMembers: () => pubsub.getSubscribers(ctx.topic).length,
      // at most half the connection cap: the trim (below) must not close what discovery just dialled, walk after walk
      targetMembers: Math.min(TARGET_MEMBERS, Math.floor(this.timing.maxConnectedPeers / 2)),
      bootstrap: o.bootstrap,
      onError: (e: Error) => { ctx.log(`discovery: ${e.message}`) }
    }
    runDiscovery(host, discovery).catch(() => {})
    this.trim = trimConnections(host, { topic: ctx.topic, max: this.timing.maxConnectedPeers,
      graceMs: this.timing.trimGraceMs, intervalMs: this.timing.trimIntervalMs,
      spared: () => this.roundPeers(), signal: ctx.abort.signal })
    this.ticker = setInterval(() => { this.tick() }, this.timing.tickMs)
    ctx.log(`peer ${this.peerId} in job ${jobId.slice(0, 12)}… at round ${state.completed}/${job.rounds}; ` +
      `listening on ${this.multiaddrs().join(' ')}`)
  }

  async stop (): Promise<void> {
    const { ctx, state } = this
    if (ctx.stopped) return
    ctx.stopped = true
    state.stop()
    clearInterval(this.ticker)
    this.ctx.reach?.stop()
    ctx.abort.abort()
    await ctx.host?.stop()
    await state.saved()
    await ctx.chain?.saved()
  }

  // ------------------------------------------------------------------ gossip
  private validateGossip (msg: Message): TopicValidatorResult {
    const from = msg.type === 'signed' ? msg.from.toString() : 'unsigned'
    const reject = (reason: string): TopicValidatorResult => {
      this.ctx.reject(from, reason, 'gossip')
      return TopicValidatorResult.Reject
    }
    if (msg.type !== 'signed') return reject(RejectReason.Unsigned)
    if (this.opts.allowList !== undefined && !this.opts.allowList.has(from)) return reject(RejectReason.NotAllowed)
    const d = decodeRoundMessage(msg.data, this.opts.jobId)
    if (!d.valid) return reject(d.reason)
    this.decoded.set(msg, d.message)
    return TopicValidatorResult.Accept
  }

  private onGossip (msg: Message): void {
    const { ctx } = this
    if (msg.topic !== ctx.topic || msg.type !== 'signed' || ctx.stopped) return
    const m = this.decoded.get(msg) // only what our validator accepted reaches here
    if (m === undefined) return
    this.decoded.delete(msg)
    const from = msg.from.toString()
    switch (m.kind) {
      case 'hello': {
        const h = m.hello
        const now = Date.now()
        const view = ctx.view!
        const unpaid = ctx.book.hello(from, h.powNonce ?? 0n, this.state.completed, h.round)
        if (unpaid !== undefined) { ctx.reject(from, unpaid, 'hello', h.round); break }
        // the view caps the sender's interval at the one the job allows at the membership we know
        const caps = { device: h.device, tokensPerSecond: h.tokensPerSecond, samples: h.samples }
        if (this.exchange?.heard(msg, now) === false) break
        view.hello(from, h.round, hex(h.globalHash), now, caps, h.intervalMs, hex(h.beacon), h.reachability)
        this.addresses?.heard(msg.from, h.addrs)
        this.member.membersChanged()
        break
      }
      case 'attestation':
        ctx.trust.onAttestation(m.attestation, from).catch((e: Error) => { ctx.log(`attestation: ${e.message}`) })
        break
      case 'announce':
        this.member.onAnnounce(m.announce, from).catch((e: Error) => { ctx.log(`announce: ${e.message}`) })
        break
      case 'result':
        this.member.onResult(m.result, from).catch((e: Error) => { ctx.log(`result: ${e.message}`) })
        break
      case 'complaint':
        ctx.trust.onComplaint(m.complaint, from).catch((e: Error) => { ctx.log(`complaint: ${e.message}`) })
        break
    }
  }

  private sendHello (): void {
    const { ctx } = this
    const now = Date.now()
    const known = ctx.view?.knownCount(now) ?? 1
    const intervalMs = helloIntervalMs(this.helloPlan, known, known > this.timing.largeJobMembers && this.hasRole(now))
    // a large job's peers all go quiet at once (they started together, or a round's roles end): entering the quiet
    // interval each draws its next Hello within the interval's second half, so the job's Hellos spread over it
    // instead of coming in bursts of the whole job; once spread they keep the interval (a draw at every Hello sent
    // a third more Hellos than the interval says)
    const wasQuiet = Number.isFinite(this.helloInterval) && this.helloInterval > this.timing.heartbeatMs
    const entering = intervalMs > this.timing.heartbeatMs && !wasQuiet
    this.nextHello = now + (entering ? intervalMs * (0.5 + Math.random() / 2) : intervalMs)
    this.helloInterval = intervalMs
    void ctx.publish({ hello: this.hello(intervalMs) })
  }

  /** what our Hello says now, announcing `intervalMs` */
  private hello (intervalMs: number): Hello {
    const { ctx, state } = this
    return {
      jobId: this.opts.jobId,
      round: state.completed,
      globalHash: unhex(state.globalHash),
      device: this.opts.device ?? 'cpu',
      tokensPerSecond: this.member.tokensPerSecond,
      samples: this.member.samples,
      intervalMs,
      reachability: this.reachability,
      powNonce: this.powNonce,
      beacon: unhex(ctx.trust.beacon),
      addrs: ownAddrs(ctx.libp2p.getMultiaddrs(), ctx.libp2p.peerId)
    }
  }

  /** A member's Hello that another handed on (members-exchange.ts): checked as a gossiped one is, then kept. */
  private handedOn (from: string, h: Hello, seenAt: number, newer: boolean): boolean {
    const { ctx } = this
    if (this.opts.allowList !== undefined && !this.opts.allowList.has(from)) {
      ctx.reject(from, RejectReason.NotAllowed, 'members', h.round)
      return false
    }
    const unpaid = ctx.book.hello(from, h.powNonce ?? 0n, this.state.completed, h.round)
    if (unpaid !== undefined) { ctx.reject(from, unpaid, 'members', h.round); return false }
    const taken = ctx.view!.handedOn({ peer: from, round: h.round, hash: hex(h.globalHash), beacon: hex(h.beacon),
      seenAt, intervalMs: h.intervalMs, reachability: h.reachability,
      capabilities: { device: h.device, tokensPerSecond: h.tokensPerSecond, samples: h.samples } }, newer)
    if (taken) this.addresses?.heard(peerIdFromString(from), h.addrs)
    return taken
  }

  private helloOnNewGlobal (): void {
    if (this.helloInterval > this.timing.heartbeatMs) this.helloIfDrawn()
    else this.nextHello = 0
  }

  private helloIfDrawn (): void {
    if (this.helloInterval > this.timing.heartbeatMs && this.ctx.view !== undefined && this.hasRole(Date.now())) {
      this.nextHello = 0
    }
  }

  private get helloPlan (): HelloPlan {
    const t = this.timing
    return { baseMs: t.heartbeatMs, largeJobMembers: t.largeJobMembers,
      idleHellosPerHeartbeat: t.idleHellosPerHeartbeat }
  }

  /**
   * Does every member act on our liveness in the round we are in: are we its aggregator or the next in its order
   * (every member fails over when they stop Helloing)? With the announce we follow, by its members and attempt;
   * before one, as attempt 0 over the members we count would draw them (the others' views may differ a little: a
   * peer that misjudges it only Hellos a little more, or is detected a little later). Never in a finished job. Not
   * a witness: no one acts on a witness's Hellos (its attestation or its absence is what counts), and three
   * witnesses at the heartbeat were a fifth of a 100-peer job's Hellos while rounds ran. Not a selected trainer:
   * only the aggregator acts on a trainer's liveness, and it probes the quiet ones (trainer-probe.ts) instead of
   * every member hearing them at the heartbeat (docs/performance.md, sessions 23 and 24).
   */
  private hasRole (now: number): boolean {
    const { ctx, state } = this
    if (state.completed >= this.opts.job.rounds) return false
    if (state.collector !== undefined) return true
    // members that count stand past our round: the round we would judge roles in is over for the job, and which
    // round it runs now we learn only once caught up (a 100-peer process adopts over a minute: dozens behind)
    if (this.catchUp.holdsBack(now)) return false
    const r = state.completed + 1
    const a = state.current.round === r ? state.current.announce : undefined
    const members = ctx.trust.eligible(a?.members ?? this.opts.members ?? ctx.listedMembers(r, now))
    if (!members.includes(this.peerId)) return false
    const attempt = a?.attempt ?? 0
    const order = ctx.trust.order(members, r)
    const aggregator = a?.aggregator ?? aggregatorAt(order, attempt) ?? ''
    return [aggregator, aggregatorAt(order, attempt + 1)].includes(this.peerId)
  }

  /** the peers the announced round exchanges adapters with: its aggregator, trainers and witnesses */
  private roundPeers (): string[] {
    const { ctx, state } = this
    const a = state.current.announce
    if (a === undefined) return []
    const witnesses = witnessesOf(a.members, ctx.trust.beacon, state.current.round, a.attempt, a.aggregator,
      this.opts.job.witnesses.count)
    return [a.aggregator, ...a.selected, ...witnesses]
  }

  // ------------------------------------------------------------------ the round clock
  private tick (): void {
    const { ctx, state } = this
    if (ctx.stopped || ctx.view === undefined) return
    const now = Date.now()
    if (now >= this.nextHello) this.sendHello()
    if (this.exchange?.joined === false) {
      this.exchange.join(ctx.libp2p.services.pubsub.getSubscribers(ctx.topic).map((p) => p.toString()))
    }
    this.catchUp.maybeCatchUp(now)
    if (state.completed >= this.opts.job.rounds) return
    this.member.recheckEarly(now)
    const r = state.completed + 1
    state.enterRound(r)
    const frozen = this.opts.members
    // the collector waits for no gone trainer, and probes the quiet ones (not with frozen members: a flapping view
    // must not change a deterministic run)
    if (frozen === undefined) this.aggregator.closeIfOnlyGoneRemain(now)
    if (state.stage === RoundStage.Collecting || state.stage === RoundStage.Aggregating) return
    let members: readonly string[]
    const announce = state.current.announce
    if (announce === undefined) {
      const ready = frozen === undefined ? ctx.view.liveCount(now) >= this.opts.job.minPeers
        : r > 1 || frozen.every((m) => ctx.view!.isLive(m, now))
      // the job starts once enough peers are live; the election runs over those that count
      if (!ready) {
        state.gathering(now)
        return
      }
      state.roundDue(now)
      members = ctx.trust.eligible(frozen ?? ctx.listedMembers(r, now))
    } else {
      // keep the announced members (silent aggregator included) so every member computes the same order
      members = ctx.trust.eligible(announce.members)
    }
    const settleMs = r === state.firstRound ? this.timing.settleMs : 0
    const silenceMs = this.opts.job.roundDeadlineSeconds * 1000
    // everyone elects by the beacon's order: an attempt whose aggregator is gone is due at once (a crash costs a
    // few Hello intervals), and members that said they are unreachable are skipped; receivers accept both
    // (ctx.passedOver in trust.checkAnnounce)
    const order = ctx.trust.order(members, r)
    const gone = (attempt: number): boolean => {
      const m = aggregatorAt(order, attempt)
      return m === undefined || ctx.gone(m, now) || ctx.trust.failed(r, attempt)
    }
    // a signed result of the attempt we follow is being witnessed: one more silence before failing over
    const witnessing = announce !== undefined && ctx.trust.awaiting(r, announce.attempt)
    if (witnessing && now < announce.deadlineMs + this.timing.graceMs + silenceMs) return
    // the clock starts when the others' did (ctx.sharedSince), not when we happened to adopt the last result
    const shared = ctx.sharedSince(r, now)
    const clock = shared === undefined || shared >= state.current.since ? state.current
      : { ...state.current, since: shared }
    const due = dueAttempt(clock, now, { silenceMs, graceMs: this.timing.graceMs, settleMs }, gone)
    if (due === undefined) return
    const attempt = electableAttempt(order, due, (m) => !ctx.passedOver(m, now))
    if (attempt >= MAX_ATTEMPTS || attempt <= state.current.accepted || state.current.announcedByMe.has(attempt)) return
    if (aggregatorAt(order, attempt) !== this.peerId) return
    // we are catching up by a checked chain (restarted behind, or missed results): round r may be finished
    // already, and aggregating it again would fork the job
    if (this.catchUp.holdsBack(now)) {
      if (this.heldBackSaid !== `${r}/${attempt}`) {
        this.heldBackSaid = `${r}/${attempt}`
        ctx.log(`round ${r}: our turn to aggregate (attempt ${attempt}), held back: catching up by a checked chain`)
      }
      return
    }
    // a failover names whom it replaces: a round that failed over says which aggregator stalled
    if (attempt > 0) {
      const before = Array.from({ length: attempt }, (_, a) => aggregatorAt(order, a)?.slice(-6) ?? '?')
      ctx.log(`round ${r}: attempt ${attempt} is ours; before it: ${before.join(', ')}`)
    }
    this.aggregator.run(r, attempt, members)
  }
}

export function createPeer (opts: PeerOptions): Peer {
  return new Peer(opts)
}
