// Who is live in the job, from signed Hello heartbeats: a member is live while its last Hello is younger
// than the TTL. Pure bookkeeping; the clock is passed in.

/** what a member's Hello says of its machine */
export interface Capabilities {
  readonly device: string
  /** measured training speed, 0 = not measured yet */
  readonly tokensPerSecond: number
  readonly samples: number
}

export interface MemberStatus {
  readonly peer: string
  readonly round: number
  readonly hash: string
  readonly seenAt: number
  readonly capabilities?: Capabilities
}

export class MemberView {
  private readonly seen = new Map<string, MemberStatus>()

  constructor (readonly self: string, readonly ttlMs: number) {}

  hello (peer: string, round: number, hash: string, now: number, capabilities?: Capabilities): void {
    this.seen.set(peer, { peer, round, hash, seenAt: now, ...(capabilities !== undefined ? { capabilities } : {}) })
  }

  /** the live members' last Hellos (self excluded), sorted by peer id */
  statuses (now: number): MemberStatus[] {
    return [...this.seen.values()].filter((s) => now - s.seenAt <= this.ttlMs && s.peer !== this.self).sort((a, b) => a.peer < b.peer ? -1 : 1)
  }

  forget (peer: string): void {
    this.seen.delete(peer)
  }

  /** live members, self included, sorted */
  live (now: number): string[] {
    const out = [this.self]
    for (const s of this.seen.values()) if (now - s.seenAt <= this.ttlMs && s.peer !== this.self) out.push(s.peer)
    return out.sort()
  }

  isLive (peer: string, now: number): boolean {
    if (peer === this.self) return true
    const s = this.seen.get(peer)
    return s !== undefined && now - s.seenAt <= this.ttlMs
  }

  /** the furthest (round, hash) that at least `quorum` live peers report beyond `round`, with who holds it */
  ahead (round: number, quorum: number, now: number): { round: number, hash: string, holders: string[] } | undefined {
    const groups = new Map<string, string[]>()
    for (const s of this.seen.values()) {
      if (s.round <= round || now - s.seenAt > this.ttlMs) continue
      const k = `${s.round}/${s.hash}`
      groups.set(k, [...(groups.get(k) ?? []), s.peer])
    }
    let best: { round: number, hash: string, holders: string[] } | undefined
    for (const [k, holders] of groups) {
      if (holders.length < quorum) continue
      const [r, hash] = k.split('/') as [string, string]
      if (best === undefined || Number(r) > best.round) best = { round: Number(r), hash, holders }
    }
    return best
  }

  holdersOf (hash: string, now: number): string[] {
    return [...this.seen.values()].filter((s) => s.hash === hash && now - s.seenAt <= this.ttlMs).map((s) => s.peer)
  }
}
