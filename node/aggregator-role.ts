// The aggregator role, when this peer is elected (or fails over for a silent one): announce the round over the
// members it counts, with the beacon's selection; collect the selected members' signed updates until all
// answered or the deadline; aggregate them in canonical order; publish the signed RoundResult committing to
// every update it received, and serve those updates to the round's witnesses. It adopts its own result only
// when the witnesses confirm it, like every member.
import type { RoundAnnounce, RoundResult, UpdateHeader } from '../protocol/messages.ts'
import { checkUpdate } from '../protocol/round-rules.ts'
import type { Check } from '../protocol/round-rules.ts'
import { updateStatement } from '../protocol/signed-update.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { decodeAdapter, sha256Hex } from './adapter-codec.ts'
import { aggregateRound } from './round-aggregate.ts'
import { sign, verifySigned } from './signatures.ts'
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
    /** trains our own update when we select ourselves (the member role does it, then calls addOwnUpdate) */
    private readonly trainOwn: (round: number, attempt: number) => Promise<void>
  ) {}

  run (round: number, attempt: number, members: readonly string[]): void {
    const core = this.core
    const now = Date.now()
    core.cur.announcedByMe.add(attempt)
    const listed = [...members].sort()
    // receivers recompute the selection from the listed members and the beacon: it is the rule's, not ours
    const selected = [...core.trust.selection(listed, round, attempt)].sort()
    const deadlineMs = now + core.opts.job.roundDeadlineSeconds * 1000
    const a: RoundAnnounce = { jobId: core.opts.jobId, round, attempt, baseHash: unhex(core.globalHash), members: listed, selected, deadlineMs: BigInt(deadlineMs) }
    const c: Collector = { round, attempt, baseHash: core.globalHash, selected: new Set(selected), received: new Map(), rejected: new Map(), members: listed, deadlineMs, startedAt: now, bytes: 0, closed: false }
    if (core.collector?.timer !== undefined) clearTimeout(core.collector.timer)
    core.collector = c
    c.timer = setTimeout(() => { void this.finish(c) }, deadlineMs - now)
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
    const core = this.core
    // the author's signature over (job, round, attempt, base, hash, samples): witnesses check it again
    const statement = updateStatement(core.opts.jobId, h.round, h.attempt, hex(h.baseHash), hex(h.adapterHash), h.samples)
    if (!await verifySigned(sender, statement, h.signature)) { this.rejectUpdate(sender, RejectReason.BadSignature); return { ok: false, reason: RejectReason.BadSignature } }
    const again = this.admitUpdate(sender, h) // the body took time: still open? not a duplicate meanwhile?
    if (!again.ok) return again
    const c = core.collector!
    const d = decodeAdapter(bytes, core.layout, core.maxAdapterBytes)
    if (!d.ok) { this.rejectUpdate(sender, d.reason); return { ok: false, reason: d.reason } }
    c.bytes += bytes.byteLength
    const commit = { author: sender, hash: h.adapterHash, samples: h.samples, signature: h.signature! }
    c.received.set(sender, { peer: sender, samples: h.samples, round: h.round, baseHash: c.baseHash, adapter: d.adapter, trainLoss: h.trainLoss, commit, bytes })
    c.rejected.delete(sender)
    this.maybeFinish(c)
    return { ok: true }
  }

  rejectUpdate (sender: string, reason: string): void {
    const c = this.core.collector
    this.core.events.emit('rejected', { from: sender, reason, where: 'update', round: c?.round })
    if (c !== undefined && c.selected.has(sender) && !c.received.has(sender)) c.rejected.set(sender, reason)
  }

  /** Our own update for the round we collect, if that round (and attempt) is still open. */
  async addOwnUpdate (round: number, attempt: number, u: OwnUpdate): Promise<void> {
    const core = this.core
    const c = core.collector
    if (c === undefined || c.round !== round || c.attempt !== attempt || c.closed) return
    // our own update passes the same checks as anyone's
    const d = decodeAdapter(u.bytes, core.layout, core.maxAdapterBytes)
    if (!d.ok) { this.rejectUpdate(core.peerId, d.reason); return }
    const hash = sha256Hex(u.bytes)
    const signature = await sign(core.key, updateStatement(core.opts.jobId, round, attempt, u.baseHash, hash, u.samples))
    if (c.closed) return
    const commit = { author: core.peerId, hash: unhex(hash), samples: u.samples, signature }
    c.received.set(core.peerId, { peer: core.peerId, samples: u.samples, round, baseHash: u.baseHash, adapter: d.adapter, trainLoss: u.trainLoss, commit, bytes: u.bytes })
    this.maybeFinish(c)
  }

  private maybeFinish (c: Collector): void {
    if (c.received.size === c.selected.size) void this.finish(c)
  }

  private async finish (c: Collector): Promise<void> {
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
      res = aggregateRound(core.opts.aggregate, updates, { round: c.round, baseHash: c.baseHash, global: core.globalAdapter })
    } catch (err) {
      fail(`aggregation failed: ${(err as Error).message}`)
      return
    }
    const included = res.decisions.filter((d) => d.included).map((d) => d.peer).sort()
    if (included.length === 0) { fail('every update was excluded'); return }
    const excluded = [
      ...res.decisions.filter((d) => !d.included).map((d) => ({ peer: d.peer, reason: (d.reason ?? 'excluded').slice(0, 200), update: c.received.get(d.peer)!.commit })),
      ...[...c.selected].filter((p) => !c.received.has(p)).map((p) => ({ peer: p, reason: c.rejected.get(p) ?? 'no_update' }))
    ]
    const inc = updates.filter((u) => included.includes(u.peer))
    const samples = inc.reduce((s, u) => s + u.samples, 0)
    const trainLoss = inc.reduce((s, u) => s + u.trainLoss * u.samples, 0) / samples
    const result: RoundResult = {
      jobId: core.opts.jobId,
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
      updates: included.map((p) => c.received.get(p)!.commit)
    }
    core.setStage(RoundStage.AwaitResult)
    await core.opts.beforePublishResult?.(roundInfoOf(result, core.peerId), result)
    if (core.stopped) return
    const served = new Map(updates.map((u) => [hex(u.commit.hash), u.bytes]))
    await core.trust.publishOwn(result, served, res.bytes, { aggregator: core.peerId, members: c.members })
  }
}
