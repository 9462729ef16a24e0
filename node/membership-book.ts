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
    readonly excluded: ReadonlySet<string>
  ) {}

  /** A Hello from `peer`. Returns a reason when it does not pay. */
  hello (peer: string, nonce: bigint, completed: number): RejectReason | undefined {
    if (this.paid.get(peer) !== nonce) {
      if (!verifyPow(this.jobId, peer, nonce, this.spec.powBits)) return RejectReason.BadProofOfWork
      this.paid.set(peer, nonce)
    }
    // age counts from the first Hello: a Hello late under load must not make a member young again
    if (!this.since.has(peer)) this.since.set(peer, completed)
    return undefined
  }

  /** The proof of work `peer` showed (0 when we never heard a paying Hello from it): chain links carry it. */
  nonceOf (peer: string): bigint { return this.paid.get(peer) ?? 0n }

  /** Does `peer` count in round `round` (elected, selected, witness)? `self`: this peer's own id. */
  counts (peer: string, round: number, self: string): boolean {
    if (this.excluded.has(peer)) return false
    // others judge our age from when they first saw us: we count ourselves the same way
    if (peer === self) return oldEnough(this.ourStart, round, this.spec.minAgeRounds, this.ourStart === 0 ? 0 : -1)
    const s = this.since.get(peer)
    return s !== undefined && oldEnough(s, round, this.spec.minAgeRounds, this.ourStart)
  }
}
