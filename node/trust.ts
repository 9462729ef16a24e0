// The checks that make a round's result trustworthy, for one peer (DESIGN.md "Rounds that trust no one"):
// the beacon seed and who it elects, selects and draws as witnesses; the announce check (window, shared
// attempt clock, members we count, election and selection); results from the announced aggregator only,
// signed, committing to signed updates; witnessing when drawn; the quorum gate; evidence and exclusion.
// The roles call it; it calls back through TrustHost and its events ('confirmed': adopt it; 'failover': the
// attempt is dead, move to the next).
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import type { Attestation, Complaint, RoundAnnounce, RoundMessage, RoundResult } from '../protocol/messages.ts'
import type { JobSpec } from '../protocol/job-spec.ts'
import type { SelectFn } from '../protocol/election.ts'
import { aggregatorAt, electionOrder } from '../protocol/election.ts'
import { attemptReached, checkAttemptClock } from '../protocol/attempt-clock.ts'
import type { AttemptTiming, RoundProgress } from '../protocol/attempt-clock.ts'
import { checkElection, checkResultSelection, genesisBeacon, nextBeacon, roundRoles, witnessesOf }
  from '../protocol/seeds.ts'
import { checkResult } from '../protocol/result-rules.ts'
import { attestationStatement, checkCommitments, resultStatement } from '../protocol/signed-update.ts'
import { contradictionEvidence, droppedEvidence, equivocationEvidence, falseAttestations,
  witnessEquivocationEvidence } from '../protocol/evidence.ts'
import { checkComplaint } from '../protocol/complaint.ts'
import { RejectReason } from '../protocol/reject-reason.ts'
import { ROUND_WINDOW } from '../protocol/limits.ts'
import type { Check } from '../protocol/round-rules.ts'
import type { AggregateFn } from '../trainer/aggregate/types.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { JobHistory } from '../trainer/aggregate/history.ts'
import type { AdapterLayout } from './adapter-codec.ts'
import { ResultGate } from './result-gate.ts'
import type { PendingResult } from './result-gate.ts'
import { EvidenceStore } from './evidence-store.ts'
import type { Evidence } from '../protocol/evidence.ts'
import { attestation, judgeResult } from './witness-role.ts'
import { sign, verifySigned } from './signatures.ts'
import { hex } from './hex.ts'
import { keepLatest } from './kept-latest.ts'

export interface TrustHost {
  readonly job: JobSpec
  readonly jobId: string
  readonly stateDir: string
  readonly aggregate: AggregateFn
  readonly select: SelectFn
  self: () => string
  key: () => PrivateKey
  log: (line: string) => void
  reject: (from: string, reason: string, where: 'announce' | 'result' | 'attestation' | 'complaint',
    round: number) => void
  publish: (msg: Parameters<typeof RoundMessage.encode>[0]) => Promise<void>
  /** bytes of `hash` from peer `from`, sha256-checked */
  fetch: (from: string, hash: string) => Promise<Uint8Array>
  /** keeps the beacon of the round after `round` in the state folder */
  saveBeacon: (round: number, beacon: string) => Promise<void>
  /** the job history `hash` from our store, `from`, or members on our global (node/history-fetch.ts) */
  history: (hash: string, from: readonly string[]) => Promise<JobHistory | undefined>
  /** our global adapter (the base of the round after it) and the history its result named */
  standing: () => { readonly completed: number, readonly hash: string, readonly adapter: Adapter,
    readonly layout: AdapterLayout, readonly maxAdapterBytes: number, readonly historyHash: string | undefined }
  /** our attempt clock of round `round` (member-role.ts clockOf) */
  clock: (round: number, now: number) => { readonly progress: RoundProgress, readonly timing: AttemptTiming }
  /** no one waits for member m's attempt (gone, or unreachable): peer-context.ts passedOver */
  passedOver: (member: string, now: number) => boolean
}

/** how far ahead of ours another peer's attempt clock may run: peers adopt a result up to a fetch apart */
const toleranceOf = (t: AttemptTiming): number => t.graceMs + t.silenceMs / 2

/** a result kept until we can judge it, with its sender (Trust.unjudged, Trust.ahead) */
interface HeldResult { readonly r: RoundResult, readonly sender: string }

/** results of the current round kept until we can judge them (Trust.unjudged) */
const UNJUDGED_KEPT = 8

/** an announce we checked and followed: who aggregates that attempt, over which members */
export interface FollowedAttempt { readonly aggregator: string, readonly members: readonly string[] }

/** one check we made as a witness: its price (bench round), and what we judged (the result's adapter hash, hex) */
export interface WitnessCost {
  readonly round: number
  readonly bytes: number
  readonly seconds: number
  readonly hash: string
  readonly agree: boolean
}

export interface TrustEvents {
  confirmed: [{ readonly result: RoundResult, readonly aggregator: string, readonly members: readonly string[],
    readonly attestations: readonly Attestation[] }]
  failover: [{ readonly round: number, readonly attempt: number, readonly offender: string, readonly why: string }]
  witnessed: [WitnessCost]
  /**
   * A result passed every check but its witnesses' (signed by the attempt's aggregator, its selection the beacon's,
   * its updates' commitments signed): it waits for its quorum now. `witness`: we are one of its witnesses.
   */
  taken: [{ readonly result: RoundResult, readonly aggregator: string, readonly members: readonly string[],
    readonly witness: boolean }]
}

export class Trust {
  readonly events = new EventEmitter<TrustEvents>()
  readonly evidence: EvidenceStore
  /** the seed of round completed + 1 */
  beacon: string
  private readonly gate: ResultGate
  private readonly judged = new Set<string>()
  /** every announce of the current round we checked and followed, by attempt (a result of any of them may come) */
  private followed = { round: 0, attempts: new Map<number, FollowedAttempt>() }
  /** valid complaints heard this round, `round/attempt/aggregator` -> the complainant: a witness never vouches */
  private readonly complaints = new Map<string, string>()
  /**
   * Results of the current round we could not judge when they came: no announce of their attempt followed, or
   * another sender in that place of the order. A peer convicts an aggregator a little later than the others (its
   * witnesses' attestations reach it later), so its order still lists it, and the next aggregator's announce
   * and result arrive first. Dropped, they left this peer without that conviction for good: its order stayed
   * apart, it announced over a list naming an offender, and the round never ended (the simulation test's
   * 225 s timeout). Judged again when we follow an announce or exclude a member; a few at most.
   */
  private unjudged: HeldResult[] = []
  /**
   * Results of the rounds after the current one (ROUND_WINDOW of them), from a member an announce we followed
   * listed: a member still fetching the last global adapter (a quiet one fetches late, member-role.ts) hears the
   * next rounds' results before it adopts. Refused, they were lost (gossip delivers once): the member then waited out
   * that round's deadline and caught up by a chain sync, and a witness in that place never attested. Each becomes
   * the current round's unjudged result when we adopt the round before it (judged once we follow its announce,
   * kept by member-role.ts as well).
   */
  private ahead: HeldResult[] = []
  /**
   * Attempts of the current round whose aggregator we convicted, `round/attempt`: no one waits for them. Our
   * order drops the offender and every later place moves up one, so the attempt number alone no longer names
   * it; a peer that convicted the aggregator of an attempt it never followed (its announce came too early for
   * us) would otherwise wait a whole silence before the next attempt, which the others announced at once.
   */
  private readonly failedAttempts = new Set<string>()
  /** update and adapter bytes we serve to our witnesses until the round is final, by hash */
  private readonly serving = new Map<string, { readonly round: number, readonly bytes: Uint8Array }>()

  constructor (private readonly h: TrustHost) {
    this.evidence = new EvidenceStore(join(h.stateDir, 'evidence'), h.job.witnesses.quorum)
    this.gate = new ResultGate(h.job.witnesses.quorum)
    this.beacon = genesisBeacon(h.jobId)
  }

  get excluded (): ReadonlySet<string> { return this.evidence.excluded }

  /**
   * Who an election runs over: the members listed, less those we hold evidence against. The one rule for the
   * order we follow (order), the members we announce (peer.ts) and the announces we accept (checkAnnounce).
   */
  eligible (members: readonly string[]): string[] {
    return members.filter((m) => !this.excluded.has(m))
  }

  /** The aggregator order of round `round` over `members` (those we count), by the beacon. */
  order (members: readonly string[], round: number): string[] {
    // asked again on every tick of every peer: electionOrder keeps its recent answers (protocol/election.ts)
    return electionOrder(this.eligible(members), this.beacon, round)
  }

  selection (members: readonly string[], round: number, attempt: number): string[] {
    return this.h.select({ members, k: this.h.job.peersPerRound, prevGlobalHash: this.beacon, round, attempt })
  }

  /**
   * Will `self` have a role in attempt `attempt` of the round after `r` over `members` (aggregator or next in the
   * order, trainer, witness) once `r` is adopted? Its seed follows from `r` alone, so a member can tell before it
   * fetches `r`'s global adapter (member-role.ts: the quiet ones fetch later). The members the next announce lists
   * may differ from those asked about: a member that misjudges it fetches a little earlier or later.
   */
  drawnAfter (r: RoundResult, aggregator: string, members: readonly string[], self: string, attempt = 0): boolean {
    return roundRoles(this.eligible(members), this.beaconAfter(r, aggregator), r.round + 1, attempt,
      this.h.job.peersPerRound, this.h.job.witnesses.count, this.h.select).has(self)
  }

  /** Who aggregates attempt 0 of the round after `r` over `members` (drawnAfter's members and seed). */
  aggregatorAfter (r: RoundResult, aggregator: string, members: readonly string[]): string | undefined {
    return aggregatorAt(electionOrder(this.eligible(members), this.beaconAfter(r, aggregator), r.round + 1), 0)
  }

  /** We followed (or made) the announce of `attempt`: a result of that attempt may be taken and witnessed. */
  noteAnnounce (round: number, attempt: number, f: FollowedAttempt): void {
    if (this.followed.round !== round) this.followed = { round, attempts: new Map() }
    this.followed.attempts.set(attempt, f)
    this.judgeAgain()
  }

  /** A result of ours or another's was adopted: the next round's seed follows from it. */
  advance (r: RoundResult, aggregator: string): void {
    this.setBeacon(r.round, this.beaconAfter(r, aggregator))
    // the adopted round stays one round longer: a witness's attestation heard after the quorum still counts
    // as evidence against it when it lied (nothing of that round is adopted again: the roles check the round)
    this.gate.forget(r.round - 1)
    for (const [k, v] of this.serving) if (v.round < r.round) this.serving.delete(k)
    for (const k of this.complaints.keys()) if (Number(k.split('/')[0]) < r.round) this.complaints.delete(k)
    this.nowCurrent(r.round)
    this.failedAttempts.clear()
  }

  private beaconAfter (r: RoundResult, aggregator: string): string {
    return nextBeacon(this.beacon, aggregator, r.updates.map((u) => ({ author: u.author, hash: hex(u.hash) })))
  }

  /** We caught up to `round` by a checked chain (catch-up.ts): its seed, recomputed along the chain, is ours. */
  caughtUp (round: number, beacon: string): void {
    this.setBeacon(round, beacon)
    this.gate.forget(round)
    this.nowCurrent(round)
    this.failedAttempts.clear()
  }

  /** Round `completed` is ours now: the results kept from ahead of it are the current round's to judge. */
  private nowCurrent (completed: number): void {
    this.unjudged = this.ahead.filter((u) => u.r.round === completed + 1)
    this.ahead = this.ahead.filter((u) => u.r.round > completed + 1)
  }

  /** The seed of the round after `round` (a confirmed result's, or a catch-up's), saved with the state. */
  setBeacon (round: number, beacon: string): void {
    this.beacon = beacon
    this.h.saveBeacon(round, beacon).catch((e: Error) => { this.h.log(`state: beacon not saved (${e.message})`) })
  }

  served (hash: string): Uint8Array | undefined { return this.serving.get(hash)?.bytes }

  /** Is attempt `attempt` of `round` one whose aggregator we convicted? (no one waits for it) */
  failed (round: number, attempt: number): boolean {
    return this.failedAttempts.has(`${round}/${attempt}`)
  }

  /** No one waits for attempt k of `round` over `order`: we convicted its aggregator, or it is passed over. */
  private waitsForNone (round: number, order: readonly string[], k: number, passedOver: (m: string) => boolean):
    boolean {
    const m = aggregatorAt(order, k)
    return this.failed(round, k) || (m !== undefined && passedOver(m))
  }

  /** Does a signed result of this attempt wait for its witnesses? (the clock gives them time before failing over) */
  awaiting (round: number, attempt: number): boolean {
    return this.gate.pendingOf(round).some((p) => p.result.attempt === attempt && p.state === 'pending')
  }

  /**
   * Is announce `a` from `sender` one to follow? Round window, the shared attempt clock (due, deadline, members we
   * count), then the sender's place in the order and the selection, by the beacon. `passedOver(m)`: member m
   * is gone or said it is unreachable, so its attempt need not time out before the next is due.
   */
  checkAnnounce (a: RoundAnnounce, sender: string, completed: number, progress: RoundProgress, timing: AttemptTiming,
    counted: ReadonlySet<string>, now: number, passedOver: (member: string) => boolean = () => false): Check {
    const no = (reason: string): Check => ({ ok: false, reason })
    if (this.excluded.has(sender)) return no(RejectReason.Offender)
    if (a.round > this.h.job.rounds) return no(RejectReason.JobFinished)
    if (a.round <= completed) return no(RejectReason.StaleRound)
    if (a.round > completed + 1) return no(RejectReason.RoundOutOfWindow)
    // the order checkElection checks is then the one we follow ourselves (this.order over the same list)
    if (this.eligible(a.members).length !== a.members.length) return no(RejectReason.ListsOffender)
    // an attempt passed over is one whose place in the order (the one checkElection checks) is such a member
    const order = this.order(a.members, a.round)
    const clock = checkAttemptClock(a, {
      progress, timing, toleranceMs: toleranceOf(timing), nowMs: now, eligible: counted,
      passedOver: (k) => this.waitsForNone(a.round, order, k, passedOver)
    })
    if (!clock.ok) return clock
    if (a.attempt <= progress.accepted) return no(RejectReason.StaleAttempt)
    return checkElection(a, sender, this.beacon, this.h.job.peersPerRound, this.h.select)
  }

  /** Signs our round's result and serves its updates and adapter to the witnesses; the gate takes it like anyone's. */
  async publishOwn (r: RoundResult, updates: ReadonlyMap<string, Uint8Array>, adapter: Uint8Array,
    followed: FollowedAttempt): Promise<void> {
    for (const [hash, bytes] of updates) this.serving.set(hash, { round: r.round, bytes })
    this.serving.set(hex(r.newHash), { round: r.round, bytes: adapter })
    const signed = { ...r, signature: await sign(this.h.key(), resultStatement(r)) }
    this.take(signed, this.h.self(), followed)
    await this.h.publish({ result: signed })
  }

  /**
   * A result from the network, for any attempt of the round whose announce we followed: under load peers may
   * follow different attempts for a while, and witnesses that judged only their own left every result short
   * of a quorum (seen: a round that never ended).
   */
  async onResult (r: RoundResult, sender: string): Promise<void> {
    const followed = new Map(this.followed.round === r.round ? this.followed.attempts : [])
    // an attempt whose announce we missed or refused as stale counts when its sender holds that place in the
    // order over the members we followed: otherwise peers following different attempts never reach a quorum
    const any = [...followed.values()][0]
    const unfollowed = any !== undefined && !followed.has(r.attempt) &&
      aggregatorAt(this.order(any.members, r.round), r.attempt) === sender
    // over the members we count: its announcer listed those it held no evidence against
    if (unfollowed) followed.set(r.attempt, { aggregator: sender, members: this.eligible(any.members) })
    const st = this.h.standing()
    const reject = (reason: string): void => { this.h.reject(sender, reason, 'result', r.round) }
    const announced = new Map([...followed].map(([a, f]) => [a, f.aggregator]))
    const c = checkResult(r, hex(r.baseHash), { sender, completedRound: st.completed, totalRounds: this.h.job.rounds,
      globalHash: st.hash, announced, excluded: this.excluded })
    if (!c.ok) {
      // kept only from a member an announce we followed listed: a stranger's results, valid or not, could
      // otherwise push a member's out of the few kept
      const listed = [...followed.values()].some((f) => f.members.includes(sender))
      // one per sender and round, its newest: a listed member gone bad that floods results (any attempts, any
      // bytes) holds one of the few places a round, and cannot push out the aggregators' results we wait to judge
      const same = (u: HeldResult): boolean => u.sender === sender && u.r.round === r.round
      if ((c.reason === RejectReason.NoAnnounce || c.reason === RejectReason.NotAggregator) &&
        r.round === st.completed + 1 && listed) {
        this.unjudged = keepLatest(this.unjudged, { r, sender }, same, UNJUDGED_KEPT)
      }
      // a member still fetching may stand two rounds behind when rounds are short (a quiet wait, a slow fetch)
      if (c.reason === RejectReason.RoundOutOfWindow && r.round >= st.completed + 2 &&
        r.round <= st.completed + 1 + ROUND_WINDOW && this.followed.round === st.completed + 1 &&
        this.listedByFollowed(sender)) {
        this.ahead = keepLatest(this.ahead, { r, sender }, same, UNJUDGED_KEPT)
      }
      reject(c.reason)
      return
    }
    const f = followed.get(r.attempt)!
    // who trained is the beacon's choice, as the announce check and a peer behind (chain-rules.ts) hold it
    const selection = checkResultSelection(r, f.members, this.beacon, this.h.job.peersPerRound, this.h.select)
    if (!selection.ok) { reject(selection.reason); return }
    if (!await verifySigned(sender, resultStatement(r), r.signature)) { reject(RejectReason.BadSignature); return }
    const commits = await checkCommitments(r, verifySigned)
    if (!commits.ok) { reject(commits.reason); return }
    this.take(r, sender, f, unfollowed)
  }

  /** Did an announce we followed (any attempt of the latest round we followed) list `peer`? */
  private listedByFollowed (peer: string): boolean {
    return [...this.followed.attempts.values()].some((f) => f.members.includes(peer))
  }

  /** What we know of the round grew (an announce followed, a member excluded): the kept results once more. */
  private judgeAgain (): void {
    if (this.unjudged.length === 0) return
    const kept = this.unjudged
    this.unjudged = []
    for (const u of kept) {
      this.onResult(u.r, u.sender).catch((e: Error) => { this.h.log(`result: ${e.message}`) })
    }
  }

  /**
   * Is attempt `attempt` of round `round` (over `members`) due by our clock, as an announce of it would have to be?
   * A witness attests only such an attempt, so a link's witness quorum vouches for its attempt clock
   * (protocol/chain-rules.ts).
   */
  attemptDue (round: number, attempt: number, members: readonly string[]): Check {
    const now = Date.now()
    const { progress, timing } = this.h.clock(round, now)
    const order = this.order(members, round)
    return attemptReached(attempt, { progress, timing, toleranceMs: toleranceOf(timing), nowMs: now,
      passedOver: (k) => this.waitsForNone(round, order, k, (m) => this.h.passedOver(m, now)) })
  }

  /** `unfollowed`: the result's announce never reached us (its sender holds that place in the order) */
  private take (r: RoundResult, aggregator: string, f: FollowedAttempt, unfollowed = false): void {
    const witnesses = witnessesOf(f.members.filter((m) => !this.excluded.has(m)), this.beacon, r.round, r.attempt,
      aggregator, this.h.job.witnesses.count)
    const { equivocated, entry } = this.gate.addResult(r, aggregator, witnesses, f.members)
    if (equivocated !== undefined) {
      void this.convict(equivocationEvidence(aggregator, equivocated, r), r.round, r.attempt,
        'two results for one attempt')
      return
    }
    if (entry === undefined) return
    const witness = witnesses.includes(this.h.self())
    if (entry.state === 'pending') this.events.emit('taken', { result: r, aggregator, members: f.members, witness })
    const due = unfollowed ? this.attemptDue(r.round, r.attempt, f.members) : { ok: true as const }
    if (witness && !due.ok) {
      this.h.log(`round ${r.round}: not witnessing attempt ${r.attempt} of ${aggregator.slice(-6)}: ${due.reason}`)
    } else if (witness) {
      void this.witness(r, aggregator).catch((e: Error) => { this.h.log(`witness: ${e.message}`) })
    }
    this.settle(entry)
  }

  private async witness (r: RoundResult, aggregator: string): Promise<void> {
    const key = `${r.round}/${r.attempt}/${hex(r.newHash)}`
    if (this.judged.has(key)) return
    this.judged.add(key)
    const st = this.h.standing()
    if (hex(r.baseHash) !== st.hash) { // we stand elsewhere: cannot judge
      this.h.log(`round ${r.round}: cannot witness attempt ${r.attempt} of ${aggregator.slice(-6)}: we stand on ` +
        `round ${st.completed}, not on its base`)
      return
    }
    const deps = { jobId: this.h.jobId, peerId: this.h.self(), key: this.h.key(), layout: st.layout,
      maxAdapterBytes: st.maxAdapterBytes, aggregate: this.h.aggregate, fetch: this.h.fetch, history: this.h.history }
    let v = await judgeResult(deps, r, aggregator, st.adapter, st.historyHash)
    // a valid complaint (or other evidence) against the aggregator heard while we recomputed: we never vouch for
    // its result, we sign our refusal (a quorum of them convicts it where the complaint did not arrive)
    const complainant = this.complaints.get(`${r.round}/${r.attempt}/${aggregator}`)
    if (v.agree && (complainant !== undefined || this.excluded.has(aggregator))) {
      const reason = complainant !== undefined
        ? `${RejectReason.DroppedUpdate}: the update of ${complainant.slice(-6)} (complaint)`
        : `${RejectReason.Offender}: we hold evidence against ${aggregator.slice(-6)}`
      this.h.log(`round ${r.round}: refusing to attest attempt ${r.attempt} of ${aggregator.slice(-6)}: ${reason}`)
      v = { ...v, agree: false, reason }
    }
    if (v.abstain === true) {
      this.h.log(`round ${r.round}: cannot witness attempt ${r.attempt} of ${aggregator.slice(-6)}: ${v.reason}`)
      return
    }
    if (v.agree && v.computed !== undefined) {
      this.serving.set(hex(r.newHash), { round: r.round, bytes: v.computed.adapter })
      const h = v.computed.history
      if (h !== undefined) this.serving.set(h.hash, { round: r.round, bytes: h.bytes })
    }
    this.events.emit('witnessed', { round: r.round, bytes: v.bytes, seconds: v.seconds, hash: hex(r.newHash),
      agree: v.agree })
    this.h.log(`round ${r.round}: witnessed attempt ${r.attempt} ` +
      `of ${aggregator.slice(-6)}: ${v.agree ? 'agree' : `disagree (${v.reason})`}`)
    const a = await attestation(deps, r, aggregator, v)
    const p = this.gate.addAttestation(a)
    await this.h.publish({ attestation: a })
    if (p !== undefined) this.settle(p)
  }

  async onAttestation (a: Attestation, sender: string): Promise<void> {
    if (a.witness !== sender) { this.h.reject(sender, RejectReason.NotWitness, 'attestation', a.round); return }
    const completed = this.h.standing().completed
    // as far ahead as the results we keep (ahead): a member two rounds behind judges them once it stands there
    if (a.round < completed || a.round > completed + 1 + ROUND_WINDOW) return
    if (!await verifySigned(sender, attestationStatement(a), a.signature)) {
      this.h.reject(sender, RejectReason.BadSignature, 'attestation', a.round)
      return
    }
    // one heard before its result waits for it only from a member an announce we followed listed (as results do)
    const p = this.gate.addAttestation(a, this.listedByFollowed(sender))
    if (p !== undefined) this.settle(p)
  }

  /**
   * A trainer's complaint that an aggregator took its update (signed receipt) and left it out of its signed result:
   * self-verifying evidence (protocol/complaint.ts). Without a valid receipt it is logged, never acted on.
   */
  async onComplaint (c: Complaint, sender: string): Promise<void> {
    const round = c.result?.round ?? 0
    if (this.excluded.has(c.aggregator)) return
    const check = await checkComplaint(c, verifySigned)
    if (!check.ok) {
      this.h.log(`round ${round}: complaint from ${sender.slice(-6)} not acted on (${check.reason})`)
      this.h.reject(sender, check.reason, 'complaint', round)
      return
    }
    // a result of this round we already adopted stands (DESIGN.md "Complaints rest on receipts"): only the
    // aggregator is convicted; one still pending is never confirmed (settle), never attested (witness)
    if (round > this.h.standing().completed) {
      this.complaints.set(`${round}/${c.result!.attempt}/${c.aggregator}`, c.update!.author)
    }
    await this.convict(droppedEvidence(c), round, c.result!.attempt,
      `took the update of ${c.update!.author.slice(-6)} and left it out`)
  }

  private settle (p: PendingResult): void {
    // a witness that signed both verdicts, or a recomputation claim the quorum refuted: convicted, the round goes on
    for (const [a, b] of p.equivocations.splice(0)) {
      void this.convict(witnessEquivocationEvidence(a, b), a.round, a.attempt, 'two opposite attestations')
    }
    if (p.state !== 'pending') {
      const drawn = p.witnesses.flatMap((w) => p.signed.get(w) ?? [])
      for (const e of falseAttestations(drawn, this.h.job.witnesses.quorum)) {
        if (!this.excluded.has(e.offender)) void this.convict(e, e.round, e.attempt, 'refuted by the other witnesses')
      }
    }
    // evidence came first (a complaint): its witnesses' agreement does not make the result good
    if (this.excluded.has(p.aggregator)) return
    if (p.state === 'confirmed') {
      this.events.emit('confirmed', { result: p.result, aggregator: p.aggregator, members: p.members,
        attestations: p.agreeing })
    }
    else if (p.state === 'contradicted') void this.convict(contradictionEvidence(p.aggregator, p.result, p.against),
      p.result.round, p.result.attempt, `contradicted by ${p.against.length} witnesses`)
  }

  /** Keeps evidence and excludes its offender; an aggregator's conviction fails its attempt over, a witness's not. */
  private async convict (e: Evidence, round: number, attempt: number, why: string): Promise<void> {
    if (this.excluded.has(e.offender)) return
    let kept: boolean
    try {
      kept = await this.evidence.add(e)
    } catch (err) {
      // verified evidence excludes its offender in memory before the write; a failed write (a full disk, or the
      // state folder of a stopping peer removed) loses only the record, never the peer (convict is not awaited)
      this.h.log(`round ${round}: evidence against ${e.offender} not saved: ${(err as Error).message}`)
      kept = this.excluded.has(e.offender)
    }
    if (!kept) return
    this.h.log(`round ${round}: evidence against ${e.offender} (${e.kind}: ${why}); excluded for the rest of the job`)
    const asWitness = e.kind === RejectReason.WitnessEquivocation || e.kind === RejectReason.FalseAttestation
    this.h.reject(e.offender, e.kind, asWitness ? 'attestation' : 'result', round)
    if (!asWitness) {
      this.failedAttempts.add(`${round}/${attempt}`)
      this.events.emit('failover', { round, attempt, offender: e.offender, why })
    }
    this.judgeAgain() // our order changed: a result kept as from no announced aggregator may be one now
  }
}
