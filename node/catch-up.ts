// Standing on the same global adapter as the others, from their Hellos: catching up with a quorum that is
// ahead of us, and (the job done) following the others when most hold another adapter for our last round.
// The decisions are pure, in global-choice.ts; the writes are RoundState's catchUp and followOthers.
import type { MemberView } from './member-view.ts'
import { catchUpDue, catchUpQuorum, followAtSameRound } from './global-choice.ts'
import { fetchGlobal } from './global-fetch.ts'
import type { PeerContext } from './peer-context.ts'
import type { RoundState } from './round-state.ts'

export class CatchUp {
  private catchingUp = false

  constructor (private readonly ctx: PeerContext, private readonly state: RoundState) {}

  /** the furthest (round, hash) past ours that a quorum of live peers report in their Hellos */
  quorumAhead (now: number): ReturnType<MemberView['ahead']> {
    const { ctx, state } = this
    // only members that count (membership price paid, old enough, no evidence), and at least the witness quorum
    const counted = ctx.countedMembers(state.completed + 1, now)
    const quorum = Math.max(catchUpQuorum(counted.length), Math.min(ctx.opts.job.witnesses.quorum, counted.length - 1))
    return ctx.view!.ahead(state.completed, quorum, now, (p) => counted.includes(p))
  }

  /** Behind the others (missed results, restarted): fetch the global adapter that a quorum of live peers report. */
  maybeCatchUp (now: number): void {
    const { ctx, state } = this
    if (this.catchingUp || ctx.view === undefined) return
    const ahead = this.quorumAhead(now)
    if (ahead === undefined) { this.maybeFollow(now); return }
    if (state.collector !== undefined) {
      // a quorum is past the round we collect for: its result was made elsewhere (a failover that overtook us)
      ctx.log(`round ${state.collector.round}: the others are at round ${ahead.round} already; no result from us`)
      state.abandonCollector()
    }
    const cur = state.current
    const due = catchUpDue({
      aheadRound: ahead.round,
      completed: state.completed,
      since: cur.since,
      announcedDeadlineMs: cur.announce?.deadlineMs,
      graceMs: ctx.timing.graceMs,
      now
    })
    if (!due) return
    this.catchingUp = true
    fetchGlobal(ctx, ahead.hash, ahead.holders)
      .then((g) => {
        if (g === undefined || state.completed >= ahead.round || !/^[0-9a-f]{64}$/.test(ahead.beacon)) return
        ctx.trust.setBeacon(ahead.round, ahead.beacon) // the seed the same quorum reports with the adapter
        state.catchUp(ahead.round, ahead.hash, g.bytes, g.adapter)
      })
      .catch(() => {})
      .finally(() => { this.catchingUp = false })
  }

  /** The job is done and most live peers at our round hold another adapter: take it (global-choice.ts). */
  private maybeFollow (now: number): void {
    const { ctx, state } = this
    if (state.completed < ctx.opts.job.rounds || ctx.view === undefined) return
    const round = state.completed
    const atOurRound = ctx.view.statuses(now).filter((s) => s.round === round)
    const hash = followAtSameRound(state.standing, atOurRound, catchUpQuorum(ctx.view.live(now).length))
    if (hash === undefined) return
    this.catchingUp = true
    fetchGlobal(ctx, hash, atOurRound.filter((s) => s.hash === hash).map((s) => s.peer))
      .then((g) => {
        if (g === undefined || ctx.stopped || state.completed !== round || state.globalHash === hash) return
        state.followOthers(round, hash, g.bytes, g.adapter)
      })
      .catch(() => {})
      .finally(() => { this.catchingUp = false })
  }
}
