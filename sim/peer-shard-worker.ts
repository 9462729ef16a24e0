// Runs in a peer shard's worker thread (peer-shard.ts): a share of the in-process fleet's peers, on this thread's
// own event loop. Their trainers stay with the orchestrator (shared ONNX workers, the colluders' common state):
// a peer's train() is a call back to it, and what the fleet reports (announces, results, convictions) is sent up.
import '../node/polyfill.ts'
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { createPeer } from '../node/peer.ts'
import type { Peer } from '../node/peer.ts'
import { firstConnection } from '../node/join-pace.ts'
import type { LocalTrainer, TrainResult, TrainStep } from '../trainer/local-trainer.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { buildAggregator } from '../trainer/aggregate/build-aggregator.ts'
import { serve } from '../trainer/worker/rpc.ts'
import { CONVICTIONS, roleAttackTransport } from './role-attacks.ts'
import type { RoleAttack } from './role-attacks.ts'
import { isNoteworthy } from './fleet.ts'
import { peerLabel } from './sim-config.ts'
import type { ShardEvent, ShardSpec, TrainCall, TrainDone } from './peer-shard.ts'
import type { LoopLag, PeerView } from './fleet.ts'

type Emit = (name: string, payload: unknown) => void

/** How long a batch may take to hold a connection each before the next batch starts anyway (discovery redials). */
const JOIN_WAIT_MS = 30_000

const peers = new Map<number, Peer>()
/** this thread's event-loop delay since the orchestrator last reset it (the fleet's first announce) */
const lag = monitorEventLoopDelay({ resolution: 10 })
lag.enable()
const trains = new Map<number, { resolve: (r: TrainResult) => void, reject: (e: Error) => void,
  onStep?: (s: TrainStep) => void }>()
let nextTrain = 1

/** A peer's trainer: each call goes to the orchestrator, which owns the real one. */
function remoteTrainer (index: number, initial: { seed: number, adapter: Adapter }, emit: Emit): LocalTrainer {
  return {
    initialAdapter (seed) {
      // the peer asks for the job's seed only; the orchestrator computed that one before the thread started
      if (seed !== initial.seed) throw new Error(`the shard holds seed ${initial.seed}'s first adapter, not ${seed}'s`)
      return initial.adapter
    },
    async train (req) {
      if (req.signal?.aborted === true) throw req.signal.reason
      const id = nextTrain++
      const onAbort = (): void => { emit('trainAbort', id) }
      req.signal?.addEventListener('abort', onAbort, { once: true })
      try {
        return await new Promise<TrainResult>((resolve, reject) => {
          trains.set(id, { resolve, reject, ...(req.onStep !== undefined ? { onStep: req.onStep } : {}) })
          emit('train', { id, peer: index, round: req.round, base: req.base, seed: req.seed } satisfies TrainCall)
        })
      } finally {
        trains.delete(id)
        req.signal?.removeEventListener('abort', onAbort)
      }
    },
    async close () {}
  }
}

async function createPeers (spec: ShardSpec, emit: Emit): Promise<true> {
  const fleet = (e: ShardEvent): void => { emit('fleet', e) }
  const aggregate = buildAggregator(spec.job.aggregation)
  mkdirSync(join(spec.dir, 'logs'), { recursive: true })
  const stamp = (): string => new Date().toISOString().slice(11, 23)
  for (const s of spec.peers) {
    const logFile = join(spec.dir, 'logs', `p${s.index}.log`)
    const label = peerLabel(s.index, spec.total)
    const key = await generateKeyPairFromSeed('Ed25519', s.keySeed)
    const role: RoleAttack | undefined = s.roleAttack
    const p = createPeer({
      job: spec.job, jobId: spec.jobId, privateKey: key, members: spec.members,
      trainer: remoteTrainer(s.index, spec.initial, emit), aggregate, stateDir: join(spec.dir, `p${s.index}`),
      listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: spec.bootstrap, local: true,
      timing: spec.timing, samples: s.samples,
      ...(role !== undefined ? { transport: roleAttackTransport(role, key) } : {}),
      logger: (line) => {
        appendFileSync(logFile, `${stamp()} ${line}\n`)
        // as the process fleet shows them: a round that waits for its deadline says why
        if (isNoteworthy(line)) fleet({ kind: 'note', line: `${label}: ${line}` })
      }
    })
    p.events.on('announce', (a) => {
      fleet({ kind: 'announce', peer: p.peerId, round: a.round, attempt: a.attempt, aggregator: a.aggregator,
        selected: a.selected, at: a.at, mine: a.mine })
    })
    p.events.on('rejected', (r) => {
      appendFileSync(logFile, `${stamp()} rejected ${r.where} from ${r.from.slice(-6)}: ${r.reason}\n`)
      if (CONVICTIONS.has(r.reason)) {
        fleet({ kind: 'convicted', by: p.peerId, offender: r.from, reason: r.reason, round: r.round ?? 0 })
      }
    })
    p.events.on('witnessed', (w) => { fleet({ kind: 'witnessed', peer: p.peerId, ...w }) })
    p.events.on('trained', (t) => {
      fleet({ kind: 'trained', peer: p.peerId, round: t.round, trainLoss: t.trainLoss, samples: t.samples })
    })
    // the peer adopted this round's adapter just before emitting: sent now (a copy), before the next round replaces it
    p.events.on('result', (info) => { fleet({ kind: 'result', info, adapter: p.global.adapter }) })
    peers.set(s.index, p)
  }
  return true
}
function peer (index: number): Peer {
  const p = peers.get(index)
  if (p === undefined) throw new Error(`peer ${index} is not in this shard`)
  return p
}

serve({
  create: async (spec: ShardSpec, emit) => await createPeers(spec, emit),
  /** starts these peers and returns once each holds a connection (or JOIN_WAIT_MS passed) */
  start: async (indices: number[]) => {
    await Promise.all(indices.map(async (i) => { await peer(i).start() }))
    await Promise.all(indices.map(async (i) => await firstConnection(peer(i).libp2p, JOIN_WAIT_MS)))
    return true
  },
  views: () => [...peers].map(([index, p]): PeerView => ({ index, members: p.members(),
    connections: p.libp2p.getConnections().length, gossipPeers: p.gossipPeers() })),
  trainStep: ({ id, step }: { id: number, step: TrainStep }) => { trains.get(id)?.onStep?.(step); return true },
  trainDone: (d: TrainDone) => {
    const t = trains.get(d.id)
    if (t === undefined) return false
    if (d.error !== undefined) t.reject(Object.assign(new Error(d.error.message), { name: d.error.name }))
    else t.resolve(d.result!)
    return true
  },
  lag: (reset: boolean): LoopLag => {
    const l = { p99Ms: Math.round(lag.percentile(99) / 1e6), maxMs: Math.round(lag.max / 1e6) }
    if (reset) lag.reset()
    return l
  },
  kill: async (index: number) => { await peer(index).stop(); return true },
  stop: async () => {
    await Promise.all([...peers.values()].map(async (p) => { await p.stop() }))
    return true
  }
})
