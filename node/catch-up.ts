// Standing on the same global adapter as the others. Behind them (restarted, joined late, missed results), a
// peer asks one member whose Hello claims a later round for the chain of confirmed results from the round after
// ours (node/chain-sync.ts), checks every link by rules no single member controls (protocol/chain-rules.ts),
// asks another member for the head's link to cross-check it, and adopts the adapter the last checked result
// names, fetched from anyone and checked by hash. A Hello only says whom to ask: a server whose chain does not
// check (forged, wrong adapter, truncated, stale) is logged with its reason and passed over for a while.
// The job done, a peer follows the adapter most live peers at its round hold (global-choice.ts).
import { peerIdFromString } from '@libp2p/peer-id'
import type { ChainLink } from '../protocol/messages.ts'
import { checkChain, checkLink } from '../protocol/chain-rules.ts'
import type { ChainContext, ChainPoint } from '../protocol/chain-rules.ts'
import { OPEN_JOB_MEMBERSHIP } from '../protocol/membership.ts'
import { MAX_CHAIN_LINKS } from '../protocol/limits.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { catchUpDue, catchUpQuorum, followAtSameRound } from './global-choice.ts'
import { fetchGlobal } from './global-fetch.ts'
import { getHistory } from './history-fetch.ts'
import { fetchChain } from './chain-sync.ts'
import { verifySigned } from './signatures.ts'
import { hex } from './hex.ts'
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

  constructor (private readonly ctx: PeerContext, private readonly state: RoundState) {}

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
    const counted = new Set(ctx.countedMembers(state.completed + 1, now))
    return ctx.view.statuses(now)
      .filter((s) => s.round > state.completed && s.peer !== ctx.peerId && counted.has(s.peer) &&
        (this.passed.get(s.peer) ?? 0) <= now)
      .map((s) => ({ peer: s.peer, round: s.round }))
      .sort((a, b) => b.round - a.round)
  }

  maybeCatchUp (now: number): void {
    const { ctx, state } = this
    if (this.catchingUp || ctx.view === undefined) return
    const sources = this.sources(now)
    if (sources.length === 0) { this.maybeFollow(now); return }
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
      verify: verifySigned }
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
    const pass = (reason: string): void => {
      ctx.log(`catch-up: chain from ${s.peer.slice(-6)} refused at round ${head.round + 1}: ${reason}`)
      ctx.reject(s.peer, reason, 'chain', head.round + 1)
      this.passed.set(s.peer, Date.now() + Math.max(10_000, 10 * ctx.timing.heartbeatMs))
    }
    // bounded: every page moves the head on by one link at least, and the job has a last round
    while (head.round < Math.min(s.round, ctx.opts.job.rounds)) {
      let page: ChainLink[]
      try {
        page = await fetchChain(ctx.libp2p, peerIdFromString(s.peer), head.round + 1, MAX_CHAIN_LINKS, opts)
      } catch (err) {
        pass((err as { reason?: string }).reason ?? RejectReason.StreamError)
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
