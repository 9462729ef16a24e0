// Standing on the same global adapter as the others. Behind them (restarted, joined late, missed results), a
// peer asks one member whose Hello claims a later round for the chain of confirmed results from the round after
// ours (node/chain-sync.ts), checks every link by rules no single member controls (protocol/chain-rules.ts),
// asks another member for the head's link to cross-check it, and adopts the adapter the last checked result
// names, fetched from anyone and checked by hash. A Hello only says whom to ask: a server whose chain does not
// check (forged, wrong adapter, truncated, stale) is logged with its reason and passed over for a while.
// The job done, two attempts of the last round may both have been confirmed: every peer ends on the one a fixed
// rule prefers (protocol/chain-rules.ts preferredResult), switching only to a result whose link it checked.
import { peerIdFromString } from '@libp2p/peer-id'
import type { ChainLink } from '../protocol/messages.ts'
import { checkChain, checkLink, preferredResult } from '../protocol/chain-rules.ts'
import type { ChainContext, ChainPoint } from '../protocol/chain-rules.ts'
import { OPEN_JOB_MEMBERSHIP } from '../protocol/membership.ts'
import { selectRandomK } from '../protocol/election.ts'
import { MAX_CHAIN_LINKS } from '../protocol/limits.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { nextBeacon } from '../protocol/seeds.ts'
import { catchUpDue } from './global-choice.ts'
import { fetchGlobal } from './global-fetch.ts'
import { shuffle } from './shuffle.ts'
import { getHistory } from './history-fetch.ts'
import { fetchChain } from './chain-sync.ts'
import { verifySigned } from './signatures.ts'
import { hex } from './hex.ts'
import { roundInfoOf } from './round-info.ts'
import type { PeerContext } from './peer-context.ts'
import type { RoundState } from './round-state.ts'

interface Source { readonly peer: string, readonly round: number }

/** a chain answer is small: a server that holds the stream open holds us back this long at most */
const chainTimeoutMs = (ctx: PeerContext): number => Math.min(ctx.timing.transferTimeoutMs, 10_000)

export class CatchUp {
  private catchingUp = false
  /** servers whose chain did not check or fell short, passed over until the time given */
  private readonly passed = new Map<string, number>()
  /** the job's first point (round 0, the initial adapter, the genesis beacon): every chain checks from it */
  private genesis?: ChainPoint
  /** we do not know the seed of our next round (a state restored without it): check chains from `genesis` */
  private fromStart = false

  /** `adopting(now)`: a confirmed result is on its way to adoption (member-role.ts isAdopting) */
  constructor (private readonly ctx: PeerContext, private readonly state: RoundState,
    private readonly adopting: (now: number) => boolean = () => false) {}

  /** The job's first point; `fromStart`: our beacon is unknown (a state folder without it), check from there. */
  setGenesis (genesis: ChainPoint, fromStart: boolean): void {
    this.genesis = genesis
    this.fromStart = fromStart
  }

  /**
   * A catch-up is under way, or a member we have not yet refused claims a round past ours: do not aggregate a
   * round the others may have finished (it would fork the job). A false claim holds us back for one refusal.
   */
  holdsBack (now: number): boolean { return this.catchingUp || this.sources(now).length > 0 }

  /**
   * Members that count (paid and old enough: a fresh identity cannot hold us back) whose Hello claims a round
   * past ours, furthest first (a claim only: their chain is checked).
   */
  private sources (now: number): Source[] {
    const { ctx, state } = this
    if (state.completed >= ctx.opts.job.rounds || ctx.view === undefined) return []
    // every tick: the members ahead of us first (none, mostly), then which of them count
    const said = ctx.view.liveWhere(now, (s) => s.round > state.completed && (this.passed.get(s.peer) ?? 0) <= now)
    if (said.length === 0) return []
    const counted = new Set(ctx.countedMembers(state.completed + 1, now))
    const ahead = said.filter((s) => counted.has(s.peer)).map((s) => ({ peer: s.peer, round: s.round }))
    // the furthest first, in random order among equals: the members behind after a round (dozens, with 100 in one
    // process) all asked the same first source at once, and its chain streams failed (stream_error)
    return shuffle(ahead).sort((a, b) => b.round - a.round)
  }

  maybeCatchUp (now: number): void {
    const { ctx, state } = this
    // two rounds behind while we fetch the first of them (a quiet member waits first): the second's result is kept
    if (this.catchingUp || ctx.view === undefined || this.adopting(now)) return
    const sources = this.sources(now)
    if (sources.length === 0) { this.maybeSettle(now); return }
    const cur = state.current
    const due = catchUpDue({
      aheadRound: sources[0]!.round,
      completed: state.completed,
      since: cur.since,
      announcedDeadlineMs: cur.announce?.deadlineMs,
      graceMs: ctx.timing.graceMs,
      now
    })
    if (!due) return
    this.catchingUp = true
    this.fromSources(sources)
      .catch((e: Error) => { ctx.log(`catch-up: ${e.message}`) })
      .finally(() => { this.catchingUp = false })
  }

  private get rules (): ChainContext {
    const { opts } = this.ctx
    const powBits = opts.allowList !== undefined ? 0 : (opts.job.membership ?? OPEN_JOB_MEMBERSHIP).powBits
    return { jobId: opts.jobId, job: opts.job, powBits, allowList: opts.allowList, excluded: this.ctx.trust.excluded,
      verify: verifySigned, select: opts.select ?? selectRandomK }
  }

  /** Tries the sources in turn until one serves a chain past ours that checks. */
  private async fromSources (sources: readonly Source[]): Promise<void> {
    const { ctx, state } = this
    const completed = state.completed
    const here: ChainPoint = { round: completed, hash: state.globalHash, beacon: ctx.trust.beacon }
    const start = this.fromStart && this.genesis !== undefined ? this.genesis : here
    for (const s of sources.slice(0, 3)) {
      if (ctx.stopped || state.completed !== completed) return
      let got = await this.chainFrom(s, start)
      if (got === 'elsewhere' && this.genesis !== undefined) {
        // the others' chain does not run through our adapter (we adopted a result they did not): their whole
        // chain, checked from the job's start, says where the job stands
        ctx.log(`catch-up: the chain of ${s.peer.slice(-6)} is not on our adapter; checking it from round 1`)
        got = await this.chainFrom(s, this.genesis)
      }
      if (got === undefined || got === 'elsewhere') continue
      const last = got.links[got.links.length - 1]!
      if (!await this.crossChecked(last, got.before, s, sources)) continue
      if (await this.adopt(got.links, got.head, s.peer)) return
    }
  }

  /**
   * The checked links `s` serves from `start` on (paged); undefined when its first link does not check,
   * 'elsewhere' when it checks but is not on our adapter.
   */
  private async chainFrom (s: Source, start: ChainPoint): Promise<{ links: ChainLink[], head: ChainPoint,
    before: ChainPoint } | 'elsewhere' | undefined> {
    const { ctx } = this
    const opts = { jobId: ctx.opts.jobId, timeoutMs: chainTimeoutMs(ctx) }
    const links: ChainLink[] = []
    let head = start
    let before = start
    const pass = (reason: string, why?: string): void => { this.refuse(s.peer, head.round + 1, reason, why) }
    // bounded: every page moves the head on by one link at least, and the job has a last round
    while (head.round < Math.min(s.round, ctx.opts.job.rounds)) {
      let page: ChainLink[]
      try {
        page = await fetchChain(ctx.libp2p, peerIdFromString(s.peer), head.round + 1, MAX_CHAIN_LINKS, opts)
      } catch (err) {
        // the reason is what counts against the peer; the message says why, for the log
        const reason = (err as { reason?: string }).reason ?? RejectReason.StreamError
        pass(reason, (err as Error).message)
        break
      }
      if (links.length === 0 && start.round > 0 && page[0]?.result?.round === start.round + 1 &&
        hex(page[0].result.baseHash) !== start.hash) return 'elsewhere'
      const c = await checkChain(page, head, this.rules)
      if (c.valid.length > 0) before = c.before
      links.push(...c.valid)
      head = c.head
      if (c.reason !== undefined) { pass(c.reason); break }
      if (page.length === 0) break
    }
    if (head.round < Math.min(s.round, ctx.opts.job.rounds) && !this.passed.has(s.peer)) {
      pass(`${RejectReason.ChainShort}: round ${head.round} of ${s.round} claimed`)
    }
    return links.length === 0 ? undefined : { links, head, before }
  }

  /** `peer`'s chain did not check at `round`: logged, and the peer passed over for a while. */
  private refuse (peer: string, round: number, reason: string, why?: string): void {
    const { ctx } = this
    const detail = why !== undefined && why !== '' && why !== reason ? ` (${why})` : ''
    ctx.log(`catch-up: chain from ${peer.slice(-6)} refused at round ${round}: ${reason}${detail}`)
    ctx.reject(peer, reason, 'chain', round)
    this.passOver(peer)
  }

  private passOver (peer: string): void {
    this.passed.set(peer, Date.now() + Math.max(10_000, 10 * this.ctx.timing.heartbeatMs))
  }

  /**
   * Another member that claims the head's round serves its link: one that checks from the same point and names
   * another adapter means two quorums confirmed two results for one round; we take neither until it is clear.
   */
  private async crossChecked (last: ChainLink, before: ChainPoint, s: Source,
    sources: readonly Source[]): Promise<boolean> {
    const { ctx } = this
    const round = last.result!.round
    const other = sources.find((o) => o.peer !== s.peer && o.round >= round)
    if (other === undefined) return true
    let theirs: ChainLink[]
    try {
      theirs = await fetchChain(ctx.libp2p, peerIdFromString(other.peer), round, 1,
        { jobId: ctx.opts.jobId, timeoutMs: chainTimeoutMs(ctx) })
    } catch { return true } // a peer that cannot answer says nothing against it
    if (theirs.length === 0 || hex(theirs[0]!.result?.newHash ?? new Uint8Array()) === hex(last.result!.newHash)) {
      return true
    }
    const c = await checkLink(theirs[0]!, before, this.rules)
    if (!c.ok) return true
    ctx.log(`catch-up: round ${round} has two confirmed results (${s.peer.slice(-6)}, ${other.peer.slice(-6)}); ` +
      'waiting')
    return false
  }

  private async adopt (links: readonly ChainLink[], head: ChainPoint, server: string): Promise<boolean> {
    const { ctx, state } = this
    const g = await fetchGlobal(ctx, head.hash, [server])
    if (g === undefined || ctx.stopped || state.completed >= head.round) return false
    // the job's history the head's result names (the next aggregator and its witnesses start from it)
    const historyHash = hex(links[links.length - 1]!.result!.historyHash ?? new Uint8Array(0))
    const held = await getHistory(ctx, state, historyHash, [server], head.hash)
    if (ctx.stopped || state.completed >= head.round) return false
    if (state.collector !== undefined && state.collector.round <= head.round) {
      // the round we collect for was confirmed elsewhere (a failover that overtook us): no result from us
      ctx.log(`round ${state.collector.round}: confirmed without us; no result from us`)
      state.abandonCollector()
    }
    ctx.log(`caught up to round ${head.round} by a chain of ${links.length} confirmed results from ` +
      `${server.slice(-6)} (global ${head.hash.slice(0, 12)})`)
    ctx.trust.caughtUp(head.round, head.beacon) // first: the state's adopted event replays kept announces
    state.catchUp(head.round, head.hash, g.bytes, g.adapter,
      { hash: historyHash, ...(held !== undefined ? { held } : {}) })
    ctx.chain.append(links)
    this.fromStart = false
    return true
  }

  /**
   * The job is done and counted members at our round hold another adapter (their Hellos say whom to ask, never
   * what to take): two attempts of the last round were both confirmed, a late first aggregator and its failover.
   * Every peer ends on the one preferredResult picks, and switches only to a result whose link checks from the
   * round before (chain-rules.ts); the holder of the other is asked nothing more for a while.
   */
  private maybeSettle (now: number): void {
    const { ctx, state } = this
    if (state.completed < ctx.opts.job.rounds || ctx.view === undefined || this.genesis === undefined) return
    const round = state.completed
    // each tick of a finished job: the members that disagree first (almost always none), before the members that
    // count are worked out (every live member's age, each tick of every peer: most of an idle 50-peer process's
    // own CPU in bench scale's profile)
    const differ = ctx.view.liveWhere(now, (s) => s.round === round && s.hash !== state.globalHash &&
      (this.passed.get(s.peer) ?? 0) <= now)
    if (differ.length === 0) return
    const counted = new Set(ctx.countedMembers(round + 1, now)) // as sources(): those that count past our round
    const ask = differ.filter((s) => counted.has(s.peer)).map((s) => s.peer).sort()
    if (ask.length === 0) return
    this.catchingUp = true
    this.settleLast(round, ask)
      .catch((e: Error) => { ctx.log(`end of job: ${e.message}`) })
      .finally(() => { this.catchingUp = false })
  }

  private async settleLast (round: number, peers: readonly string[]): Promise<void> {
    const { ctx, state } = this
    const opts = { jobId: ctx.opts.jobId, timeoutMs: chainTimeoutMs(ctx) }
    for (const peer of peers.slice(0, 3)) {
      if (ctx.stopped || state.completed !== round) return
      const mine = ctx.chain.get(round)?.result
      let theirs: ChainLink | undefined
      try {
        theirs = (await fetchChain(ctx.libp2p, peerIdFromString(peer), round, 1, opts))[0]
      } catch (err) {
        this.refuse(peer, round, (err as { reason?: string }).reason ?? RejectReason.StreamError)
        continue
      }
      const r = theirs?.result
      if (theirs === undefined || r?.round !== round) { this.refuse(peer, round, RejectReason.ChainShort); continue }
      if (mine !== undefined && !preferredResult(r, mine)) { this.passOver(peer); continue } // it moves, not us
      const before = await this.pointBefore(round, peer)
      if (before === undefined) {
        ctx.log(`end of job: cannot check the result of round ${round} that ${peer.slice(-6)} holds (no chain to ` +
          'round before)')
        this.passOver(peer)
        continue
      }
      const c = await checkLink(theirs, before, this.rules)
      if (!c.ok) { this.refuse(peer, round, c.reason); continue }
      const g = await fetchGlobal(ctx, c.next.hash, [peer])
      if (g === undefined || ctx.stopped || state.completed !== round) return
      ctx.trust.caughtUp(round, c.next.beacon)
      state.followOthers(round, c.next.hash, g.bytes, g.adapter, roundInfoOf(r, theirs.aggregator))
      ctx.chain.append([theirs])
      return
    }
  }

  /**
   * Where round `round` was checked from: the round before, its adapter and the beacon of `round`, recomputed
   * along our own chain from the job's start; without one (a state folder without its chain), `server`'s chain
   * checked from round 1.
   */
  private async pointBefore (round: number, server: string): Promise<ChainPoint | undefined> {
    let p = this.genesis!
    const ours = this.ctx.chain.from(1, round - 1)
    if (ours.length === round - 1) {
      for (const l of ours) {
        const r = l.result!
        p = { round: r.round, hash: hex(r.newHash),
          beacon: nextBeacon(p.beacon, l.aggregator, r.updates.map((u) => ({ author: u.author, hash: hex(u.hash) }))) }
      }
      return p
    }
    const got = await this.chainFrom({ peer: server, round }, p)
    return got === undefined || got === 'elsewhere' || got.head.round < round ? undefined : got.before
  }
}
