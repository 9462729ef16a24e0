// Which results of the current round wait for their witnesses, and what the attestations say of them: the
// gate a result passes before it becomes the global adapter (DESIGN.md "Verifiable rounds"). Pure
// bookkeeping: the caller checks signatures and windows first, then acts on what the gate answers.
import type { Attestation, RoundResult } from '../protocol/messages.ts'
import { attests, isEquivocation, tally } from '../protocol/witness-rules.ts'
import type { Tally } from '../protocol/witness-rules.ts'
import { hex } from './hex.ts'
import { keepLatest } from './kept-latest.ts'

export interface PendingResult {
  readonly result: RoundResult
  readonly aggregator: string
  readonly witnesses: readonly string[]
  /** the members of the followed announce (the election and the witness draw ran over them): kept for the chain */
  readonly members: readonly string[]
  /** witness -> agrees (the first attestation of each witness counts) */
  readonly verdicts: Map<string, boolean>
  readonly against: Attestation[]
  /** the agreeing attestations: with the result, the proof a peer behind checks (protocol/chain-rules.ts) */
  readonly agreeing: Attestation[]
  /** the first attestation of each signer (drawn or not, up to SIGNERS_CAP): a second, opposite one is kept */
  readonly signed: Map<string, Attestation>
  /** pairs of opposite attestations one signer signed of this result, not yet acted on (the caller drains it) */
  readonly equivocations: Array<readonly [Attestation, Attestation]>
  state: Tally
}

/** signers remembered per result: the drawn witnesses and a few others (a crowd of keys costs nothing more) */
const SIGNERS_CAP = 32

/** attestations heard before their result (gossip has no order), at most this many */
const EARLY_CAP = 64
/** of them from one signer: an opposite pair of one result is evidence, a third is a flood */
const EARLY_PER_SIGNER = 2

export class ResultGate {
  private readonly pending = new Map<string, PendingResult>()
  private early: Attestation[] = []

  constructor (private readonly quorum: number) {}

  /**
   * A result that passed the window, announce and signature checks. Returns the earlier result when the same
   * aggregator already signed another for this attempt (equivocation), else the entry with its tally so far.
   */
  addResult (r: RoundResult, aggregator: string, witnesses: readonly string[], members: readonly string[]): {
    readonly equivocated?: RoundResult, readonly entry?: PendingResult } {
    for (const p of this.pending.values()) {
      if (p.aggregator === aggregator && p.result.round === r.round && p.result.attempt === r.attempt) {
        return isEquivocation(p.result, r) ? { equivocated: p.result } : { entry: p }
      }
    }
    const entry: PendingResult = { result: r, aggregator, witnesses, members, verdicts: new Map(), against: [],
      agreeing: [], signed: new Map(), equivocations: [], state: 'pending' }
    this.pending.set(keyOf(r.round, r.attempt, hex(r.newHash)), entry)
    const early = this.early
    this.early = []
    for (const a of early) this.addAttestation(a) // those of other results wait again
    entry.state = tally(entry.verdicts, witnesses, this.quorum)
    return { entry }
  }

  /**
   * A verified attestation (signed by a.witness); undefined when its result has not come yet. Then it waits for its
   * result when `mayWait` (its signer is a member the caller knows), two per signer at most (an opposite pair of
   * one result is evidence), a few in all: a flood from strangers or from one member cannot push out the honest
   * witnesses' attestations.
   */
  addAttestation (a: Attestation, mayWait = true): PendingResult | undefined {
    const p = this.pending.get(keyOf(a.round, a.attempt, hex(a.newHash)))
    if (p === undefined || !attests(a, p.result, p.aggregator)) {
      if (p === undefined && mayWait) this.wait(a)
      return undefined
    }
    const first = p.signed.get(a.witness)
    if (first === undefined && (p.witnesses.includes(a.witness) || p.signed.size < SIGNERS_CAP)) {
      p.signed.set(a.witness, a)
    }
    if (first !== undefined && first.agree !== a.agree && !p.equivocations.some(([x]) => x.witness === a.witness)) {
      p.equivocations.push([first, a])
    }
    if (!p.witnesses.includes(a.witness) || p.verdicts.has(a.witness)) return p
    p.verdicts.set(a.witness, a.agree)
    if (!a.agree) p.against.push(a)
    else p.agreeing.push(a)
    p.state = tally(p.verdicts, p.witnesses, this.quorum)
    return p
  }

  private wait (a: Attestation): void {
    const mine = (k: Attestation): boolean => k.witness === a.witness
    const early = keepLatest(this.early, a, (k) => mine(k) && k.round === a.round && k.attempt === a.attempt &&
      k.agree === a.agree && hex(k.newHash) === hex(a.newHash), EARLY_CAP)
    const held = early.filter(mine)
    this.early = held.length > EARLY_PER_SIGNER ? early.filter((k) => k !== held[0]) : early
  }

  pendingOf (round: number): PendingResult[] {
    return [...this.pending.values()].filter((p) => p.result.round === round)
  }

  /** Drops everything of rounds up to `round` (adopted, or moved past). */
  forget (round: number): void {
    for (const [k, p] of this.pending) if (p.result.round <= round) this.pending.delete(k)
    this.early = this.early.filter((a) => a.round > round)
  }
}

function keyOf (round: number, attempt: number, newHash: string): string {
  return `${round}/${attempt}/${newHash}`
}
