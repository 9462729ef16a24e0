// Who counts in this job, for this peer: the price of membership (protocol/membership.ts) applied to the Hellos
// we hear. A peer counts once its Hello carried a valid proof of work and it has been live for the job's age in
// rounds; peers with evidence against them never count.
import type { MembershipSpec } from '../protocol/membership.ts'
import { oldEnough, verifyPow } from '../protocol/membership.ts'
import { RejectReason } from '../protocol/reject-reason.ts'

export class MembershipBook {
  /** peer -> the rounds we had completed when we first heard it */
  private readonly since = new Map<string, number>()
  private readonly paid = new Map<string, bigint>()

  constructor (
    private readonly jobId: string,
    private readonly spec: MembershipSpec,
    /** rounds we had completed at start: peers live then count at once (we cannot tell their age) */
    private readonly ourStart: number,
    readonly excluded: ReadonlySet<string>,
    /**
     * The first confirmed round whose election listed `peer` (chain-store.ts firstListed): it counted then for
     * the members who accepted that announce and the witnesses who confirmed it, so it counts after it for us too
     */
    private readonly firstListed: (peer: string) => number | undefined = () => undefined
  ) {}

  /**
   * Started with no round done: undefined until the first Hello. 0: we are a founder (the first Hello we heard
   * was at round 0). Else we joined a job in progress: the latest round a member reported in its first Hello,
   * which is about when the others first heard us, so our own age counts from there, as theirs does. (Counted
   * as a founder, a late joiner elected itself by an order no one else held: "round 9: aggregating" while the
   * elected aggregator announced it too.)
   */
  private joinedAt: number | undefined

  /** A Hello from `peer` (`theirRound`: the rounds it reports done). Returns a reason when it does not pay. */
  hello (peer: string, nonce: bigint, completed: number, theirRound: number): RejectReason | undefined {
    if (this.paid.get(peer) !== nonce) {
      if (!verifyPow(this.jobId, peer, nonce, this.spec.powBits)) return RejectReason.BadProofOfWork
      this.paid.set(peer, nonce)
    }
    // age counts from the first Hello: a Hello late under load must not make a member young again. A peer that says
    // it stands behind us is dated one round back: a joiner's first Hello, heard while the members adopt a result
    // (seconds apart at 100 peers), reached some before their adoption and some after, and those judged it a
    // founder and these young for two rounds more: they refused the next announces that listed it ("2 of 87"
    // unknown_members in bench scale), and a trainer among them never trained. Its own word moves its age by one
    // round at most, the same for every member.
    if (!this.since.has(peer)) {
      this.since.set(peer, theirRound < completed ? completed - 1 : completed)
      if (this.ourStart === 0 && completed === 0 && this.joinedAt !== 0) {
        this.joinedAt = Math.max(this.joinedAt ?? 0, theirRound)
      }
    }
    return undefined
  }

  /** Our own proof of work, which our chain's links carry (not a Hello: it must not make us a founder). */
  ownProof (self: string, nonce: bigint): void { this.paid.set(self, nonce) }

  /** The proof of work `peer` showed (0 when we never heard a paying Hello from it): chain links carry it. */
  nonceOf (peer: string): bigint { return this.paid.get(peer) ?? 0n }

  /**
   * Does `peer` count in round `round` (elected, selected, witness)? `self`: this peer's own id. Old enough by
   * when we first heard it, or listed by a confirmed round before this one. By first Hellos alone, members judge a
   * peer that joined while round 1's result spread differently: a founder to those that had not adopted it yet,
   * young until round 4 to those that had, and the latter refuse every announce listing it ("1 of 49" unknown,
   * all 50 live; bench scale at 50 peers). A confirmed listing settles it for everyone; a joiner round 1 did not
   * list is still judged apart (docs/performance.md, runs 6 to 8).
   */
  counts (peer: string, round: number, self: string): boolean {
    if (this.excluded.has(peer)) return false
    if ((this.firstListed(peer) ?? Infinity) < round) return peer === self || this.since.has(peer)
    // others judge our age from when they first saw us: we count ourselves the same way
    if (peer === self) {
      const start = this.ownStart()
      return oldEnough(start, round, this.spec.minAgeRounds, start === 0 ? 0 : -1)
    }
    const s = this.since.get(peer)
    return s !== undefined && oldEnough(s, round, this.spec.minAgeRounds, this.ourStart)
  }

  /**
   * Does `peer` count in round `round` for every member, whenever each first heard it? What an election runs over
   * and an announce lists. Members first hear a joiner up to a round apart (a Hello reaches some before they adopt a
   * result and some after), so one that counts for us by its age alone may be young to another, which then refused
   * the announce as listing a member it does not count: at 100 peers in one process all five trainers of a round did
   * ("5 of 95" unknown, all live; bench scale, session 19), and it ran to its deadline. Such a member is listed once
   * it is old enough a round later than we first heard it, or once a confirmed round listed it; round 1's members
   * are all founders (no result to adopt yet), and with no age to wait for there is nothing to disagree on.
   */
  settled (peer: string, round: number, self: string): boolean {
    if (!this.counts(peer, round, self)) return false
    if (round <= 1 || this.spec.minAgeRounds === 0 || (this.firstListed(peer) ?? Infinity) < round) return true
    const s = peer === self ? this.ownStart() : this.since.get(peer)!
    return oldEnough(s + 1, round, this.spec.minAgeRounds, -1)
  }

  /** the round our own age counts from, as the others date us (hello: a round back when we stood behind them) */
  private ownStart (): number {
    return this.ourStart === 0 ? Math.max(0, (this.joinedAt ?? 0) - 1) : this.ourStart
  }
}
