// The aggregator role, when this peer is elected (or fails over for a silent one): announce the round,
// collect the selected members' updates until all answered or the deadline, aggregate, adopt the new
// global adapter and publish the RoundResult.
import type { RoundAnnounce, RoundResult, UpdateHeader } from '../protocol/messages.ts'
import type { SelectFn } from '../protocol/election.ts'
import { checkUpdate } from '../protocol/round-rules.ts'
import type { Check } from '../protocol/round-rules.ts'
import { decodeAdapter, encodeAdapter, sha256Hex } from './adapter-codec.ts'
import { RoundStage } from './round-stage.ts'
import { roundInfoOf } from './round-info.ts'
import { hex, unhex } from './hex.ts'
import type { Collector, PeerCore } from './peer-core.ts'

/** this peer's own update, trained as a selected member of the round it aggregates */
export interface OwnUpdate {
  readonly baseHash: string
  readonly bytes: Uint8Array
  readonly samples: number
  readonly trainLoss: number
}

export class AggregatorRole {
  constructor (
    private readonly core: PeerCore,
    private readonly select: SelectFn,
    /** trains our own update when we select ourselves (the member role does it, then calls addOwnUpdate) */
    private readonly trainOwn: (round: number, attempt: number) => Promise<void>
  ) {}

  run (round: number, attempt: number, members: readonly string[]): void {
    const core = this.core
    const now = Date.now()
    core.cur.announcedByMe.add(attempt)
    const live = members.filter((m) => core.view!.isLive(m, now)) // a silent peer is not worth waiting for
    const selected = this.select({ members: live, k: core.opts.job.peersPerRound, prevGlobalHash: core.globalHash, round, attempt })
    const deadlineMs = now + core.opts.job.roundDeadlineSeconds * 1000
    const a: RoundAnnounce = { jobId: core.opts.jobId, round, attempt, baseHash: unhex(core.globalHash), members: [...members].sort(), selected, deadlineMs: BigInt(deadlineMs) }
    const c: Collector = { round, attempt, baseHash: core.globalHash, selected: new Set(selected), received: new Map(), rejected: new Map(), deadlineMs, startedAt: now, bytes: 0, closed: false }
    if (core.collector?.timer !== undefined) clearTimeout(core.collector.timer)
    core.collector = c
    c.timer = setTimeout(() => { this.finish(c) }, deadlineMs - now)
    core.acceptAnnounce(a, core.peerId, now)
    core.setStage(RoundStage.Collecting)
    core.log(`round ${round}${attempt > 0 ? ` (failover ${attempt})` : ''}: aggregating; selected ${selected.map((s) => s.slice(-6)).join(',')}`)
    void core.publish({ announce: a })
    if (c.selected.has(core.peerId)) this.trainOwn(round, attempt).catch((e: Error) => core.log(`local training failed: ${e.message}`))
  }

  admitUpdate (sender: string, h: UpdateHeader): Check {
    const c = this.core.collector
    if (c === undefined) return { ok: false, reason: 'not_aggregating' }
    return checkUpdate(h, hex(h.baseHash), { sender, round: c.round, attempt: c.attempt, baseHash: c.baseHash, selected: c.selected, received: new Set(c.received.keys()), deadlineMs: c.deadlineMs, nowMs: Date.now(), closed: c.closed })
  }

  async acceptUpdate (sender: string, h: UpdateHeader, bytes: Uint8Array): Promise<Check> {
    const again = this.admitUpdate(sender, h) // the body took time: still open? not a duplicate meanwhile?
    if (!again.ok) return again
    const core = this.core
    const c = core.collector!
    const d = decodeAdapter(bytes, core.layout, core.maxAdapterBytes)
    if (!d.ok) { this.rejectUpdate(sender, d.reason); return { ok: false, reason: d.reason } }
    c.bytes += bytes.byteLength
    c.received.set(sender, { peer: sender, samples: h.samples, round: h.round, baseHash: c.baseHash, adapter: d.adapter, trainLoss: h.trainLoss })
    c.rejected.delete(sender)
    this.maybeFinish(c)
    return { ok: true }
  }

  rejectUpdate (sender: string, reason: string): void {
    this.core.events.emit('rejected', { from: sender, reason, where: 'update' })
    const c = this.core.collector
    if (c !== undefined && c.selected.has(sender) && !c.received.has(sender)) c.rejected.set(sender, reason)
  }

  /** Our own update for the round we collect, if that round (and attempt) is still open. */
  addOwnUpdate (round: number, attempt: number, u: OwnUpdate): void {
    const core = this.core
    const c = core.collector
    if (c === undefined || c.round !== round || c.attempt !== attempt || c.closed) return
    // our own update passes the same checks as anyone's
    const d = decodeAdapter(u.bytes, core.layout, core.maxAdapterBytes)
    if (!d.ok) { this.rejectUpdate(core.peerId, d.reason); return }
    c.received.set(core.peerId, { peer: core.peerId, samples: u.samples, round, baseHash: u.baseHash, adapter: d.adapter, trainLoss: u.trainLoss })
    this.maybeFinish(c)
  }

  private maybeFinish (c: Collector): void {
    if (c.received.size === c.selected.size) this.finish(c)
  }

  private finish (c: Collector): void {
    const core = this.core
    if (c.closed || core.collector !== c) return
    c.closed = true
    clearTimeout(c.timer)
    if (core.completed !== c.round - 1 || core.stopped) return
    core.setStage(RoundStage.Aggregating)
    const updates = [...c.received.values()]
    const fail = (why: string): void => {
      core.log(`round ${c.round}: no result (${why}); the next in the failover order will retry`)
      core.collector = undefined
      core.setStage(RoundStage.AwaitResult)
    }
    if (updates.length === 0) { fail('no updates'); return }
    let res
    try {
      res = core.opts.aggregate(updates, { round: c.round, baseHash: c.baseHash, global: core.globalAdapter })
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
      jobId: core.opts.jobId,
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
      adapterBytes: BigInt(bytes.byteLength),
      updates: []
    }
    const info = roundInfoOf(result, core.peerId)
    core.adopt(c.round, hash, bytes, res.adapter, info, c.baseHash) // before publishing, so fetches find it
    const hold = core.opts.beforePublishResult?.(info)
    if (hold === undefined) void core.publish({ result })
    else void hold.then(async () => { if (!core.stopped) await core.publish({ result }) })
  }
}
