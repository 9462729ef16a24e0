// The aggregator's watch on its quiet trainers. In a large job a selected trainer keeps its quiet Hello interval
// (peer.ts hasRole): its Hellos were a third of a 100-peer job's gossip while rounds ran, every one heard by every
// member, yet only the aggregator acts on a trainer's liveness (it closes its collector without the gone ones,
// aggregator-role.ts). So the aggregator asks instead: a libp2p ping, a heartbeat apart, to each selected trainer
// it still waits for and that Hellos quiet, over the connection the trainer opens to push its update anyway. A
// trainer is gone once its last probe failed and nothing was heard from it for the window a heartbeat member's
// Hellos are live (the same detection time as before). A probe that is merely slow (a loaded loop) is not a
// failure: only an error or its timeout, the whole window, is. What a probe learns stays with this aggregator: it
// decides whom its own collector waits for, as its view of Hellos did, and is never handed on.

import { errorText } from './error-text.ts'

export interface ProbeTiming {
  /** how long a trainer may go unheard before a failed probe makes it gone: a heartbeat member's TTL */
  readonly windowMs: number
  /** one probe per trainer this often: the heartbeat */
  readonly everyMs: number
}

/** one ping: resolves when the peer answered, rejects on an error or when `signal` aborts */
export type Ping = (peer: string, signal: AbortSignal) => Promise<unknown>

interface Watched {
  /** when we last heard from it (a probe answered), or began to watch it */
  heardAt: number
  /** when the last probe went out */
  triedAt: number
  inFlight: boolean
  /** the last probe that ended failed */
  failed: boolean
}

export class TrainerProbe {
  private collection = ''
  private readonly watched = new Map<string, Watched>()

  /** `stopped`: aborts the probes in flight (the peer stops) */
  constructor (private readonly ping: Ping, private readonly timing: ProbeTiming,
    private readonly log: (line: string) => void = () => {}, private readonly stopped = new AbortController().signal) {}

  /**
   * Probes `peers` (the quiet trainers collection `collection` still waits for) whose last probe is a heartbeat old.
   * A new collection starts every watch afresh; a peer no longer named is dropped.
   */
  watch (collection: string, peers: readonly string[], now: number): void {
    if (collection !== this.collection) {
      this.collection = collection
      this.watched.clear()
    }
    for (const p of this.watched.keys()) if (!peers.includes(p)) this.watched.delete(p)
    for (const p of peers) {
      let w = this.watched.get(p)
      if (w === undefined) {
        w = { heardAt: now, triedAt: -Infinity, inFlight: false, failed: false }
        this.watched.set(p, w)
      }
      if (!w.inFlight && now - w.triedAt >= this.timing.everyMs) this.probe(collection, p, w, now)
    }
  }

  /** whether `peer` is gone: watched, its last probe failed, and unheard for the window */
  gone (peer: string, now: number): boolean {
    const w = this.watched.get(peer)
    return w !== undefined && w.failed && !w.inFlight && now - w.heardAt > this.timing.windowMs
  }

  private probe (collection: string, peer: string, w: Watched, now: number): void {
    w.inFlight = true
    w.triedAt = now
    const signal = AbortSignal.any([this.stopped, AbortSignal.timeout(this.timing.windowMs)])
    const ended = (ok: boolean, error?: unknown): void => {
      w.inFlight = false
      // a collection that moved on has dropped this watch: what the probe learnt is of no use
      if (collection !== this.collection || this.watched.get(peer) !== w || this.stopped.aborted) return
      // said once a run of failures, not a heartbeat
      if (!ok && !w.failed) this.log(`probe of trainer ${peer.slice(-6)} failed: ${errorText(error)}`)
      w.failed = !ok
      if (ok) w.heardAt = Date.now()
    }
    this.ping(peer, signal).then(() => { ended(true) }, (e: unknown) => { ended(false, e) })
  }
}
