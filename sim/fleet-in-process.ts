// All peers of the simulation in this process: one bootstrap host (in a thread of its own) and N createPeer()s on
// 127.0.0.1, each with its own state directory, spread over worker threads (peer-shard.ts), each trainer here in
// this thread (shared worker threads for the real one).
import '../node/polyfill.ts'
import { EventEmitter } from 'node:events'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { JobSpec } from '../protocol/job-spec.ts'
import { startBootstrapThread } from './bootstrap-thread.ts'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerTiming } from '../node/peer.ts'
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { RoleAttack } from './role-attacks.ts'
import { deriveSeed } from '../trainer/rng.ts'
import type { Fleet, FleetEvents, PeerView } from './fleet.ts'
import { ResultChoice } from './fleet.ts'
import { peerLabel } from './sim-config.ts'
import { PeerShard } from './peer-shard.ts'
import type { ShardEvent } from './peer-shard.ts'

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
function gatherProgress (ids: readonly string[], shards: readonly PeerShard[], events: EventEmitter<FleetEvents>):
  NodeJS.Timeout {
  const t = setInterval(() => {
    Promise.all(shards.map(async (s) => await s.views())).then((vs) => {
      events.emit('note', gatherNote(ids, vs.flat()))
    }).catch(() => {}) // a shard stopping: the next note, if any, says it
  }, GATHER_NOTE_MS)
  t.unref()
  return t
}

/** Where the peers' views stand (pure). */
export function gatherNote (ids: readonly string[], peers: readonly PeerView[]): string {
  const views = peers.map((p) => new Set(p.members))
  const live = views.map((v) => v.size).sort((a, b) => a - b)
  const connected = peers.filter((p) => p.connections > 0).length
  // the peers fewest views hold: with their connections and the job's gossip peers, where a stuck one stands
  const seenBy = peers.map((p, i) => ({ i, n: views.filter((v) => v.has(ids[p.index]!)).length }))
    .sort((a, b) => a.n - b.n).slice(0, 3)
  const least = seenBy.map(({ i, n }) => `${peerLabel(peers[i]!.index, ids.length)} in ${n} views, sees ` +
    `${views[i]!.size}, ${peers[i]!.connections} connections, ${peers[i]!.gossipPeers} job gossip peers`)
  // and the peers whose views hold fewest: a view short for long is a peer that hears few Hellos
  const blind = peers.map((p, i) => ({ p, n: views[i]!.size })).sort((a, b) => a.n - b.n).slice(0, 3)
    .map(({ p, n }) => `${peerLabel(p.index, ids.length)} ${n}`)
  return `gathering: members live in the peers' views min ${live[0]}, median ${live[live.length >> 1]}, max ` +
    `${live[live.length - 1]} of ${ids.length}; ${connected} peers connected; least seen: ${least.join('; ')}; ` +
    `seeing fewest: ${blind.join(', ')}`
}

/** Peers joined at once: 100 dialling the one bootstrap together (in this event loop) timed its handshakes out. */
const JOIN_BATCH = 10
/**
 * Peers per worker thread: at 25 a thread's loop stays well under a second per iteration (bench scale's 25-peer
 * point: loop lag p99 ~90 ms); a thread costs its own heap and a signature check per gossip message per thread
 */
const PEERS_PER_THREAD = 25

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
  /** worker threads the peers are spread over (default: one per PEERS_PER_THREAD peers) */
  readonly threads?: number
  /** the peers' own default timers instead of inProcessTiming's (bench scale-threads, to compare with bench scale) */
  readonly peerTimers?: boolean
}

export async function startInProcessFleet (o: InProcessOptions): Promise<Fleet> {
  const events = new EventEmitter<FleetEvents>()
  const n = o.trainers.length
  const announced = new Set<string>()
  const results = new ResultChoice()
  const onEvent = (e: ShardEvent): void => {
    if (e.kind === 'announce') {
      events.emit('accepted', { peer: e.peer, round: e.round, attempt: e.attempt, at: e.at, mine: e.mine })
      const key = `${e.round}/${e.attempt}/${e.aggregator}`
      if (announced.has(key)) return
      announced.add(key)
      events.emit('announce', { round: e.round, attempt: e.attempt, aggregator: e.aggregator, selected: e.selected })
    } else if (e.kind === 'result') {
      if (!results.accept(e.info.round, e.info.attempt)) return
      const adapter = e.adapter
      events.emit('result', { info: e.info, adapter: async () => adapter })
    } else if (e.kind === 'trained') {
      events.emit('trained', { peer: e.peer, round: e.round, trainLoss: e.trainLoss, samples: e.samples })
    } else if (e.kind === 'convicted') {
      events.emit('convicted', { by: e.by, offender: e.offender, kind: e.reason, round: e.round })
    } else if (e.kind === 'witnessed') {
      events.emit('witnessed', { peer: e.peer, round: e.round, bytes: e.bytes, seconds: e.seconds })
    } else events.emit('note', e.line)
  }
  // identities from the seed: the same run elects the same aggregators
  const keySeeds = o.trainers.map((_, i) => {
    const seed = new Uint8Array(32)
    new DataView(seed.buffer).setUint32(0, deriveSeed(o.seed, `peer:${i}`))
    return seed
  })
  const ids = await Promise.all(keySeeds.map(async (seed) =>
    peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()))
  const shardOf = (i: number): number => i % shards.length
  const shards = Array.from({ length: o.threads ?? Math.ceil(n / PEERS_PER_THREAD) },
    () => new PeerShard(o.trainers, onEvent))
  const boot = await startBootstrapThread().catch(async (err: unknown) => {
    await Promise.all(shards.map(async (s) => { await s.stop() }))
    throw err
  })
  const dead = new Set<string>()
  const gathering: { timer?: NodeJS.Timeout } = {}
  const stop = async (): Promise<void> => {
    clearInterval(gathering.timer)
    ids.forEach((id) => dead.add(id))
    await Promise.all(shards.map(async (s) => { await s.stop() }))
    await boot.stop()
  }
  try {
    const timing = o.peerTimers === true ? {} : inProcessTiming(n)
    const initialSeed = o.job.recipe.seed
    const initial = { seed: initialSeed, adapter: o.trainers[0]!.initialAdapter(initialSeed) }
    await Promise.all(shards.map(async (s, k) => {
      await s.create({
        job: o.job, jobId: o.jobId, timing: { ...timing, transferTimeoutMs: Math.max(30_000,
          o.job.roundDeadlineSeconds * 1000), ...o.timing },
        // membership frozen before round 1: a loaded machine's flapping live sets cannot change who is elected or
        // selected, so the same seed gives the same adapters
        ...(o.frozen === true ? { members: ids } : {}),
        bootstrap: [...boot.addrs], dir: o.dir, total: n, initial,
        peers: keySeeds.flatMap((keySeed, i) => shardOf(i) !== k ? [] : [{ index: i, keySeed,
          ...(o.samples[i] !== undefined ? { samples: o.samples[i] } : {}),
          ...(o.roleAttacks?.has(i) === true ? { roleAttack: o.roleAttacks.get(i)! } : {}) }])
      })
    }))
    // a batch at a time, each batch connected (to the bootstrap or a member) before the next dials in
    for (let i = 0; i < n; i += JOIN_BATCH) {
      const batch = Array.from({ length: Math.min(JOIN_BATCH, n - i) }, (_, j) => i + j)
      await Promise.all(shards.map(async (s, k) => {
        const mine = batch.filter((b) => shardOf(b) === k)
        if (mine.length > 0) await s.start(mine)
      }))
    }
  } catch (err) {
    await stop()
    throw err
  }
  gathering.timer = gatherProgress(ids, shards, events)
  events.once('announce', () => {
    clearInterval(gathering.timer)
    for (const s of shards) s.lag(true).catch(() => {})
  })
  return {
    events,
    ids,
    async kill (peer) {
      const i = ids.indexOf(peer)
      if (i < 0 || dead.has(peer)) return
      dead.add(peer)
      await shards[shardOf(i)]!.kill(i)
    },
    alive: () => ids.filter((id) => !dead.has(id)),
    stop,
    loopLag: async (reset) => await Promise.all(shards.map(async (s) => await s.lag(reset))),
    views: async () => (await Promise.all(shards.map(async (s) => await s.views()))).flat()
  }
}
