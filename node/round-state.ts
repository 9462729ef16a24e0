// Where the job stands for this peer: the global adapter (round, hash, bytes, attempt), the rounds log, the
// current round, the stage and, while we aggregate, the collector. RoundState is the only writer of all of
// it; every change is a named transition below, and each emits an event the roles and the peer react to
// (the roles never call each other). Its shape follows hivemind's averaging/control.py (one object owns the
// stage of a step) and Flower's server.py fit_round (choose, collect, aggregate).
//
//  stage            transition (method)                 event(s)                next stage
//  ---------------  ----------------------------------  ----------------------  -----------------------------
//  -                begin(...)        start or restart   global                  Gathering
//  any              enterRound(r)     round r is next    -                       (unchanged)
//  any              gathering(now)    too few members    stage                   Gathering
//  Gathering        roundDue(now)     enough members     stage                   AwaitAnnounce
//  AwaitAnnounce    acceptAnnounce    a member's follow  announce                (Training or AwaitResult)
//  AwaitAnnounce    openCollector     we aggregate       announce, stage,        Collecting
//                                                        collectorOpened
//  AwaitAnnounce    training()        selected           stage                   Training
//  Training         pushing()         update trained     stage                   Pushing
//  Training/Pushing awaitResult()     update sent        stage                   AwaitResult
//  Collecting       closeCollector    all in / deadline  collectorClosed         (unchanged)
//  Collecting       aggregating()     aggregation runs   stage                   Aggregating
//  Coll./Aggr.      abandonCollector  no result from us  collectorClosed, stage  AwaitResult
//  any              dropCollector     a later attempt    collectorClosed         (unchanged)
//  any              adopt(...)        a verified result  result, adopted, stage  AwaitAnnounce or Done (+done)
//  any              attemptFailed     evidence against   stage                   AwaitAnnounce
//                                     its aggregator
//  any              catchUp(...)      a quorum is ahead  adopted, stage          AwaitAnnounce or Done (+done)
//  Done             followOthers      the preferred      followed                Done
//                                     confirmed result of
//                                     the last round
//  (offerOwnUpdate: our own update for the round we collect; emits ownUpdate, writes nothing)
//
// docs/round.md walks one round through these transitions.
import { EventEmitter } from 'node:events'
import type { UpdateCommit } from '../protocol/messages.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { ClientUpdate } from '../trainer/aggregate/types.ts'
import type { JobHistory } from '../trainer/aggregate/history.ts'
import type { StateStore } from './state-store.ts'
import { RoundStage } from './round-stage.ts'
import { formatRound, missedRounds } from './round-info.ts'
import type { RoundInfo } from './round-info.ts'
import type { AnnounceEvent } from './types.ts'

/** What we know of the round we are in (round = completed + 1 once it is due). */
interface CurrentRound {
  readonly round: number
  /** when the round became due (or, with an accepted announce, unused) */
  readonly since: number
  /** the attempt whose announce we follow, -1: none */
  readonly accepted: number
  readonly announce?: {
    readonly attempt: number
    readonly aggregator: string
    readonly members: readonly string[]
    readonly selected: readonly string[]
    readonly deadlineMs: number
  }
  /** attempt -> its aggregator, for every announce we followed */
  readonly aggregators: ReadonlyMap<number, string>
  /** attempts this peer announced itself */
  readonly announcedByMe: ReadonlySet<number>
  /** when the round's first announce (any attempt) was followed: a failover round's duration counts from it */
  readonly firstAnnounceAt?: number
}

interface MutableRound {
  readonly round: number
  since: number
  accepted: number
  announce?: CurrentRound['announce']
  readonly aggregators: Map<number, string>
  readonly announcedByMe: Set<number>
  firstAnnounceAt?: number
}

/**
 * an update the aggregator took: decoded, with its author's signed commitment, its bytes (served to witnesses) and
 * our receipt for it (a pushed one: the same receipt answers a resend)
 */
export type ReceivedUpdate = ClientUpdate & { readonly trainLoss: number, readonly commit: UpdateCommit,
  readonly bytes: Uint8Array, readonly receipt?: Uint8Array<ArrayBuffer> }

/** The aggregator's round in progress: RoundState opens and closes it, the aggregator role fills it. */
export interface Collector {
  readonly round: number
  readonly attempt: number
  readonly baseHash: string
  readonly selected: ReadonlySet<string>
  readonly received: Map<string, ReceivedUpdate>
  /** the members the announce listed (the witness draw's) */
  readonly members: readonly string[]
  /** reason per selected member whose push was refused */
  readonly rejected: Map<string, string>
  readonly deadlineMs: number
  readonly startedAt: number
  bytes: number
  /** set by RoundState only: no update is taken any more */
  readonly closed: boolean
}

/** An announce as the state keeps it (decoded from the wire, or built by our aggregator role). */
interface AnnounceLike {
  readonly round: number
  readonly attempt: number
  readonly members: readonly string[]
  readonly selected: readonly string[]
  readonly deadlineMs: bigint
}

/** this peer's own update, trained as a selected member of the round it aggregates */
export interface OwnUpdate {
  readonly round: number
  readonly attempt: number
  readonly baseHash: string
  readonly bytes: Uint8Array
  readonly samples: number
  readonly trainLoss: number
}

interface RoundEvents {
  // ---- forwarded to the peer's public events (types.ts PeerEvents)
  announce: [AnnounceEvent]
  result: [RoundInfo]
  stage: [RoundStage]
  done: []
  // ---- for the roles
  /** a global adapter from a result or a catch-up was taken (info: undefined for a catch-up) */
  adopted: [{ readonly round: number, readonly info: RoundInfo | undefined }]
  /** the global of our completed round was replaced by the others' (fork choice) */
  followed: [{ readonly round: number, readonly hash: string }]
  /** any write of the global adapter */
  global: [{ readonly round: number, readonly hash: string }]
  collectorOpened: [Collector]
  collectorClosed: [Collector]
  ownUpdate: [OwnUpdate]
}

interface RoundStateDeps {
  readonly store: StateStore
  /** rounds of the job: adopting the last one moves to Done */
  readonly rounds: number
  readonly log: (line: string) => void
  /** our peer id (known once the host runs) */
  readonly self: () => string
}

/** global adapters we keep serving: members a round behind may still fetch the previous one */
const SERVED = 3

/** a job history blob we hold, checked (hash and decode) */
export interface HeldHistory { readonly bytes: Uint8Array, readonly value: JobHistory }

/**
 * The history that goes with an adopted global adapter: its hash ('' : the empty history) and, when we could
 * fetch it, its blob. undefined (a catch-up, a restart): we do not know it until the next result we adopt.
 */
export interface AdoptedHistory { readonly hash: string, readonly held?: HeldHistory }

export class RoundState {
  readonly events = new EventEmitter<RoundEvents>()
  private stageNow = RoundStage.Gathering
  private completedRound = 0
  private hash = ''
  private adapter!: Adapter
  private readonly served = new Map<string, Uint8Array>() // hash -> bytes
  /** the hash of our global's history ('' : empty), undefined when unknown (protocol/history-rules.ts) */
  private historyNow: string | undefined = ''
  private readonly histories = new Map<string, HeldHistory>() // hash -> blob, the last SERVED held
  private log: RoundInfo[] = []
  private cur: MutableRound = fresh(1)
  private collecting?: Collector & { closed: boolean, timer?: NodeJS.Timeout }
  private peftConfig = ''
  private saving: Promise<void> = Promise.resolve()
  private stopped = false
  /** the first round after start: like round 1, it waits settleMs so the view holds the others' Hellos */
  private first = 1

  constructor (private readonly deps: RoundStateDeps) {}

  // ------------------------------------------------------------------ reads
  get stage (): RoundStage { return this.stageNow }
  get completed (): number { return this.completedRound }
  get globalHash (): string { return this.hash }
  get globalAdapter (): Adapter { return this.adapter }
  get firstRound (): number { return this.first }
  get current (): CurrentRound { return this.cur }
  get collector (): Collector | undefined { return this.collecting }
  get rounds (): readonly RoundInfo[] { return this.log }

  /** bytes of a global adapter we hold, by hash (what /fedit/adapter serves) */
  adapterBytes (hash: string): Uint8Array | undefined { return this.served.get(hash) }
  /** the hash of the history that goes with our global ('' : the empty one; undefined: unknown) */
  get historyHash (): string | undefined { return this.historyNow }
  /** a job history we hold, by hash (served like adapters) */
  heldHistory (hash: string): HeldHistory | undefined { return this.histories.get(hash) }
  /** resolves once every save begun so far is on disk */
  async saved (): Promise<void> { await this.saving }

  // ------------------------------------------------------------------ transitions
  /** Start (or restart) on a global adapter: the saved one (with its rounds log) or the initial one. */
  begin (g: { round: number, hash: string, bytes: Uint8Array, adapter: Adapter }, peftConfig: string,
    saved?: { readonly rounds: RoundInfo[] }): void {
    this.peftConfig = peftConfig
    this.setGlobal(g.round, g.hash, g.bytes, g.adapter)
    // a restored global's history is unknown until restoreHistory vouches for the saved one or a result brings one
    this.historyNow = g.round === 0 ? '' : undefined
    if (saved !== undefined) this.log = saved.rounds
    else this.persist(false)
    this.first = g.round + 1
    this.cur = fresh(g.round + 1)
  }

  /** The history saved with the restored global, checked against the chain (saved-history.ts): ours again. */
  restoreHistory (h: AdoptedHistory): void {
    this.historyNow = h.hash
    if (h.held !== undefined) this.histories.set(h.hash, h.held)
  }

  /** Round r is the next to complete: a fresh round record unless we are in it already. */
  enterRound (r: number): void {
    if (this.cur.round !== r) this.cur = fresh(r)
  }

  /** Too few live members to start the round: it becomes due only once enough are. */
  gathering (now: number): void {
    this.cur.since = now
    this.setStage(RoundStage.Gathering)
  }

  /** Enough live members: the round is due from now (the election's clock starts). */
  roundDue (now: number): void {
    if (this.stageNow !== RoundStage.Gathering) return
    this.cur.since = now
    this.setStage(RoundStage.AwaitAnnounce)
  }

  /** Follows an announce of the current round (another's, checked by the member role, or ours). */
  acceptAnnounce (a: AnnounceLike, aggregator: string, now: number): void {
    const cur = this.cur
    cur.accepted = a.attempt
    cur.aggregators.set(a.attempt, aggregator)
    cur.firstAnnounceAt ??= now
    const members = [...a.members]
    const selected = [...a.selected]
    cur.announce = { attempt: a.attempt, aggregator, members, selected, deadlineMs: Number(a.deadlineMs) }
    const mine = aggregator === this.deps.self()
    this.events.emit('announce', { round: a.round, attempt: a.attempt, aggregator, selected, members, at: now, mine })
  }

  training (): void { this.setStage(RoundStage.Training) }
  pushing (): void { this.setStage(RoundStage.Pushing) }
  awaitResult (): void { this.setStage(RoundStage.AwaitResult) }
  aggregating (): void { this.setStage(RoundStage.Aggregating) }

  /**
   * We announced attempt `a.attempt` of the current round as its aggregator: open the collector (replacing
   * any earlier one), follow our own announce, and call `onDeadline` when the deadline passes.
   */
  openCollector (c: Omit<Collector, 'closed' | 'bytes'>, a: AnnounceLike, now: number,
    onDeadline: (c: Collector) => void): Collector {
    this.cur.announcedByMe.add(a.attempt)
    if (this.collecting?.timer !== undefined) clearTimeout(this.collecting.timer)
    const open: Collector & { closed: boolean, timer?: NodeJS.Timeout } = { ...c, bytes: 0, closed: false }
    this.collecting = open
    open.timer = setTimeout(() => { onDeadline(open) }, c.deadlineMs - now)
    this.acceptAnnounce(a, this.deps.self(), now)
    this.setStage(RoundStage.Collecting)
    this.events.emit('collectorOpened', open)
    return open
  }

  /** Our own update for the round we collect, trained by the member role; the aggregator role takes it. */
  offerOwnUpdate (u: OwnUpdate): void {
    this.events.emit('ownUpdate', u)
  }

  /**
   * Takes no more updates for `c` (all answered, or its deadline): false when it is closed already or no
   * longer ours. The collector stays until a result is adopted or it is abandoned.
   */
  closeCollector (c: Collector): boolean {
    const open = this.collecting
    if (c.closed || open !== c) return false
    open.closed = true
    clearTimeout(open.timer)
    this.events.emit('collectorClosed', open)
    return true
  }

  /** No result from us for the round we collected (no usable update, or the others moved past it). */
  abandonCollector (): void {
    this.dropCollector()
    this.setStage(RoundStage.AwaitResult)
  }

  /** Drops the collector without a stage change: a later attempt superseded ours, or a result came. */
  dropCollector (): void {
    const open = this.collecting
    if (open === undefined) return
    this.collecting = undefined
    clearTimeout(open.timer)
    if (!open.closed) {
      open.closed = true
      this.events.emit('collectorClosed', open)
    }
  }

  /**
   * The attempt we follow is over before its deadline (evidence against its aggregator): the clock (round-clock.ts)
   * makes the next attempt due at once, and our collector for it, if any, goes.
   */
  attemptFailed (round: number, attempt: number, now: number, graceMs: number): void {
    const a = this.cur.announce
    if (this.cur.round !== round || a === undefined || a.attempt !== attempt) return
    this.cur.announce = { ...a, deadlineMs: now - graceMs - 1 }
    if (this.collecting?.round === round && this.collecting.attempt === attempt) this.dropCollector()
    this.setStage(RoundStage.AwaitAnnounce)
  }

  /**
   * Takes a verified global adapter of round `round` as ours (`history`: the job history its result names,
   * undefined when we do not know it).
   */
  adopt (round: number, hash: string, bytes: Uint8Array, adapter: Adapter, info: RoundInfo | undefined,
    history?: AdoptedHistory): void {
    if (round <= this.completedRound || this.stopped) return
    // a catch-up past rounds we never saw: the rounds log says so, one entry each, instead of a gap
    const missed = info === undefined ? missedRounds(this.completedRound + 1, round, hash) : []
    this.setGlobal(round, hash, bytes, adapter)
    this.historyNow = history?.hash
    if (history?.held !== undefined) {
      this.histories.set(history.hash, history.held)
      while (this.histories.size > SERVED) this.histories.delete(this.histories.keys().next().value!)
    }
    if (info !== undefined) this.log.push(info)
    this.log.push(...missed)
    this.persist(info !== undefined || missed.length > 0)
    if (this.collecting !== undefined && this.collecting.round <= round) this.dropCollector()
    this.cur = fresh(round + 1)
    this.deps.log(info !== undefined
      ? formatRound(info, this.deps.self())
      : `caught up to round ${round} (global ${hash.slice(0, 12)}; missed ${missed.length === 1 ? 'round'
        : `rounds ${missed[0]!.round}-`}${round})`)
    if (info !== undefined) this.events.emit('result', info)
    this.events.emit('adopted', { round, info })
    this.enterNext(round)
  }

  /** A checked chain of confirmed results is past us (catch-up.ts): take its head (no result of ours to log). */
  catchUp (round: number, hash: string, bytes: Uint8Array, adapter: Adapter, history?: AdoptedHistory): void {
    this.adopt(round, hash, bytes, adapter, undefined, history)
  }

  /**
   * The job is done and another confirmed result of our last round is the one every peer ends on (catch-up.ts,
   * protocol/chain-rules.ts preferredResult): it replaces ours, in the rounds log too.
   */
  followOthers (round: number, hash: string, bytes: Uint8Array, adapter: Adapter, info: RoundInfo): void {
    this.setGlobal(round, hash, bytes, adapter)
    this.historyNow = undefined
    this.log = [...this.log.filter((r) => r.round !== round), info]
    this.persist(true)
    this.events.emit('followed', { round, hash })
    this.deps.log(`round ${round}: attempt ${info.attempt} of ${info.aggregator.slice(-6)} is the confirmed result ` +
      `every peer ends on; taking it (global ${hash.slice(0, 12)})`)
  }

  /** No transition after this one; saves already begun still finish (saved()). */
  stop (): void {
    this.stopped = true
    if (this.collecting?.timer !== undefined) clearTimeout(this.collecting.timer)
  }

  // ------------------------------------------------------------------ internals
  private enterNext (round: number): void {
    if (round >= this.deps.rounds) {
      this.setStage(RoundStage.Done)
      this.events.emit('done')
    } else {
      this.setStage(RoundStage.AwaitAnnounce)
    }
  }

  private setStage (s: RoundStage): void {
    if (s === this.stageNow) return
    this.stageNow = s
    this.events.emit('stage', s)
  }

  private setGlobal (round: number, hash: string, bytes: Uint8Array, adapter: Adapter): void {
    this.completedRound = round
    this.hash = hash
    this.adapter = adapter
    this.served.set(hash, bytes)
    while (this.served.size > SERVED) this.served.delete(this.served.keys().next().value!)
    this.events.emit('global', { round, hash })
  }

  /** saves the global adapter (with its history, when we hold it), and the rounds log when `rounds` (it changed) */
  private persist (rounds: boolean): void {
    const g = { round: this.completedRound, hash: this.hash, bytes: this.served.get(this.hash)! }
    const log = [...this.log]
    const cfg = this.peftConfig
    const store = this.deps.store
    const h = this.historyNow === undefined ? undefined : this.histories.get(this.historyNow)
    // saves run one after another, in order, off the network path; state.json (in saveGlobal) last
    this.saving = this.saving.then(async () => {
      if (h !== undefined) await store.saveHistory(h.bytes)
      await store.saveGlobal(g, cfg)
      if (rounds) await store.saveRounds(log)
    }).catch((err: Error) => { this.deps.log(`state: could not save (${err.message})`) })
  }
}

function fresh (round: number): MutableRound {
  return { round, since: Date.now(), accepted: -1, aggregators: new Map(), announcedByMe: new Set() }
}
