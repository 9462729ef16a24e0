// Follows a peer through its events and keeps what the status command, the dashboard and the metrics show
// beyond the peer's own state: the current announce, the stage's start, this peer's training, counters.
// It only listens: nothing here changes the peer.
import { EventEmitter } from 'node:events'
import type { JobSpec } from '../../protocol/job-spec.ts'
import type { Peer } from '../peer.ts'
import { RoundStage } from '../round-stage.ts'
import { reachabilityWord } from '../reachability.ts'
import { ROUNDS_KEPT } from './snapshot.ts'
import type { MemberSnapshot, PeerSnapshot, TrainingSnapshot } from './snapshot.ts'

export interface ObserverEvents {
  /** something shown changed (a push to the dashboard's live view) */
  change: []
}

interface Current { round: number, attempt?: number, aggregator?: string, selected?: readonly string[] }

export class PeerObserver {
  readonly events = new EventEmitter<ObserverEvents>()
  private current?: Current
  private stageSince = Date.now()
  private training: { -readonly [K in keyof TrainingSnapshot]: TrainingSnapshot[K] } =
    { tokensPerSecond: 0, roundsTrained: 0 }
  private electionWins = 0
  private failovers = 0
  private readonly rejected = new Map<string, number>()

  constructor (private readonly peer: Peer, private readonly job: JobSpec, private readonly jobId: string) {
    const e = peer.events
    e.on('stage', (s) => {
      this.stageSince = Date.now()
      if (s === RoundStage.Training) {
        this.training.activeRound = this.current?.round ?? peer.global.round + 1
        this.training.startedAt = Date.now()
        this.training.step = 0
        this.training.totalSteps = undefined
        this.training.stepLoss = undefined
      } else {
        this.training.activeRound = undefined
      }
      this.changed()
    })
    e.on('announce', (a) => {
      if (this.current !== undefined && this.current.round > a.round) return
      this.current = { round: a.round, attempt: a.attempt, aggregator: a.aggregator, selected: [...a.selected] }
      if (a.mine) this.electionWins++
      this.changed()
    })
    e.on('trainStep', (st) => {
      const tr = this.training
      if (tr.activeRound !== st.round) return
      tr.step = st.step
      tr.totalSteps = st.totalSteps
      tr.stepLoss = st.loss
      this.changed()
    })
    e.on('trained', (t) => {
      const tr = this.training
      tr.lastSeconds = tr.startedAt !== undefined ? (Date.now() - tr.startedAt) / 1000 : undefined
      tr.lastRound = t.round
      tr.lastLoss = t.trainLoss
      tr.lastSamples = t.samples
      tr.tokensPerSecond = peer.measuredTokensPerSecond
      tr.roundsTrained++
      tr.activeRound = undefined
      this.changed()
    })
    e.on('result', (info) => {
      if (info.attempt > 0) this.failovers++
      if (this.current === undefined || this.current.round <= info.round) this.current = { round: info.round + 1 }
      this.changed()
    })
    e.on('rejected', (r) => {
      const k = `${r.where}:${r.reason}`
      this.rejected.set(k, (this.rejected.get(k) ?? 0) + 1)
      this.changed()
    })
    e.on('done', () => { this.changed() })
  }

  snapshot (): PeerSnapshot {
    const p = this.peer
    const now = Date.now()
    const g = p.global
    // an announce of a round not yet completed (none once the job is done)
    const c = this.current
    const cur = c !== undefined && c.round > g.round && g.round < this.job.rounds ? c : undefined
    const role = (id: string): MemberSnapshot['role'] =>
      cur?.aggregator === id ? 'aggregator' : cur?.selected?.includes(id) === true ? 'selected' : 'member'
    let reachability: PeerSnapshot['reachability']
    try {
      reachability = { addresses: p.multiaddrs(), connections: p.libp2p.getConnections().length }
    } catch {
      reachability = undefined // not started yet
    }
    const others: MemberSnapshot[] = p.memberStatus().map((m) => ({
      peer: m.peer,
      self: false,
      round: m.round,
      hash: m.hash,
      device: m.capabilities?.device ?? '',
      tokensPerSecond: m.capabilities?.tokensPerSecond ?? 0,
      samples: m.capabilities?.samples ?? 0,
      role: role(m.peer),
      lastSeenMs: now - m.seenAt,
      reachability: reachabilityWord(m.reachability)
    }))
    const self: MemberSnapshot = {
      peer: p.peerId, self: true, round: g.round, hash: g.hash, device: '', tokensPerSecond: p.measuredTokensPerSecond,
      samples: this.training.lastSamples ?? 0, role: role(p.peerId), lastSeenMs: 0,
      reachability: reachabilityWord(p.reachability)
    }
    const members = [self, ...others].sort((a, b) => a.peer < b.peer ? -1 : 1)
    return {
      version: 1,
      running: true,
      at: now,
      peerId: p.peerId,
      jobId: this.jobId,
      jobName: this.job.name,
      jobRounds: this.job.rounds,
      peersPerRound: this.job.peersPerRound,
      minPeers: this.job.minPeers,
      stage: p.stage,
      stageSince: this.stageSince,
      completed: g.round,
      globalHash: g.hash,
      current: cur !== undefined ? { ...cur } : (g.round < this.job.rounds ? { round: g.round + 1 } : undefined),
      members,
      reachability,
      training: { ...this.training },
      rounds: p.rounds.slice(-ROUNDS_KEPT),
      counters: {
        electionWins: this.electionWins, failovers: this.failovers, rejected: Object.fromEntries(this.rejected)
      }
    }
  }

  private changed (): void {
    this.events.emit('change')
  }
}
