// The bootstrap's log of peers connecting and leaving: one line each, at most `maxLines` per window; the
// rest are counted and summed up in one line when the window ends, so a busy bootstrap (hundreds of
// members joining) does not flood its log. Pure: the caller brings the clock and logs what is returned.
export type ConnectionEvent = 'connected' | 'left'

export class ConnectionLog {
  private windowStart = 0
  private lines = 0
  private readonly hidden: Record<ConnectionEvent, number> = { connected: 0, left: 0 }

  constructor (private readonly maxLines = 5, private readonly windowMs = 10_000) {}

  /** `total`: peers connected after this event */
  event (now: number, kind: ConnectionEvent, peer: string, total: number): string[] {
    const out = this.flush(now, total)
    if (this.lines < this.maxLines) {
      this.lines++
      out.push(`peer ${peer} ${kind} (${total} connected)`)
    } else {
      this.hidden[kind]++
    }
    return out
  }

  /** Ends the window when it is over: the summary of what it did not show (call it from a timer too). */
  flush (now: number, total: number): string[] {
    if (now - this.windowStart < this.windowMs) return []
    const out: string[] = []
    const { connected, left } = this.hidden
    if (connected + left > 0) {
      const parts = [connected > 0 ? `${connected} more connected` : '', left > 0 ? `${left} more left` : '']
      out.push(`${parts.filter((s) => s !== '').join(', ')} ` +
        `in the last ${Math.round((now - this.windowStart) / 1000)} s (${total} connected)`)
    }
    this.windowStart = now
    this.lines = 0
    this.hidden.connected = 0
    this.hidden.left = 0
    return out
  }
}
