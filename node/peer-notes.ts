// What a peer says while it waits, so a user is never left with a silent process: how many members are
// live while round 1 waits for minPeers, no peers at all after 30 s (with the likely cause), and whether
// its bootstrap answers (peer-watch.ts dials it and feeds the outcome here). Pure: the caller brings the
// clock and the observations, and logs the lines returned.
import { RoundStage } from './round-stage.ts'

export interface PeerObservation {
  readonly now: number
  /** live members, self included */
  readonly live: number
  readonly stage: RoundStage
  /** a connection to at least one bootstrap node */
  readonly bootstrapConnected: boolean
}

export interface PeerNotesOptions {
  readonly minPeers: number
  readonly startedAt: number
  readonly local: boolean
  /** a bootstrap address is loopback or private (the usual sign of a run on one machine or LAN) */
  readonly bootstrapLooksLocal: boolean
  readonly noPeersAfterMs?: number
}

export class PeerNotes {
  private lastLive = -1
  private saidNoPeers = false
  private readonly noPeersAfterMs: number

  constructor (private readonly o: PeerNotesOptions) {
    this.noPeersAfterMs = o.noPeersAfterMs ?? 30_000
  }

  observe (s: PeerObservation): string[] {
    const lines: string[] = []
    if (s.stage === RoundStage.Gathering && s.live !== this.lastLive) {
      lines.push(`waiting for members: ${s.live}/${this.o.minPeers} live`)
      this.lastLive = s.live
    } else if (s.stage !== RoundStage.Gathering && this.lastLive >= 0) {
      lines.push(`${s.live}/${this.o.minPeers} members live: rounds can start`)
      this.lastLive = -1
    }
    if (s.live > 1) this.saidNoPeers = false
    else if (!this.saidNoPeers && s.now - this.o.startedAt >= this.noPeersAfterMs) {
      this.saidNoPeers = true
      lines.push(`no peers found after ${Math.round((s.now - this.o.startedAt) / 1000)} s: ${this.cause(s)}`)
    }
    return lines
  }

  private cause (s: PeerObservation): string {
    const needsLocal = !this.o.local && this.o.bootstrapLooksLocal
    if (!s.bootstrapConnected) {
      return `the bootstrap does not answer (see "bootstrap unreachable" above)${needsLocal ? '; on one machine you ' +
        'also need --local' : ''}`
    }
    if (needsLocal) return 'on one machine you need --local (loopback and private addresses are refused without it)'
    return 'nobody else is in this job yet (every member must run the same job.json: its hash is the job id)'
  }
}
