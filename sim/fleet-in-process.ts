// All peers of the simulation in this process: one bootstrap host (in a thread of its own) and N createPeer()s on
// 127.0.0.1, each with its own state directory and its own trainer (shared worker threads for the real one).
import '../node/polyfill.ts'
import { EventEmitter } from 'node:events'
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { JobSpec } from '../protocol/job-spec.ts'
import { startBootstrapThread } from './bootstrap-thread.ts'
import { createPeer } from '../node/peer.ts'
import { firstConnection } from '../node/join-pace.ts'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Peer, PeerTiming } from '../node/peer.ts'
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import { buildAggregator } from '../trainer/aggregate/build-aggregator.ts'
import { CONVICTIONS, roleAttackTransport } from './role-attacks.ts'
import type { RoleAttack } from './role-attacks.ts'
import { deriveSeed } from '../trainer/rng.ts'
import type { Fleet, FleetEvents } from './fleet.ts'
import { isNoteworthy, ResultChoice } from './fleet.ts'
import { peerLabel } from './sim-config.ts'

/**
 * Quicker than a peer's defaults (which suit a WAN): everything here is one loopback hop away. But all the peers
 * share this process's one event loop, and what they do on a timer costs peers x rate (each Hello is heard and
 * verified by every peer, each discovery interval is a DHT walk per peer): past 25 peers the intervals stretch with
 * the fleet, to about the peer's defaults (2 s heartbeat, 10 s discovery) at 100. At the small fleet's timing 100
 * peers filled the loop before round 1 (a core busy, 46 still unable to reach the bootstrap 90 s after start).
 */
export function inProcessTiming (peers: number): Partial<PeerTiming> {
  const k = Math.max(1, peers / 25)
  const heartbeatMs = Math.round(500 * k)
  return { heartbeatMs, memberTtlMs: 8 * heartbeatMs, tickMs: Math.round(Math.min(250, 100 * k)),
    settleMs: 5 * heartbeatMs, graceMs: 4 * heartbeatMs,
    discoveryIntervalMs: Math.round(Math.min(10_000, 1000 * k * k)) }
}

/** While the job gathers (before round 1), how often the fleet says how far the peers' views have come. */
const GATHER_NOTE_MS = 30_000

/**
 * Round 1 waits for the job's members to be live in the views (all of them with frozen membership): a large fleet
 * can take minutes, so say where the views stand instead of a silence.
 */
function gatherProgress (peers: readonly Peer[], events: EventEmitter<FleetEvents>): NodeJS.Timeout {
  const t = setInterval(() => {
    const views = peers.map((p) => new Set(p.members()))
    const live = views.map((v) => v.size).sort((a, b) => a - b)
    const connected = peers.filter((p) => p.libp2p.getConnections().length > 0).length
    // the peers fewest views hold: with their connections and the job's gossip peers, where a stuck one stands
    const seenBy = peers.map((p, i) => ({ i, n: views.filter((v) => v.has(p.peerId)).length }))
      .sort((a, b) => a.n - b.n).slice(0, 3)
    const least = seenBy.map(({ i, n }) => `${peerLabel(i, peers.length)} in ${n} views, sees ${views[i]!.size}, ` +
      `${peers[i]!.libp2p.getConnections().length} connections, ${peers[i]!.gossipPeers()} job gossip peers`)
    events.emit('note', `gathering: members live in the peers' views min ${live[0]}, median ` +
      `${live[live.length >> 1]}, max ${live[live.length - 1]} of ${peers.length}; ${connected} peers connected; ` +
      `least seen: ${least.join('; ')}`)
  }, GATHER_NOTE_MS)
  t.unref()
  return t
}

/** Peers joined at once: 100 dialling the one bootstrap together (in this event loop) timed its handshakes out. */
const JOIN_BATCH = 10
/** How long a batch may take to hold a connection each before the next batch starts anyway (discovery redials). */
const JOIN_WAIT_MS = 30_000

export interface InProcessOptions {
  readonly job: JobSpec
  readonly jobId: string
  readonly trainers: readonly LocalTrainer[]
  readonly samples: readonly number[]
  readonly dir: string
  readonly seed: number
  readonly timing?: Partial<PeerTiming>
  /** deterministic mode: membership frozen before round 1 (PeerOptions.members) */
  readonly frozen?: boolean
  /** peers (by index) that attack in a role: as aggregator or witness (sim/role-attacks.ts) */
  readonly roleAttacks?: ReadonlyMap<number, RoleAttack>
}

export async function startInProcessFleet (o: InProcessOptions): Promise<Fleet> {
  const events = new EventEmitter<FleetEvents>()
  const boot = await startBootstrapThread()
  const bootAddrs = [...boot.addrs]
  const aggregate = buildAggregator(o.job.aggregation)
  const peers: Peer[] = []
  // each peer's own log lines (as `fedit peer` prints them) go to dir/logs/p<i>.log, for post-mortems
  mkdirSync(join(o.dir, 'logs'), { recursive: true })
  const stamp = (): string => new Date().toISOString().slice(11, 23)
  const dead = new Set<string>()
  const announced = new Set<string>()
  const results = new ResultChoice()
  // identities from the seed: the same run elects the same aggregators
  const keys = await Promise.all(o.trainers.map(async (_, i) => {
    const seed = new Uint8Array(32)
    new DataView(seed.buffer).setUint32(0, deriveSeed(o.seed, `peer:${i}`))
    return await generateKeyPairFromSeed('Ed25519', seed)
  }))
  // membership frozen before round 1: a loaded machine's flapping live sets cannot change who is elected or
  // selected, so the same seed gives the same adapters
  const members = o.frozen === true ? keys.map((k) => peerIdFromPrivateKey(k).toString()) : undefined
  const timing = inProcessTiming(o.trainers.length)
  for (let i = 0; i < o.trainers.length; i++) {
    const role = o.roleAttacks?.get(i)
    const p = createPeer({
      job: o.job, jobId: o.jobId, privateKey: keys[i]!, members,
      trainer: o.trainers[i]!, aggregate, stateDir: join(o.dir, `p${i}`),
      listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootAddrs, local: true,
      timing: { ...timing, transferTimeoutMs: Math.max(30_000, o.job.roundDeadlineSeconds * 1000),
        ...o.timing },
      samples: o.samples[i],
      ...(role !== undefined ? { transport: roleAttackTransport(role, keys[i]!) } : {}),
      logger: (line) => {
        appendFileSync(join(o.dir, 'logs', `p${i}.log`), `${stamp()} ${line}\n`)
        // as the process fleet shows them: a round that waits for its deadline says why
        if (isNoteworthy(line)) events.emit('note', `${peerLabel(i, o.trainers.length)}: ${line}`)
      }
    })
    p.events.on('announce', (a) => {
      const key = `${a.round}/${a.attempt}/${a.aggregator}`
      if (announced.has(key)) return
      announced.add(key)
      events.emit('announce', { round: a.round, attempt: a.attempt, aggregator: a.aggregator, selected: a.selected })
    })
    p.events.on('rejected', (r) => {
      appendFileSync(join(o.dir, 'logs', `p${i}.log`),
        `${stamp()} rejected ${r.where} from ${r.from.slice(-6)}: ${r.reason}\n`)
      if (CONVICTIONS.has(r.reason)) {
        events.emit('convicted', { by: p.peerId, offender: r.from, kind: r.reason, round: r.round ?? 0 })
      }
    })
    p.events.on('witnessed', (w) => { events.emit('witnessed', { peer: p.peerId, ...w }) })
    p.events.on('trained', (t) => {
      events.emit('trained', { peer: p.peerId, round: t.round, trainLoss: t.trainLoss, samples: t.samples })
    })
    p.events.on('result', (info) => {
      if (!results.accept(info.round, info.attempt)) return
      // the peer adopted this round's adapter just before emitting: take it now, before the next round replaces it
      const adapter = p.global.adapter
      events.emit('result', { info, adapter: async () => adapter })
    })
    peers.push(p)
  }
  // a batch at a time, each batch connected (to the bootstrap or a member) before the next dials in
  for (let i = 0; i < peers.length; i += JOIN_BATCH) {
    const batch = peers.slice(i, i + JOIN_BATCH)
    await Promise.all(batch.map(async (p) => await p.start()))
    await Promise.all(batch.map(async (p) => await firstConnection(p.libp2p, JOIN_WAIT_MS)))
  }
  const byId = new Map(peers.map((p) => [p.peerId, p]))
  const gathering = gatherProgress(peers, events)
  events.once('announce', () => { clearInterval(gathering) })
  return {
    events,
    ids: peers.map((p) => p.peerId),
    async kill (peer) {
      if (dead.has(peer)) return
      dead.add(peer)
      await byId.get(peer)?.stop()
    },
    alive: () => peers.map((p) => p.peerId).filter((id) => !dead.has(id)),
    async stop () {
      clearInterval(gathering)
      await Promise.all(peers.map(async (p) => { dead.add(p.peerId); await p.stop() }))
      await boot.stop()
    }
  }
}
