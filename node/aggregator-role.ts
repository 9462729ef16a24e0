// The aggregator role, when this peer is elected (or fails over for a silent one): announce the round over the
// members it counts, with the beacon's selection; collect the selected members' signed updates until all
// answered or the deadline; aggregate them in canonical order; publish the signed RoundResult committing to
// every update it took, and serve those updates to the round's witnesses. It adopts its own result only when
// the witnesses confirm it, like every member (trust.ts). The collector is opened and closed by RoundState
// (round-state.ts); this role fills it, and takes our own update from its 'ownUpdate' event.
import type { RoundAnnounce, RoundResult, UpdateHeader } from '../protocol/messages.ts'
import { checkUpdate, isResend } from '../protocol/round-rules.ts'
import { UPDATE_PUSH_TRIES } from '../protocol/limits.ts'
import type { Check } from '../protocol/round-rules.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { updateStatement } from '../protocol/signed-update.ts'
import { receiptStatement } from '../protocol/complaint.ts'
import { decodeAdapter, sha256Hex } from './adapter-codec.ts'
import { aggregateRound } from './round-aggregate.ts'
import { sign, verifySigned } from './signatures.ts'
import { hex, unhex } from './hex.ts'
import { getHistory } from './history-fetch.ts'
import type { PeerContext } from './peer-context.ts'
import { TrainerProbe } from './trainer-probe.ts'
import { probePing } from './probe-ping.ts'
import { INTERVALS_PER_TTL } from './member-view.ts'
import { helloTtlMs } from '../protocol/membership.ts'
import type { Collector, OwnUpdate, RoundState } from './round-state.ts'
import type { JobHistory } from '../trainer/aggregate/history.ts'

/** resends of a taken update admitted per sender and collection: an honest author's retries (member-role.ts) */
const MAX_RESENDS = UPDATE_PUSH_TRIES - 1

export class AggregatorRole {
  private readonly probe: TrainerProbe

  constructor (private readonly ctx: PeerContext, private readonly state: RoundState) {
    const t = ctx.timing
    // a trainer is missed as late as a heartbeat member's Hellos would have been: the view's own TTL rule
    const windowMs = helloTtlMs(t.heartbeatMs, t.heartbeatMs, t.memberTtlMs, INTERVALS_PER_TTL)
    this.probe = new TrainerProbe(async (peer, signal) => await probePing(ctx.libp2p, peer, signal),
      { windowMs, everyMs: t.heartbeatMs }, ctx.log, ctx.abort.signal)
    state.events.on('ownUpdate', (u) => {
      this.addOwnUpdate(u).catch((e: Error) => { ctx.log(`own update: ${e.message}`) })
    })
  }

  /** Announces attempt `attempt` of round `round` among `members` (those we count) and opens its collector. */
  run (round: number, attempt: number, members: readonly string[]): void {
    const { ctx, state } = this
    const now = Date.now()
    const listed = [...members].sort()
    // receivers recompute the selection from the listed members and the beacon: it is the rule's, not ours
    const selected = [...ctx.trust.selection(listed, round, attempt)].sort()
    const baseHash = state.globalHash
    const deadlineMs = now + ctx.opts.job.roundDeadlineSeconds * 1000
    const a: RoundAnnounce = {
      jobId: ctx.opts.jobId,
      round,
      attempt,
      baseHash: unhex(baseHash),
      members: listed,
      selected,
      deadlineMs: BigInt(deadlineMs)
    }
    const c = {
      round, attempt, baseHash, selected: new Set(selected), received: new Map(), rejected: new Map(), members: listed,
      deadlineMs,
      // a failover round took from its first announce (the attempt that failed included), not from ours
      startedAt: attempt > 0 ? Math.min(now, state.current.firstAnnounceAt ?? state.current.since) : now
    }
    const failover = attempt > 0 ? ` (failover ${attempt})` : ''
    ctx.log(`round ${round}${failover}: aggregating; selected ${selected.map((s) => s.slice(-6)).join(',')}`)
    void ctx.publish({ announce: a })
    // opening it tells the member role, which trains our own update when we selected ourselves
    state.openCollector(c, a, now, (open) => { void this.finish(open) })
    ctx.trust.noteAnnounce(round, attempt, { aggregator: ctx.peerId, members: listed })
  }

  admitUpdate (sender: string, h: UpdateHeader): Check {
    const c = this.state.collector
    if (c === undefined) return { ok: false, reason: RejectReason.NotAggregating }
    if (this.resendOf(c, sender, h) !== undefined) {
      // a resend's body is read again: as many as an honest author's retries, not a way to make us read at will
      const counts = this.resends.get(c) ?? new Map<string, number>()
      this.resends.set(c, counts)
      const n = (counts.get(sender) ?? 0) + 1
      counts.set(sender, n)
      if (n <= MAX_RESENDS) return { ok: true }
    }
    return checkUpdate(h, hex(h.baseHash), {
      sender,
      round: c.round,
      attempt: c.attempt,
      baseHash: c.baseHash,
      selected: c.selected,
      received: new Set(c.received.keys()),
      deadlineMs: c.deadlineMs,
      nowMs: Date.now(),
      closed: c.closed
    })
  }

  /** resends admitted per sender, per collector */
  private readonly resends = new WeakMap<Collector, Map<string, number>>()

  /** The receipt we gave for this very update, when the push is its author sending it again. */
  private resendOf (c: Collector, sender: string, h: UpdateHeader): Uint8Array<ArrayBuffer> | undefined {
    const taken = c.received.get(sender)
    return isResend(h, hex(h.baseHash), c, taken?.commit) ? taken?.receipt : undefined
  }

  /** Takes a pushed update; taken, the answer carries our signed receipt (its author's proof should we drop it). */
  async acceptUpdate (sender: string, h: UpdateHeader, bytes: Uint8Array):
  Promise<Check & { readonly receipt?: Uint8Array<ArrayBuffer> }> {
    const { ctx } = this
    // the author's signature over (job, round, attempt, base, hash, samples): the witnesses check it again
    const statement = updateStatement(ctx.opts.jobId, h.round, h.attempt, hex(h.baseHash), hex(h.adapterHash),
      h.samples)
    if (!await verifySigned(sender, statement, h.signature)) {
      this.rejectUpdate(sender, RejectReason.BadSignature)
      return { ok: false, reason: RejectReason.BadSignature }
    }
    const receipt = await sign(ctx.key, receiptStatement(ctx.opts.jobId, h.round, h.attempt, hex(h.baseHash), sender,
      hex(h.adapterHash), h.samples))
    // the body and the signatures took time: still open? taken meanwhile (a resend: the same receipt)?
    const before = this.state.collector
    const resent = before === undefined ? undefined : this.resendOf(before, sender, h)
    if (resent !== undefined) return { ok: true, receipt: resent }
    const again = this.admitUpdate(sender, h)
    if (!again.ok) return again
    const c = this.state.collector!
    const d = decodeAdapter(bytes, ctx.layout, ctx.maxAdapterBytes)
    if (!d.ok) { this.rejectUpdate(sender, d.reason); return { ok: false, reason: d.reason } }
    c.bytes += bytes.byteLength
    const { samples, round, trainLoss } = h
    const commit = { author: sender, hash: h.adapterHash, samples, signature: h.signature! }
    c.received.set(sender, { peer: sender, samples, round, baseHash: c.baseHash, adapter: d.adapter, trainLoss, commit,
      bytes, receipt })
    c.rejected.delete(sender)
    this.maybeFinish(c)
    return { ok: true, receipt }
  }

  rejectUpdate (sender: string, reason: string): void {
    const c = this.state.collector
    this.ctx.reject(sender, reason, 'update', c?.round)
    if (c !== undefined && c.selected.has(sender) && !c.received.has(sender)) c.rejected.set(sender, reason)
  }

  /** Our own update for the round we collect, if that round (and attempt) is still open. */
  private async addOwnUpdate (u: OwnUpdate): Promise<void> {
    const { ctx } = this
    const open = (): Collector | undefined => {
      const c = this.state.collector
      return c === undefined || c.round !== u.round || c.attempt !== u.attempt || c.closed ? undefined : c
    }
    if (open() === undefined) return
    // our own update passes the same checks as anyone's, and is signed like anyone's
    const d = decodeAdapter(u.bytes, ctx.layout, ctx.maxAdapterBytes)
    if (!d.ok) { this.rejectUpdate(ctx.peerId, d.reason); return }
    const hash = sha256Hex(u.bytes)
    const signature = await sign(ctx.key, updateStatement(ctx.opts.jobId, u.round, u.attempt, u.baseHash, hash,
      u.samples))
    const c = open()
    if (c === undefined) return
    const { samples, round, baseHash, trainLoss } = u
    const commit = { author: ctx.peerId, hash: unhex(hash), samples, signature }
    c.received.set(ctx.peerId, { peer: ctx.peerId, samples, round, baseHash, adapter: d.adapter, trainLoss, commit,
      bytes: u.bytes })
    this.maybeFinish(c)
  }

  /**
   * Closes the collector once every selected member that has not answered is gone: a crashed trainer costs a few
   * Hello intervals, not the round's whole deadline. One that Hellos at the heartbeat is gone when its Hellos
   * stopped (the live set says so); a quiet one (a large job's trainers keep their quiet interval) when our probes
   * of it failed for as long (trainer-probe.ts).
   */
  closeIfOnlyGoneRemain (now: number): void {
    const { ctx } = this
    const c = this.state.collector
    if (c === undefined || c.closed) {
      this.probe.watch('', [], now)
      return
    }
    const waiting = [...c.selected].filter((p) => !c.received.has(p))
    const quiet = waiting.filter((p) => p !== ctx.peerId &&
      (ctx.view!.lastOf(p)?.intervalMs ?? 0) > ctx.timing.heartbeatMs)
    this.probe.watch(`${c.round}/${c.attempt}`, quiet, now)
    const heartbeat = waiting.filter((p) => !quiet.includes(p))
    if (waiting.length === 0 || !quiet.every((p) => this.probe.gone(p, now))) return
    // not while no Hellos reach us (member-view.ts goneSilent): one aggregator of 100, a joiner outside the mesh,
    // closed its round 1.8 s after announcing it, its five trainers alive and pushing. A probe needs no mesh.
    if (heartbeat.length > 0 && !ctx.view!.goneSilent(heartbeat, now)) return
    for (const p of waiting) if (!c.rejected.has(p)) c.rejected.set(p, RejectReason.Gone)
    ctx.log(`round ${c.round}: ${waiting.map((p) => p.slice(-6)).join(',')} stopped sending Hellos or answering ` +
      'probes; not waiting for them')
    void this.finish(c)
  }

  private maybeFinish (c: Collector): void {
    if (c.received.size === c.selected.size) void this.finish(c)
  }

  private async finish (c: Collector): Promise<void> {
    const { ctx, state } = this
    if (!state.closeCollector(c)) return
    if (state.completed !== c.round - 1 || ctx.stopped) return
    state.aggregating()
    const updates = [...c.received.values()]
    const fail = (why: string): void => {
      ctx.log(`round ${c.round}: no result (${why}); the next in the failover order will retry`)
      state.abandonCollector()
    }
    if (updates.length === 0) { fail('no updates'); return }
    const prior = await this.priorHistory()
    if (state.collector !== c || ctx.stopped) return // superseded while we fetched it
    let res
    try {
      res = aggregateRound(ctx.opts.aggregate, updates, { round: c.round, baseHash: c.baseHash,
        global: state.globalAdapter, ...(prior.value !== undefined ? { history: prior.value } : {}) })
    } catch (err) {
      fail(`aggregation failed: ${(err as Error).message}`)
      return
    }
    if (prior.lost && res.history !== undefined) {
      ctx.log(`round ${c.round}: the job's history ${state.historyHash?.slice(0, 12) ?? '(unknown to us)'} cannot ` +
        'be had; this result starts from an empty one (a reset its witnesses refuse if they hold it)')
    }
    const included = res.decisions.filter((d) => d.included).map((d) => d.peer).sort()
    if (included.length === 0) { fail('every update was excluded'); return }
    const excluded = [
      ...res.decisions.filter((d) => !d.included).map((d) =>
        ({ peer: d.peer, reason: (d.reason ?? RejectReason.Excluded).slice(0, 200),
          update: c.received.get(d.peer)!.commit })),
      ...[...c.selected].filter((p) => !c.received.has(p))
        .map((p) => ({ peer: p, reason: c.rejected.get(p) ?? RejectReason.NoUpdate }))
    ]
    const inc = updates.filter((u) => included.includes(u.peer))
    const samples = inc.reduce((s, u) => s + u.samples, 0)
    const trainLoss = inc.reduce((s, u) => s + u.trainLoss * u.samples, 0) / samples
    const result: RoundResult = {
      jobId: ctx.opts.jobId,
      round: c.round,
      attempt: c.attempt,
      baseHash: unhex(c.baseHash),
      newHash: unhex(res.hash),
      selected: [...c.selected].sort(),
      included,
      excluded,
      trainLoss,
      bytes: BigInt(c.bytes),
      seconds: (Date.now() - c.startedAt) / 1000,
      adapterBytes: BigInt(res.bytes.byteLength),
      updates: included.map((p) => c.received.get(p)!.commit),
      ...(prior.base !== '' ? { historyBase: unhex(prior.base) } : {}),
      ...(res.history !== undefined ? { historyHash: unhex(res.history.hash) } : {})
    }
    state.awaitResult()
    ctx.log(`round ${c.round}: result ${res.hash.slice(0, 12)} (${included.length} included) published; awaiting its ` +
      `witnesses`)
    const served = new Map(updates.map((u) => [hex(u.commit.hash), u.bytes]))
    if (res.history !== undefined) served.set(res.history.hash, res.history.bytes)
    await ctx.trust.publishOwn(result, served, res.bytes, { aggregator: ctx.peerId, members: c.members })
  }

  /**
   * The history this round starts from: the one our global's result named, from our store or its holders.
   * When it cannot be had (or we do not know it: a restart, a catch-up) the round starts from the empty one,
   * and the result says so; its witnesses refuse that reset if they can get the named history
   * (protocol/history-rules.ts).
   */
  private async priorHistory (): Promise<{ readonly base: string, readonly value?: JobHistory,
    readonly lost: boolean }> {
    const { ctx, state } = this
    const known = state.historyHash
    if (known === '') return { base: '', lost: false }
    const held = known === undefined ? undefined : await getHistory(ctx, state, known, [], state.globalHash)
    return held !== undefined ? { base: known!, value: held.value, lost: false } : { base: '', lost: true }
  }
}
