// The member role, every round: follow the round's announce when the trust rules allow it, train from the
// global adapter when selected and push the signed update to the aggregator, then hand the aggregator's
// RoundResult to the trust rules and adopt it once its witnesses confirm it (trust.ts). It reads and moves
// the round only through RoundState (round-state.ts); it reacts to two of its events: 'adopted' (replay
// kept announces) and 'collectorOpened' (we aggregate and selected ourselves: train our own update).
import { errorText } from './error-text.ts'
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import type {
  Attestation, Complaint, RoundAnnounce, RoundResult, UpdateAck, UpdateCommit, UpdateHeader
} from '../protocol/messages.ts'
import { checkComplaint, receiptStatement } from '../protocol/complaint.ts'
import type { AttemptTiming, RoundProgress } from '../protocol/attempt-clock.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { ROUND_WINDOW, UPDATE_PUSH_TRIES } from '../protocol/limits.ts'
import { updateStatement } from '../protocol/signed-update.ts'
import { sign, verifySigned } from './signatures.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { decodeAdapter, encodeAdapter, sha256Hex } from './adapter-codec.ts'
import { tryLimitMs, withRetries } from './transfer.ts'
import { connectFor } from './transfer-path.ts'
import { nextTokensPerSecond } from './throughput.ts'
import { roundInfoOf } from './round-info.ts'
import { hex, unhex } from './hex.ts'
import { FETCH_TRIES, fetchGlobal } from './global-fetch.ts'
import type { FetchedGlobal } from './global-fetch.ts'
import { EarlyFetch, firstFetched } from './early-fetch.ts'
import { shuffle } from './shuffle.ts'
import { getHistory } from './history-fetch.ts'
import { decodeHistory } from '../trainer/aggregate/history-codec.ts'
import type { PeerContext } from './peer-context.ts'
import type { Collector, RoundState } from './round-state.ts'
import { keepLatest } from './kept-latest.ts'

/** The per-peer, per-round training seed: reproducible, different for every peer and round. */
export function trainSeed (jobSeed: number, round: number, peer: string): number {
  return createHash('sha256').update(`${jobSeed}/${round}/${peer}`).digest().readUInt32BE(0) >>> 1
}

interface Trained {
  readonly round: number
  readonly baseHash: string
  readonly adapter: Adapter
  readonly bytes: Uint8Array
  readonly hash: string
  readonly samples: number
  readonly trainLoss: number
}

export class MemberRole {
  /** measured from our trainer's results, advertised in Hello */
  tokensPerSecond = 0
  /** examples in our last round (or opts.samples until we trained), advertised in Hello */
  samples: number
  private trained?: Trained
  /** the aggregators' receipts for our updates, by `round/attempt` (protocol/complaint.ts) */
  private readonly receipts = new Map<string, { readonly aggregator: string, readonly update: UpdateCommit,
    readonly receipt: Uint8Array<ArrayBuffer> }>()
  /** our update pushes in flight, by `round/attempt` (settled, never rejected) */
  private readonly pushes = new Map<string, Promise<void>>()
  /** the training in progress, if any: a failover attempt of its round waits for it instead of training again */
  private training?: { readonly round: number, readonly baseHash: string, readonly done: Promise<Trained> }
  /**
   * An announce for a round too far ahead of us (we are still fetching earlier results): gossip delivers it
   * once, so it is kept and checked again each time we adopt a result. Without it a member a result or two
   * behind missed the round it was selected for and the aggregator waited out its whole deadline
   * (bench/round: a 10 s round among 0.5 s ones). A few at most, from live members, not far ahead: a
   * forged one costs a re-check, nothing more.
   */
  private deferred: Array<{ readonly a: RoundAnnounce, readonly sender: string }> = []
  /**
   * An announce of our next round that lists members we do not count yet: a peer that joins while the first
   * announce is on its way hears it before the Hellos of those it lists. Without it that peer neither trained
   * nor witnessed the round, and a 3-peer job whose draw named it as a witness waited out the whole deadline
   * (the process-fleet test's hang). Checked again, in full, when the members we count grow; a few at most.
   */
  private waitingMembers: Array<{ readonly a: RoundAnnounce, readonly sender: string, readonly counted: number }> = []
  /**
   * An announce of our next round that came before our clock made its attempt due: the announcer convicted the
   * aggregator we still follow, whose attempt it ended at once, while its witnesses' attestations reach us
   * later or never. Refused for good, it left us out of that attempt (neither training nor witnessing), and
   * the round waited on us until it timed out. Checked again, in full, once its attempt is due by our clock;
   * the latest of each sender, a few at most.
   */
  private notDue: Array<{ readonly a: RoundAnnounce, readonly sender: string }> = []
  /** confirmed results on their way to adoption (adoptConfirmed), and until when that holds catch-up back */
  private adopting = { count: 0, until: 0 }
  /**
   * The latest round a member we count announced while we stood too far behind to follow it (deferred): before
   * it, a quiet wait (quietWaitMs) only makes us later. Never lowered: one member's false announce (a few rounds
   * ahead at most) spares us our quiet waits for those rounds, nothing more.
   */
  private announcedAhead = 0
  /** the quiet wait under way (quietWaitMs): the result it waits to fetch, and how to end it early */
  private quiet?: { readonly r: RoundResult, readonly aggregator: string, readonly wake: AbortController }
  /** globals a role of ours in the next round fetches while their results' witnesses judge them (onTaken) */
  private readonly early: EarlyFetch<FetchedGlobal>

  constructor (private readonly ctx: PeerContext, private readonly state: RoundState) {
    this.samples = ctx.opts.samples ?? 0
    this.early = new EarlyFetch((hash, from) => fetchGlobal(ctx, hash, [from], 1))
    state.events.on('adopted', ({ round }) => { this.early.forget(round); this.replayDeferred(round) })
    state.events.on('collectorOpened', (c) => { this.trainOwn(c) })
  }

  async onAnnounce (a: RoundAnnounce, sender: string): Promise<void> {
    const { ctx, state } = this
    const now = Date.now()
    const baseHash = hex(a.baseHash)
    const cur = state.current.round === a.round ? state.current : undefined
    // a failover lists the attempt we followed's members, its silent aggregator included (same order everywhere);
    // the frozen members of a deterministic run count too. One we did not follow (we adopted late) may list an
    // aggregator that died meanwhile, no longer live to us: members heard lately count for a failover (a real
    // member's signed Hellos, never an id the announcer made up)
    const counted = new Set([...ctx.countedMembers(a.round, now), ...cur?.announce?.members ?? [],
      ...ctx.opts.members ?? [], ...a.attempt > 0 ? ctx.knownMembers(a.round, now) : []])
    const { progress, timing } = this.clockOf(a.round, now)
    const check = ctx.trust.checkAnnounce(a, sender, state.completed, progress, timing, counted, now,
      (m) => ctx.passedOver(m, now, ctx.timing.heartbeatMs))
    if (!check.ok) {
      // kept up to two windows ahead: announces are taken for round completed + 1 only now, and a member two
      // results behind (round completed + 3 announced) must still keep the round it was selected for
      if (check.reason === RejectReason.RoundOutOfWindow && a.round <= state.completed + 2 * ROUND_WINDOW &&
        counted.has(sender)) {
        // one per sender and round (its newest): a member gone bad flooding announces cannot push out the others'
        this.deferred = keepLatest(this.deferred, { a, sender },
          (d) => d.sender === sender && d.a.round === a.round, 4)
        this.announcedAhead = Math.max(this.announcedAhead, a.round)
        this.endQuietWait(a, sender)
      }
      if (check.reason.startsWith(RejectReason.UnknownMembers) && a.round === state.completed + 1 &&
        Number(a.deadlineMs) > now) {
        this.waitingMembers = keepLatest(this.waitingMembers,
          { a, sender, counted: ctx.countedMembers(a.round, now).length }, (w) => w.sender === sender, 4)
        // its sender counts every member it lists: it can hand us their Hellos now, before their next ones come
        ctx.askMembers(sender, `its announce of round ${a.round} lists members we do not know`)
      }
      if (check.reason.startsWith(RejectReason.AttemptNotDue) && a.round === state.completed + 1 &&
        Number(a.deadlineMs) > now && counted.has(sender)) {
        this.notDue = keepLatest(this.notDue, { a, sender }, (w) => w.sender === sender, 4)
      }
      ctx.reject(sender, check.reason, 'announce', a.round)
      return
    }
    // we stand elsewhere (behind, or forked): catching up is by confirmed results, never by an announce's word
    if (baseHash !== state.globalHash) { ctx.reject(sender, RejectReason.WrongBase, 'announce', a.round); return }
    state.acceptAnnounce(a, sender, now)
    ctx.trust.noteAnnounce(a.round, a.attempt, { aggregator: sender, members: a.members })
    if (state.collector !== undefined && state.collector.attempt < a.attempt) {
      ctx.log(`round ${a.round}: ${sender.slice(-6)} announced attempt ${a.attempt}; our attempt ` +
        `${state.collector.attempt} is superseded (${state.collector.received.size} updates in)`)
      state.dropCollector()
    }
    if (a.selected.includes(ctx.peerId)) {
      // training takes a while: say for whom (the aggregator's own "aggregating" line says it for itself)
      ctx.log(`round ${a.round}${a.attempt > 0 ? ` (failover ${a.attempt})` : ''}: selected by ${sender.slice(-6)}; ` +
        'training')
      await this.trainAndSubmit(a.round, a.attempt, sender)
    } else state.awaitResult()
  }

  /** A Hello was heard: announces that listed members we did not count are checked again once we count more. */
  membersChanged (): void {
    if (this.waitingMembers.length === 0) return
    const now = Date.now()
    const next = this.state.completed + 1
    const live = this.waitingMembers.filter((w) => w.a.round === next && Number(w.a.deadlineMs) > now)
    const counted = this.ctx.countedMembers(next, now).length
    const replay = live.filter((w) => counted > w.counted)
    this.waitingMembers = live.filter((w) => counted <= w.counted)
    this.recheck(replay)
  }

  /** Each tick: announces refused as early are checked again once their attempt is due by our clock. */
  recheckEarly (now: number): void {
    if (this.notDue.length === 0) return
    const next = this.state.completed + 1
    const live = this.notDue.filter((w) => w.a.round === next && Number(w.a.deadlineMs) > now &&
      w.a.attempt > this.state.current.accepted)
    const due = live.filter((w) => this.ctx.trust.attemptDue(w.a.round, w.a.attempt, w.a.members).ok)
    this.notDue = live.filter((w) => !due.includes(w))
    this.recheck(due)
  }

  /** Our attempt clock of round `round` (protocol/attempt-clock.ts): when it became due, the announce we follow. */
  clockOf (round: number, now: number): { readonly progress: RoundProgress, readonly timing: AttemptTiming } {
    const { ctx, state } = this
    const cur = state.current.round === round ? state.current : undefined
    const progress = {
      since: Math.min(cur?.since ?? now, ctx.sharedSince(round, now) ?? Infinity), accepted: cur?.accepted ?? -1,
      acceptedDeadlineMs: cur?.announce?.deadlineMs
    }
    const timing = {
      silenceMs: ctx.opts.job.roundDeadlineSeconds * 1000,
      graceMs: ctx.timing.graceMs,
      settleMs: round === state.firstRound ? ctx.timing.settleMs : 0
    }
    return { progress, timing }
  }

  /** Announces kept for rounds past `round` are checked afresh (window, election, deadline) now we stand on it. */
  private replayDeferred (round: number): void {
    const replay = this.deferred.filter((d) => d.a.round > round).sort((x, y) => x.a.round - y.a.round)
    this.deferred = []
    this.recheck(replay)
  }

  /** Kept announces through the full check again, one after the other, in the order given. */
  private recheck (kept: ReadonlyArray<{ readonly a: RoundAnnounce, readonly sender: string }>): void {
    if (kept.length === 0) return
    void (async () => {
      for (const k of kept) {
        await this.onAnnounce(k.a, k.sender).catch((e: Error) => { this.ctx.log(`announce: ${e.message}`) })
      }
    })()
  }

  /** We opened a collector and selected ourselves: train our own update for it. */
  private trainOwn (c: Collector): void {
    if (!c.selected.has(this.ctx.peerId)) return
    this.trainAndSubmit(c.round, c.attempt, this.ctx.peerId).catch((e: Error) => {
      this.ctx.log(`local training failed: ${e.message}`)
    })
  }

  private async trainAndSubmit (round: number, attempt: number, aggregator: string): Promise<void> {
    const { ctx, state } = this
    const baseHash = state.globalHash
    let t = this.trained
    if (t === undefined || t.round !== round || t.baseHash !== baseHash) {
      // a failover attempt of the same round reuses the update, even one still in training (its aggregator was
      // killed while we trained: training twice made the failover wait for a second run)
      const inflight = this.training
      const run = inflight?.round === round && inflight.baseHash === baseHash
        ? inflight.done
        : this.train(round, attempt, baseHash)
      t = await run
    }
    const superseded = (): boolean => state.current.round !== round || state.current.accepted !== attempt
    if (ctx.stopped || superseded()) return // superseded meanwhile
    if (aggregator === ctx.peerId) {
      state.offerOwnUpdate({ round, attempt, baseHash, bytes: t.bytes, samples: t.samples, trainLoss: t.trainLoss })
      return
    }
    state.pushing()
    const signature = await sign(ctx.key, updateStatement(ctx.opts.jobId, round, attempt, baseHash, t.hash, t.samples))
    const header: UpdateHeader = {
      jobId: ctx.opts.jobId,
      round,
      attempt,
      baseHash: unhex(baseHash),
      samples: t.samples,
      trainLoss: t.trainLoss,
      size: BigInt(t.bytes.byteLength),
      adapterHash: unhex(t.hash),
      signature
    }
    try {
      // each try gets a limit sized to the update and doubled with each retry (tryLimitMs), not the whole transfer
      // timeout: a push stuck on a connection that is going away (seen under load in bench/round) is retried while
      // the aggregator still collects; a retry of an update that did arrive gets the same receipt (resendOf)
      const to = peerIdFromString(aggregator)
      const bytes = t.bytes
      const push = async (i: number): Promise<UpdateAck> => await ctx.transport.pushUpdate(ctx.libp2p, to, header,
        bytes, tryLimitMs(bytes.byteLength, i, ctx.timing.transferTimeoutMs))
      const pushStart = Date.now()
      const pushed = withRetries(UPDATE_PUSH_TRIES, push).then(async (ack) => {
        if (!ack.accepted) { ctx.log(`round ${round}: aggregator refused our update (${ack.reason})`); return }
        ctx.log(`round ${round}: update taken by ${aggregator.slice(-6)} in ${Date.now() - pushStart} ms`)
        await this.keepReceipt(aggregator, ack, { author: ctx.peerId, hash: unhex(t.hash), samples: t.samples,
          signature }, round, attempt, baseHash)
      })
      // the aggregator may publish its result before our ack is back: onResult waits for the receipt
      const key = `${round}/${attempt}`
      this.pushes.set(key, pushed.catch(() => {}))
      try { await pushed } finally { this.pushes.delete(key) }
    } catch (err) {
      if (!ctx.stopped) ctx.log(`round ${round}: could not push our update (${errorText(err)})`)
    }
    if (!superseded()) state.awaitResult()
  }

  /** The aggregator's signed receipt for our update: should its result leave the update out, it convicts it. */
  private async keepReceipt (aggregator: string, ack: UpdateAck, update: UpdateCommit, round: number,
    attempt: number, baseHash: string): Promise<void> {
    const { ctx } = this
    const statement = receiptStatement(ctx.opts.jobId, round, attempt, baseHash, ctx.peerId, hex(update.hash),
      update.samples)
    if (!await verifySigned(aggregator, statement, ack.receipt)) {
      ctx.log(`round ${round}: no valid receipt from ${aggregator.slice(-6)} (a drop of our update could not be ` +
        'proven)')
      return
    }
    for (const k of this.receipts.keys()) if (Number(k.split('/')[0]) < round) this.receipts.delete(k)
    this.receipts.set(`${round}/${attempt}`, { aggregator, update, receipt: ack.receipt! })
  }

  private async train (round: number, attempt: number, baseHash: string): Promise<Trained> {
    const { ctx, state } = this
    const done = (async (): Promise<Trained> => {
      state.training()
      const seed = trainSeed(ctx.opts.job.recipe.seed, round, ctx.peerId)
      const res = await ctx.opts.trainer.train({ round, base: state.globalAdapter, seed, signal: ctx.abort.signal,
        onStep: (s) => { ctx.events.emit('trainStep', { round, ...s }) } })
      const bytes = encodeAdapter(res.adapter)
      const { adapter, samples, trainLoss } = res
      const t = { round, baseHash, adapter, bytes, hash: sha256Hex(bytes), samples, trainLoss }
      this.tokensPerSecond = nextTokensPerSecond(this.tokensPerSecond, res)
      this.samples = res.samples
      this.trained = t
      const tps = Math.round(res.tokens / Math.max(res.seconds, 1e-9))
      ctx.log(`round ${round}: trained on ${t.samples} examples in ${res.seconds.toFixed(1)} s, ` +
        `loss ${t.trainLoss.toFixed(4)}, ${tps} tok/s`)
      ctx.events.emit('trained', { round, attempt, samples: t.samples, trainLoss: t.trainLoss })
      return t
    })()
    this.training = { round, baseHash, done }
    try { return await done } finally { if (this.training?.done === done) this.training = undefined }
  }

  /**
   * A result from the network: first, did its aggregator leave out an update of ours it gave a receipt for? Then
   * the complaint (self-verifying evidence) goes out and the result is not taken. Else the trust checks and its
   * witnesses' quorum ('confirmed' -> adoptConfirmed).
   */
  async onResult (r: RoundResult, sender: string): Promise<void> {
    const { ctx } = this
    await this.pushes.get(`${r.round}/${r.attempt}`)
    const held = this.receipts.get(`${r.round}/${r.attempt}`)
    if (held !== undefined && held.aggregator === sender) {
      const complaint: Complaint = { jobId: ctx.opts.jobId, aggregator: sender, update: held.update,
        receipt: held.receipt, result: r }
      if ((await checkComplaint(complaint, verifySigned)).ok) {
        this.receipts.delete(`${r.round}/${r.attempt}`)
        ctx.log(`round ${r.round}: ${sender.slice(-6)} took our update and left it out of its result; complaining`)
        // out first: the others must hear it before the result's witnesses confirm it
        await ctx.publish({ complaint })
        await ctx.trust.onComplaint(complaint, ctx.peerId)
        return
      }
    }
    await ctx.trust.onResult(r, sender)
  }

  /**
   * A result now waits for its witnesses (Trust 'taken'). In a large job, a member drawn for a role in the next round
   * fetches its global now (early-fetch.ts), from its aggregator, the one peer that holds it yet; a witness of it
   * computes the bytes itself. The others fetch after the quorum, spread over the aggregator and the witnesses.
   */
  onTaken (r: RoundResult, aggregator: string, members: readonly string[], witness: boolean): void {
    const { ctx, state } = this
    // the aggregator holds its own result's global (Trust.served); a witness computes it
    if (witness || aggregator === ctx.peerId || r.round !== state.completed + 1 || r.round >= ctx.opts.job.rounds ||
      members.length < ctx.timing.largeJobMembers) return
    const drawn = (over: readonly string[]): boolean => ctx.trust.drawnAfter(r, aggregator, over, ctx.peerId)
    if (!drawn(members) && !drawn(ctx.listedMembers(r.round + 1, Date.now()))) return
    if (!this.early.start(r, aggregator)) return
    ctx.log(`round ${r.round}: a role in round ${r.round + 1}; fetching the global ${hex(r.newHash).slice(0, 12)} ` +
      `from ${aggregator.slice(-6)} while its witnesses judge it`)
    // a trainer pushes to the next aggregator and a witness fetches the updates from it: a connection held by then
    // spares them a dial in the round (a dial took 4.6 s at the median at 100 peers in one process); a wrong guess
    // (the next announce lists other members) costs one connection, which the trim closes after its grace
    const next = ctx.trust.aggregatorAfter(r, aggregator, members)
    if (next !== undefined && next !== ctx.peerId) {
      connectFor(ctx.libp2p, peerIdFromString(next)).catch((e: Error) => {
        ctx.log(`round ${r.round}: no connection to ${next.slice(-6)}, the next aggregator, yet (${e.message})`)
      })
    }
  }

  /**
   * Is a confirmed result on its way to adoption (a quiet wait, then the fetch)? Then the members a round past
   * it are not ahead of us for catch-up (catch-up.ts): the next round ran while we waited, and its result is kept
   * (trust.ts). For one transfer timeout past the wait at most: a fetch that stalls holds catch-up back no longer.
   */
  isAdopting (now: number): boolean { return this.adopting.count > 0 && now < this.adopting.until }

  /**
   * How long to wait before fetching a confirmed result's global adapter: a quiet member of a large job (no role
   * in the next round) lets the next round's aggregator, trainers and witnesses fetch first, so they do not wait in
   * a burst of every member's fetch on the few peers that hold it. Drawn at random within [1/4, 1] of
   * timing.quietFetchMs, so the quiet ones spread out too; 0 for the others. Off by default: in one process it
   * bought nothing measurable (docs/performance.md, session 17).
   */
  private quietWaitMs (r: RoundResult, aggregator: string, members: readonly string[]): number {
    const { ctx } = this
    const most = ctx.timing.quietFetchMs
    if (most <= 0 || members.length < ctx.timing.largeJobMembers) return 0
    // the next announce lists the members its aggregator counts, which may have grown since this round's: a role
    // drawn over either list counts (an announce that names us anyway ends the wait, endQuietWait)
    const drawn = (over: readonly string[]): boolean => ctx.trust.drawnAfter(r, aggregator, over, ctx.peerId)
    if (drawn(members) || drawn(ctx.listedMembers(r.round + 1, Date.now()))) return 0
    // the next round is announced already (we adopt late): its roles hold this global, and a wait now could
    // take us past that announce's deadline, after which we could no longer follow it nor judge its result
    // (kept unchecked, from a member we count: a false one only spares us the wait)
    if (this.announcedAhead > r.round) {
      ctx.log(`round ${r.round}: confirmed; no role in round ${r.round + 1}, which is announced already: ` +
        'fetching its global now')
      return 0
    }
    return Math.round(most * (0.25 + 0.75 * Math.random()))
  }

  /**
   * An announce while we wait quietly to fetch (kept, deferred) ends the wait: one of the round after that gives
   * us a role after all, and one of a round past it says that round is over, its roles served, and that each
   * more second we wait takes us nearer the deadline of the announce we must still follow. The announce is
   * unchecked yet (we stand a round or more before it); a false one only ends the wait early.
   */
  private endQuietWait (a: RoundAnnounce, sender: string): void {
    const q = this.quiet
    if (q === undefined || a.round <= q.r.round) return
    if (a.round > q.r.round + 1) {
      this.ctx.log(`round ${q.r.round}: ${sender.slice(-6)} announced round ${a.round}; fetching its global now`)
      q.wake.abort()
      return
    }
    const self = this.ctx.peerId
    if (a.selected.includes(self) || this.ctx.trust.drawnAfter(q.r, q.aggregator, a.members, self, a.attempt)) {
      this.ctx.log(`round ${q.r.round}: the announce of round ${a.round} by ${sender.slice(-6)} gives us a role; ` +
        'fetching its global now')
      q.wake.abort()
    }
  }

  /**
   * A result its witnesses confirmed: fetch its adapter (verified by hash), move the beacon on and adopt it; the
   * result, its members and attestations join our chain (what a peer behind checks, chain-rules.ts).
   */
  async adoptConfirmed (r: RoundResult, aggregator: string, members: readonly string[],
    attestations: readonly Attestation[]): Promise<void> {
    const { ctx, state } = this
    if (r.round !== state.completed + 1 || hex(r.baseHash) !== state.globalHash || ctx.stopped) return
    const hash = hex(r.newHash)
    const own = ctx.trust.served(hash)
    const quietMs = own === undefined ? this.quietWaitMs(r, aggregator, members) : 0
    this.adopting.count++
    this.adopting.until = Date.now() + quietMs + ctx.timing.transferTimeoutMs
    try {
      if (quietMs > 0) {
        ctx.log(`round ${r.round}: confirmed; no role in round ${r.round + 1}, fetching its global in ${quietMs} ms`)
        const wake = new AbortController()
        this.quiet = { r, aggregator, wake }
        try {
          await sleep(quietMs, undefined, { signal: AbortSignal.any([ctx.abort.signal, wake.signal]) })
        } catch {
          // ended by an announce (endQuietWait), or stopping: checked below
        } finally {
          if (this.quiet?.wake === wake) this.quiet = undefined
        }
        if (r.round !== state.completed + 1 || hex(r.baseHash) !== state.globalHash || ctx.stopped) return
      }
      await this.fetchAndAdopt(r, aggregator, members, attestations, own, quietMs)
    } finally {
      this.adopting.count--
    }
  }

  /** adoptConfirmed's fetch (unless we hold it: `own`) and adoption, once any quiet wait is over */
  private async fetchAndAdopt (r: RoundResult, aggregator: string, members: readonly string[],
    attestations: readonly Attestation[], own: Uint8Array | undefined, quietMs: number): Promise<void> {
    const { ctx, state } = this
    const hash = hex(r.newHash)
    const fetchStart = Date.now()
    // the witnesses that agreed computed the same bytes and serve them: the members spread over them and the
    // aggregator instead of all fetching from it at once. An early fetch under way asks the aggregator already,
    // and one that failed had it stall or refuse: the aggregator last then, after the witnesses and after members
    // whose Hellos say they hold it (its own Hello says so too). One that stalls (test/node/early-fetch-stall.test.ts)
    // cost a try's limit when asked first
    const witnesses = attestations.filter((a) => a.agree).map((a) => a.witness)
    const sources = (): string[] => shuffle([aggregator, ...witnesses])
    const fetched = own === undefined
      ? await firstFetched(this.early.take(hash), async (early) =>
        await fetchGlobal(ctx, hash, sources(), FETCH_TRIES, early === 'none' ? [] : [aggregator]))
      : undefined
    let g = fetched?.got
    if (own !== undefined) {
      const d = decodeAdapter(own, ctx.layout, ctx.maxAdapterBytes)
      if (d.ok) g = { bytes: own, adapter: d.adapter }
    }
    if (g === undefined) { ctx.reject(aggregator, RejectReason.AdapterUnavailable, 'result', r.round); return }
    // how long adoption waits on the transfer (a large job's members fetch at once; bench scale reads this line)
    if (own === undefined) {
      ctx.log(`round ${r.round}: global ${hash.slice(0, 12)} fetched in ${Date.now() - fetchStart} ms` +
        (quietMs > 0 ? ` after a wait of ${quietMs} ms (no role in round ${r.round + 1})` : '') +
        (g.dialled === true ? ', from a source we dialled' : ', over a connection held') +
        (fetched?.early === true ? ', fetched before its witnesses confirmed it' : ''))
    }
    // the job's history after the round, which the next aggregator and its witnesses start from: from the
    // aggregator (or members that took it); without it we still adopt, and the next round may have to reset it
    const historyHash = hex(r.historyHash ?? new Uint8Array(0))
    const ownHistory = ctx.trust.served(historyHash)
    const dh = ownHistory === undefined ? undefined : decodeHistory(ownHistory)
    const held = dh?.ok === true ? { bytes: ownHistory!, value: dh.history }
      : await getHistory(ctx, state, historyHash, sources(), hash)
    if (held === undefined) ctx.log(`round ${r.round}: the job's history ${historyHash.slice(0, 12)} could not be had`)
    // adopted meanwhile, or a complaint convicted its aggregator while we fetched
    if (r.round !== state.completed + 1 || ctx.stopped || ctx.trust.excluded.has(aggregator)) return
    ctx.trust.advance(r, aggregator)
    state.adopt(r.round, hash, g.bytes, g.adapter, roundInfoOf(r, aggregator),
      { hash: historyHash, ...(held !== undefined ? { held } : {}) })
    ctx.chain.append([{ result: r, aggregator, members: [...members], attestations: [...attestations],
      powNonces: members.map((m) => ctx.book.nonceOf(m)) }])
  }
}
