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

/** Bounds the label values one series may take: reasons come from other peers' results too (a liar could invent many). */
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

export function registerPeerMetrics (registry: Registry, peer: Peer, observer: PeerObserver): void {
  const registers = [registry]
  const snap = (): ReturnType<PeerObserver['snapshot']> => observer.snapshot()
  new Gauge({
    name: 'fedit_info', help: 'this peer: its id, job and role (always 1)', labelNames: ['peer_id', 'job_id', 'job_name', 'role'], registers,
    collect () { const s = snap(); this.reset(); this.set({ peer_id: s.peerId, job_id: s.jobId, job_name: s.jobName ?? '', role: 'peer' }, 1) }
  })
  new Gauge({ name: 'fedit_round', help: 'the round in progress (the last round once the job is done)', registers, collect () { const s = snap(); this.set(s.current?.round ?? s.completed) } })
  new Gauge({ name: 'fedit_rounds_completed', help: 'rounds completed: the round of this peer\'s global adapter', registers, collect () { this.set(snap().completed) } })
  new Gauge({ name: 'fedit_job_rounds', help: 'rounds the job runs', registers, collect () { this.set(snap().jobRounds ?? 0) } })
  new Gauge({
    name: 'fedit_stage', help: 'this peer\'s stage in the current round (1 for the current stage)', labelNames: ['stage'], registers,
    collect () { const s = snap().stage; for (const st of Object.values(RoundStage)) this.set({ stage: st }, st === s ? 1 : 0) }
  })
  new Gauge({
    name: 'fedit_round_train_loss', help: 'sample-weighted mean training loss of the last completed round (its aggregator\'s)', registers,
    collect () { const r = snap().rounds.at(-1); if (r !== undefined) this.set(r.trainLoss) }
  })
  new Gauge({
    name: 'fedit_round_aggregator', help: 'the last round each peer aggregated (the aggregator of round N has the value N)', labelNames: ['peer'], registers,
    collect () { this.reset(); for (const r of snap().rounds) this.set({ peer: r.aggregator }, r.round) }
  })
  new Gauge({ name: 'fedit_members_live', help: 'live members of the job this peer sees (itself included)', registers, collect () { this.set(snap().members.length) } })
  new Gauge({ name: 'fedit_connections', help: 'open libp2p connections', registers, collect () { this.set(snap().reachability?.connections ?? 0) } })
  new Gauge({ name: 'fedit_train_tokens_per_second', help: 'this peer\'s measured training speed (0 until it trained)', registers, collect () { this.set(peer.measuredTokensPerSecond) } })
  const trainLoss = new Gauge({ name: 'fedit_train_loss', help: 'this peer\'s mean training loss in its last local training', registers })
  const trainSamples = new Gauge({ name: 'fedit_train_samples', help: 'examples this peer trained on in its last round', registers })
  const trained = new Counter({ name: 'fedit_train_rounds_total', help: 'rounds this peer trained', registers })
  const roundSeconds = new Histogram({
    name: 'fedit_round_seconds', help: 'announce to result of each completed round, as its aggregator measured it', registers,
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200]
  })
  const updateBytes = new Counter({ name: 'fedit_round_update_bytes_total', help: 'update bytes the aggregators of the completed rounds received', registers })
  const updates = new Counter({ name: 'fedit_updates_total', help: 'selected members\' updates in completed rounds: included, or excluded by reason', labelNames: ['outcome', 'reason'], registers })
  const rejected = new Counter({ name: 'fedit_rejected_total', help: 'messages, updates and adapters this peer refused, by where and reason', labelNames: ['where', 'reason'], registers })
  const failovers = new Counter({ name: 'fedit_failovers_total', help: 'completed rounds finished by a failover aggregator (attempt > 0)', registers })
  const wins = new Counter({ name: 'fedit_election_wins_total', help: 'round attempts this peer announced as their aggregator', registers })
  const excludedReasons = new LabelBudget(32)
  const rejectedReasons = new LabelBudget(64)
  peer.events.on('trained', (t) => { trainLoss.set(t.trainLoss); trainSamples.set(t.samples); trained.inc() })
  peer.events.on('announce', (a) => { if (a.mine) wins.inc() })
  peer.events.on('rejected', (r) => { rejected.inc({ where: r.where, reason: rejectedReasons.take(reasonLabel(r.reason)) }) })
  peer.events.on('result', (info) => {
    roundSeconds.observe(info.seconds)
    updateBytes.inc(info.bytes)
    if (info.attempt > 0) failovers.inc()
    updates.inc({ outcome: 'included', reason: '' }, info.included.length)
    for (const x of info.excluded) updates.inc({ outcome: 'excluded', reason: excludedReasons.take(reasonLabel(x.reason)) })
  })
}

export function registerBootstrapMetrics (registry: Registry, host: FeditHost): void {
  const registers = [registry]
  new Gauge({ name: 'fedit_info', help: 'this node: its id and role (always 1)', labelNames: ['peer_id', 'role'], registers, collect () { this.reset(); this.set({ peer_id: host.peerId.toString(), role: 'bootstrap' }, 1) } })
  new Gauge({ name: 'fedit_connections', help: 'open libp2p connections', registers, collect () { this.set(host.getConnections().length) } })
  new Gauge({ name: 'fedit_peers_known', help: 'peers in the peer store (the DHT\'s view)', registers, async collect () { this.set((await host.peerStore.all()).length) } })
}
