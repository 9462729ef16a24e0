// Prometheus metrics of a peer (fedit_*), next to libp2p's own (@libp2p/prometheus-metrics, created with the
// host so it sees every connection and stream: libp2p_data_transfer_bytes_total{protocol} is the bytes in
// and out by protocol). Gauges are read from the observer's snapshot at scrape time; counters and the
// round histogram follow the peer's events from the moment they are registered.
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Peer } from '../peer.ts'
import type { FeditHost } from '../host.ts'
import { RoundStage } from '../round-stage.ts'
import type { PeerObserver } from './observer.ts'

export type Libp2pMetricsFactory = ReturnType<typeof prometheusMetrics>

/**
 * A registry and the libp2p metrics factory feeding it (pass `libp2p` to the host). @libp2p/prometheus-metrics
 * keeps its metric objects in a module-wide map that each new instance resets: one per process, so only the
 * one peer (or bootstrap) of a `fedit` process serves metrics.
 */
export function createMetricsRegistry (): { registry: Registry, libp2p: Libp2pMetricsFactory } {
  const registry = new Registry()
  return { registry, libp2p: prometheusMetrics({ registry }) }
}

/** A label value from a reason string: its leading word (reasons carry numbers after it), at most 40 chars. */
export function reasonLabel (reason: string): string {
  const w = /^[A-Za-z0-9_.-]*/.exec(reason)![0].slice(0, 40)
  return w === '' ? 'other' : w
}

/** Bounds the label values of a series: results carry reasons other peers wrote (a liar could invent many). */
class LabelBudget {
  private readonly seen = new Set<string>()
  constructor (private readonly max: number) {}
  take (v: string): string {
    if (this.seen.has(v)) return v
    if (this.seen.size >= this.max) return 'other'
    this.seen.add(v)
    return v
  }
}

type Snap = ReturnType<PeerObserver['snapshot']>

export function registerPeerMetrics (registry: Registry, peer: Peer, observer: PeerObserver): void {
  const registers = [registry]
  /** a gauge read from the snapshot at scrape time */
  const gauge = (name: string, help: string, read: (s: Snap) => number | undefined): void => {
    new Gauge({
      name, help, registers,
      collect () { const v = read(observer.snapshot()); if (v !== undefined) this.set(v) }
    })
  }
  const counter = (name: string, help: string, labelNames: string[] = []): Counter =>
    new Counter({ name, help, labelNames, registers })
  new Gauge({
    name: 'fedit_info',
    help: 'this peer: its id, job and role (always 1)',
    labelNames: ['peer_id', 'job_id', 'job_name', 'role'],
    registers,
    collect () {
      const s = observer.snapshot()
      this.reset()
      this.set({ peer_id: s.peerId, job_id: s.jobId, job_name: s.jobName ?? '', role: 'peer' }, 1)
    }
  })
  gauge('fedit_round', 'the round in progress (the last round once the job is done)',
    (s) => s.current?.round ?? s.completed)
  gauge('fedit_rounds_completed', 'rounds completed: the round of this peer\'s global adapter', (s) => s.completed)
  gauge('fedit_job_rounds', 'rounds the job runs', (s) => s.jobRounds)
  gauge('fedit_round_train_loss', 'sample-weighted mean training loss of the last completed round',
    (s) => s.rounds.findLast((r) => r.missed !== true)?.trainLoss)
  gauge('fedit_members_live', 'live members of the job this peer sees (itself included)', (s) => s.members.length)
  gauge('fedit_connections', 'open libp2p connections', (s) => s.reachability?.connections ?? 0)
  gauge('fedit_train_tokens_per_second', 'this peer\'s measured training speed (0 until it trained)',
    (s) => s.training?.tokensPerSecond)
  new Gauge({
    name: 'fedit_stage',
    help: 'this peer\'s stage in the current round (1 for the current stage)',
    labelNames: ['stage'],
    registers,
    collect () {
      const now = observer.snapshot().stage
      for (const st of Object.values(RoundStage)) this.set({ stage: st }, st === now ? 1 : 0)
    }
  })
  new Gauge({
    name: 'fedit_round_aggregator',
    help: 'the last round each peer aggregated (the aggregator of round N has the value N)',
    labelNames: ['peer'],
    registers,
    collect () {
      this.reset()
      for (const r of observer.snapshot().rounds) if (r.missed !== true) this.set({ peer: r.aggregator }, r.round)
    }
  })
  const trainLoss = new Gauge({ name: 'fedit_train_loss', help: 'this peer\'s loss in its last training', registers })
  const trainSamples = new Gauge({ name: 'fedit_train_samples', help: 'examples of its last training', registers })
  const trained = counter('fedit_train_rounds_total', 'rounds this peer trained')
  const roundSeconds = new Histogram({
    name: 'fedit_round_seconds',
    help: 'announce to result of each completed round, as its aggregator measured it',
    registers,
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200]
  })
  const updateBytes = counter('fedit_round_update_bytes_total',
    'update bytes the aggregators of completed rounds received')
  const updates = counter('fedit_updates_total',
    'selected members\' updates in completed rounds: included, or excluded by reason', ['outcome', 'reason'])
  const rejected = counter('fedit_rejected_total',
    'messages, updates and adapters this peer refused, by where and reason', ['where', 'reason'])
  const failovers = counter('fedit_failovers_total', 'completed rounds finished by a failover aggregator')
  const wins = counter('fedit_election_wins_total', 'round attempts this peer announced as their aggregator')
  const excludedReasons = new LabelBudget(32)
  const rejectedReasons = new LabelBudget(64)
  peer.events.on('trained', (t) => { trainLoss.set(t.trainLoss); trainSamples.set(t.samples); trained.inc() })
  peer.events.on('announce', (a) => { if (a.mine) wins.inc() })
  peer.events.on('rejected', (r) => {
    rejected.inc({ where: r.where, reason: rejectedReasons.take(reasonLabel(r.reason)) })
  })
  peer.events.on('result', (info) => {
    roundSeconds.observe(info.seconds)
    updateBytes.inc(info.bytes)
    if (info.attempt > 0) failovers.inc()
    updates.inc({ outcome: 'included', reason: '' }, info.included.length)
    for (const x of info.excluded) {
      updates.inc({ outcome: 'excluded', reason: excludedReasons.take(reasonLabel(x.reason)) })
    }
  })
}

export function registerBootstrapMetrics (registry: Registry, host: FeditHost): void {
  const registers = [registry]
  new Gauge({
    name: 'fedit_info',
    help: 'this node: its id and role (always 1)',
    labelNames: ['peer_id', 'role'],
    registers,
    collect () { this.reset(); this.set({ peer_id: host.peerId.toString(), role: 'bootstrap' }, 1) }
  })
  new Gauge({
    name: 'fedit_connections', help: 'open libp2p connections', registers,
    collect () { this.set(host.getConnections().length) }
  })
  new Gauge({
    name: 'fedit_peers_known', help: 'peers in the peer store (the DHT\'s view)', registers,
    async collect () { this.set((await host.peerStore.all()).length) }
  })
}
