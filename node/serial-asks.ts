// Members asks (members-exchange.ts) one at a time, none to the same peer twice within `againMs`, and the latest one
// asked for while another is in flight kept to run after it. Dropped instead, an ask for an announce's members was
// lost whenever another ask was under way (a newcomer's 'joining' ask, another announce's), and a trainer that
// refused its announce as listing a member it did not count never trained for it: in bench scale at 100 peers one
// trainer of five did so in a round, which then ran to its deadline (docs/performance.md, session 19).
export class SerialAsks {
  private readonly asked = new Map<string, number>()
  private inFlight = false
  private waiting?: { readonly peer: string, readonly why: string }

  /**
   * `run`: the ask itself (never rejects); `maxAsked`: peers remembered before the old entries are dropped (only the
   * last `againMs` matters: a long job hears announces from many senders)
   */
  constructor (private readonly run: (peer: string, why: string) => Promise<void>, private readonly againMs: number,
    private readonly maxAsked: number) {}

  get busy (): boolean { return this.inFlight }

  /** Asks `peer` now, or after the ask in flight (replacing one that waited); false when it was asked lately. */
  ask (peer: string, why: string, now = Date.now()): boolean {
    if (now - (this.asked.get(peer) ?? -Infinity) < this.againMs) return false
    if (this.inFlight) { this.waiting = { peer, why }; return true }
    this.asked.set(peer, now)
    if (this.asked.size > this.maxAsked) {
      for (const [p, t] of this.asked) if (now - t >= this.againMs) this.asked.delete(p)
    }
    this.inFlight = true
    this.run(peer, why).catch(() => {}).finally(() => {
      this.inFlight = false
      const next = this.waiting
      this.waiting = undefined
      if (next !== undefined) this.ask(next.peer, next.why)
    })
    return true
  }
}
