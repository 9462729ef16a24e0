// Standing on the same global adapter as the others: fetching a global adapter from whoever holds it,
// catching up with a quorum that is ahead of us, and the fork choice between two attempts' results
// (the decisions themselves are pure, in global-choice.ts).
import { peerIdFromString } from '@libp2p/peer-id'
import type { RoundResult } from '../protocol/messages.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { decodeAdapter } from './adapter-codec.ts'
import { fetchAdapter, withRetries } from './transfer.ts'
import type { MemberView } from './member-view.ts'
import { RoundStage } from './round-stage.ts'
import { formatRound, roundInfoOf } from './round-info.ts'
import { hex } from './hex.ts'
import { catchUpDue, catchUpQuorum, followAtSameRound, isEarlierAttempt } from './global-choice.ts'
import type { PeerCore } from './peer-core.ts'

export class CatchUp {
  private catchingUp = false

  constructor (private readonly core: PeerCore) {}

  /** the furthest (round, hash) past ours that a quorum of live peers report in their Hellos */
  quorumAhead (now: number): ReturnType<MemberView['ahead']> {
    const view = this.core.view!
    // only members that count (membership price paid, old enough, no evidence), and at least the witness quorum
    const counted = this.core.countedMembers(this.core.completed + 1, now)
    const quorum = Math.max(catchUpQuorum(counted.length), Math.min(this.core.opts.job.witnesses.quorum, counted.length - 1))
    return view.ahead(this.core.completed, quorum, now, (p) => counted.includes(p))
  }

  /** Behind the others (missed results, restarted): fetch the global adapter that a quorum of live peers report. */
  maybeCatchUp (now: number): void {
    const core = this.core
    if (this.catchingUp || core.view === undefined) return
    const ahead = this.quorumAhead(now)
    if (ahead === undefined) { this.maybeFollow(now); return }
    if (core.collector !== undefined) {
      // a quorum is past the round we collect for: its result was made elsewhere (a failover that overtook us)
      core.log(`round ${core.collector.round}: the others are at round ${ahead.round} already; no result from us`)
      clearTimeout(core.collector.timer)
      core.collector.closed = true
      core.collector = undefined
      core.setStage(RoundStage.AwaitResult)
    }
    if (!catchUpDue({ aheadRound: ahead.round, completed: core.completed, since: core.cur.since, announcedDeadlineMs: core.cur.announce?.deadlineMs, graceMs: core.timing.graceMs, now })) return
    this.catchingUp = true
    this.fetchGlobal(ahead.hash, ahead.holders)
      .then((g) => {
        if (g === undefined || core.completed >= ahead.round || !/^[0-9a-f]{64}$/.test(ahead.beacon)) return
        core.trust.beacon = ahead.beacon
        void core.store.saveBeacon(ahead.round, ahead.beacon).catch(() => {})
        core.adopt(ahead.round, ahead.hash, g.bytes, g.adapter, undefined)
      })
      .catch(() => {})
      .finally(() => { this.catchingUp = false })
  }

  /** The job is done and we do not know our adapter's attempt: take the one the others hold (global-choice.ts). */
  private maybeFollow (now: number): void {
    const core = this.core
    if (core.completed < core.opts.job.rounds || core.view === undefined) return
    const round = core.completed
    const atOurRound = core.view.statuses(now).filter((s) => s.round === round)
    const hash = followAtSameRound({ completed: round, hash: core.globalHash, attempt: core.globalAttempt, base: core.globalBase }, atOurRound, catchUpQuorum(core.view.live(now).length))
    if (hash === undefined) return
    this.catchingUp = true
    this.fetchGlobal(hash, atOurRound.filter((s) => s.hash === hash).map((s) => s.peer))
      .then((g) => {
        if (g === undefined || core.stopped || core.completed !== round || core.globalAttempt !== -1) return
        core.setGlobal(round, hash, g.bytes, g.adapter)
        core.persist(undefined)
        core.nextHello = 0
        core.log(`round ${round}: the others hold another adapter for it; following them (global ${hash.slice(0, 12)})`)
      })
      .catch(() => {})
      .finally(() => { this.catchingUp = false })
  }

  /**
   * Fetches and verifies a global adapter from the first source that has it: members whose Hello says they
   * hold it (in random order) before `from` (the aggregator that made it), so the members of a job do not
   * all fetch a new adapter from one peer at once; the hash check makes any holder as good as another.
   */
  async fetchGlobal (hash: string, from: readonly string[]): Promise<{ bytes: Uint8Array, adapter: Adapter } | undefined> {
    const core = this.core
    const holders = (core.view?.holdersOf(hash, Date.now()) ?? []).filter((p) => !from.includes(p))
    for (let i = holders.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [holders[i], holders[j]] = [holders[j]!, holders[i]!] }
    const sources = [...new Set([...holders, ...from])].filter((p) => p !== core.peerId)
    for (const p of sources) {
      try {
        const bytes = await withRetries(3, async () => await fetchAdapter(core.libp2p, peerIdFromString(p), hash, { jobId: core.opts.jobId, maxBytes: core.maxAdapterBytes, timeoutMs: core.timing.transferTimeoutMs }))
        const d = decodeAdapter(bytes, core.layout, core.maxAdapterBytes)
        if (d.ok) {
          await core.opts.afterFetch?.(hash)
          return { bytes, adapter: d.adapter }
        }
        core.events.emit('rejected', { from: p, reason: d.reason, where: 'adapter' })
      } catch (err) {
        if (core.stopped) return undefined
        core.log(`fetch of ${hash.slice(0, 12)} from ${p.slice(-6)} failed: ${(err as Error).message}`)
        core.events.emit('rejected', { from: p, reason: (err as { reason?: string }).reason ?? 'stream_error', where: 'adapter' })
      }
    }
    return undefined
  }

  /** A result for the round we completed, from an earlier attempt than the one we adopted, on the same base. */
  isEarlierAttempt (r: RoundResult): boolean {
    const core = this.core
    return isEarlierAttempt(
      { round: r.round, attempt: r.attempt, baseHash: hex(r.baseHash), newHash: hex(r.newHash) },
      { completed: core.completed, hash: core.globalHash, attempt: core.globalAttempt, base: core.globalBase }
    )
  }

  /** The earlier attempt wins everywhere: we switch to its result and drop whatever we began on the other. */
  async preferEarlierAttempt (r: RoundResult, sender: string): Promise<void> {
    const core = this.core
    if (!core.view!.isLive(sender, Date.now())) { core.events.emit('rejected', { from: sender, reason: 'unknown_sender', where: 'result' }); return }
    const hash = hex(r.newHash)
    const g = await this.fetchGlobal(hash, [sender])
    if (g === undefined) { core.events.emit('rejected', { from: sender, reason: 'adapter_unavailable', where: 'result' }); return }
    if (core.stopped || !this.isEarlierAttempt(r)) return // moved on (or switched) while fetching
    const info = roundInfoOf(r, sender)
    core.setGlobal(r.round, hash, g.bytes, g.adapter)
    core.globalAttempt = r.attempt
    const last = core.roundLog.length - 1
    if (last >= 0 && core.roundLog[last]!.round === r.round) core.roundLog[last] = info
    else core.roundLog.push(info)
    core.persist(info)
    core.dropCollector()
    core.cur = core.freshRound(r.round + 1)
    core.log(`round ${r.round}: two attempts published a result; keeping the earlier one`)
    core.log(formatRound(info, core.peerId))
    core.events.emit('result', info)
    core.nextHello = 0
    core.setStage(r.round >= core.opts.job.rounds ? RoundStage.Done : RoundStage.AwaitAnnounce)
  }
}
