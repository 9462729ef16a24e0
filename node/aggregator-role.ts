// The aggregator role, when this peer is elected (or fails over for a silent one): announce the round,
// collect the selected members' updates until all answered or the deadline, aggregate, adopt the new
// global adapter and publish the RoundResult. The collector is opened and closed by RoundState
// (round-state.ts); this role fills it, and takes our own update from its 'ownUpdate' event.
import type { RoundAnnounce, RoundResult, UpdateHeader } from '../protocol/messages.ts'
import type { SelectFn } from '../protocol/election.ts'
import { checkUpdate } from '../protocol/round-rules.ts'
import type { Check } from '../protocol/round-rules.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { decodeAdapter, encodeAdapter, sha256Hex } from './adapter-codec.ts'
import { roundInfoOf } from './round-info.ts'
import { hex, unhex } from './hex.ts'
import type { PeerContext } from './peer-context.ts'
import type { Collector, OwnUpdate, RoundState } from './round-state.ts'

export class AggregatorRole {
  constructor (
    private readonly ctx: PeerContext,
    private readonly state: RoundState,
    private readonly select: SelectFn
  ) {
    state.events.on('ownUpdate', (u) => { this.addOwnUpdate(u) })
  }

  /** Announces attempt `attempt` of round `round` among `members` and opens its collector. */
  run (round: number, attempt: number, members: readonly string[]): void {
    const { ctx, state } = this
    const now = Date.now()
    // a silent peer is not worth waiting for (frozen members: a deterministic run selects among all of them)
    const live = ctx.opts.members !== undefined ? members : members.filter((m) => ctx.view!.isLive(m, now))
    const baseHash = state.globalHash
    const { job } = ctx.opts
    const selected = this.select({ members: live, k: job.peersPerRound, prevGlobalHash: baseHash, round, attempt })
    const deadlineMs = now + job.roundDeadlineSeconds * 1000
    const a: RoundAnnounce = {
      jobId: ctx.opts.jobId,
      round,
      attempt,
      baseHash: unhex(baseHash),
      members: [...members].sort(),
      selected,
      deadlineMs: BigInt(deadlineMs)
    }
    const c = {
      round, attempt, baseHash, selected: new Set(selected), received: new Map(), rejected: new Map(), deadlineMs,
      // a failover round took from its first announce (the attempt that failed included), not from ours
      startedAt: attempt > 0 ? Math.min(now, state.current.firstAnnounceAt ?? state.current.since) : now
    }
    const failover = attempt > 0 ? ` (failover ${attempt})` : ''
    ctx.log(`round ${round}${failover}: aggregating; selected ${selected.map((s) => s.slice(-6)).join(',')}`)
    void ctx.publish({ announce: a })
    // opening it tells the member role, which trains our own update when we selected ourselves
    state.openCollector(c, a, now, (open) => { this.finish(open) })
  }

  admitUpdate (sender: string, h: UpdateHeader): Check {
    const c = this.state.collector
    if (c === undefined) return { ok: false, reason: RejectReason.NotAggregating }
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

  async acceptUpdate (sender: string, h: UpdateHeader, bytes: Uint8Array): Promise<Check> {
    const again = this.admitUpdate(sender, h) // the body took time: still open? not a duplicate meanwhile?
    if (!again.ok) return again
    const { ctx } = this
    const c = this.state.collector!
    const d = decodeAdapter(bytes, ctx.layout, ctx.maxAdapterBytes)
    if (!d.ok) { this.rejectUpdate(sender, d.reason); return { ok: false, reason: d.reason } }
    c.bytes += bytes.byteLength
    const { samples, round, trainLoss } = h
    c.received.set(sender, { peer: sender, samples, round, baseHash: c.baseHash, adapter: d.adapter, trainLoss })
    c.rejected.delete(sender)
    this.maybeFinish(c)
    return { ok: true }
  }

  rejectUpdate (sender: string, reason: string): void {
    this.ctx.reject(sender, reason, 'update')
    const c = this.state.collector
    if (c !== undefined && c.selected.has(sender) && !c.received.has(sender)) c.rejected.set(sender, reason)
  }

  /** Our own update for the round we collect, if that round (and attempt) is still open. */
  private addOwnUpdate (u: OwnUpdate): void {
    const { ctx } = this
    const c = this.state.collector
    if (c === undefined || c.round !== u.round || c.attempt !== u.attempt || c.closed) return
    // our own update passes the same checks as anyone's
    const d = decodeAdapter(u.bytes, ctx.layout, ctx.maxAdapterBytes)
    if (!d.ok) { this.rejectUpdate(ctx.peerId, d.reason); return }
    const { samples, round, baseHash, trainLoss } = u
    c.received.set(ctx.peerId, { peer: ctx.peerId, samples, round, baseHash, adapter: d.adapter, trainLoss })
    this.maybeFinish(c)
  }

  /**
   * Closes the collector once every selected member that has not answered is gone (its Hellos stopped, as
   * the live set says): a crashed trainer costs a few Hello intervals, not the round's whole deadline.
   */
  closeIfOnlyGoneRemain (now: number): void {
    const { ctx } = this
    const c = this.state.collector
    if (c === undefined || c.closed) return
    const waiting = [...c.selected].filter((p) => !c.received.has(p))
    if (waiting.length === 0 || waiting.some((p) => ctx.view!.isLive(p, now))) return
    for (const p of waiting) if (!c.rejected.has(p)) c.rejected.set(p, RejectReason.Gone)
    ctx.log(`round ${c.round}: ${waiting.map((p) => p.slice(-6)).join(',')} stopped sending Hellos; not waiting for them`)
    this.finish(c)
  }

  private maybeFinish (c: Collector): void {
    if (c.received.size === c.selected.size) this.finish(c)
  }

  private finish (c: Collector): void {
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
    let res
    try {
      res = ctx.opts.aggregate(updates, { round: c.round, baseHash: c.baseHash, global: state.globalAdapter })
    } catch (err) {
      fail(`aggregation failed: ${(err as Error).message}`)
      return
    }
    const included = res.decisions.filter((d) => d.included).map((d) => d.peer)
    if (included.length === 0) { fail('every update was excluded'); return }
    const excluded = [
      ...res.decisions.filter((d) => !d.included)
        .map((d) => ({ peer: d.peer, reason: (d.reason ?? RejectReason.Excluded).slice(0, 200) })),
      ...[...c.selected].filter((p) => !c.received.has(p))
        .map((p) => ({ peer: p, reason: c.rejected.get(p) ?? RejectReason.NoUpdate }))
    ]
    const inc = updates.filter((u) => included.includes(u.peer))
    const samples = inc.reduce((s, u) => s + u.samples, 0)
    const trainLoss = inc.reduce((s, u) => s + u.trainLoss * u.samples, 0) / samples
    const bytes = encodeAdapter(res.adapter)
    const hash = sha256Hex(bytes)
    const result: RoundResult = {
      jobId: ctx.opts.jobId,
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
    // adopted before publishing, so the members' fetches find it
    state.adopt(c.round, hash, bytes, res.adapter, roundInfoOf(result, ctx.peerId), c.baseHash)
    void ctx.publish({ result })
  }
}
