// A share of the in-process fleet's peers in a worker thread of its own (peer-shard-worker.ts). One event loop for
// 100 peers ran iterations of ~1 s, and libuv accepts one connection per listener per iteration: a peer that every
// DHT lookup dials (among the closest to the job's key) queued 80+ handshakes, most of them already abandoned, and
// the round's trainers, dialling it as their aggregator, timed out in that queue (docs/performance.md). Each shard
// runs its peers on its own loop; their trainers stay here and serve the shard's train() calls.
import type { JobSpec } from '../protocol/job-spec.ts'
import type { PeerTiming } from '../node/peer.ts'
import type { RoundInfo } from '../node/round-info.ts'
import type { LocalTrainer, TrainResult, TrainStep } from '../trainer/local-trainer.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { WorkerClient } from '../trainer/worker/rpc.ts'
import type { RoleAttack } from './role-attacks.ts'
import type { LoopLag, PeerView } from './fleet.ts'

export interface ShardSpec {
  readonly job: JobSpec
  readonly jobId: string
  /** frozen membership (PeerOptions.members), when the run freezes it */
  readonly members?: readonly string[]
  readonly timing: Partial<PeerTiming>
  readonly bootstrap: readonly string[]
  readonly dir: string
  /** the fleet's size (for peer labels) */
  readonly total: number
  /** the job's round-0 adapter, which each peer asks its trainer for */
  readonly initial: { readonly seed: number, readonly adapter: Adapter }
  readonly peers: ReadonlyArray<{ readonly index: number, readonly keySeed: Uint8Array, readonly samples?: number,
    readonly roleAttack?: RoleAttack }>
}

/** What a shard sends up about its peers: FleetEvents, but a result's adapter as a value. */
export type ShardEvent =
  | { readonly kind: 'announce', readonly peer: string, readonly round: number, readonly attempt: number,
    readonly aggregator: string, readonly selected: readonly string[], readonly at: number, readonly mine: boolean }
  | { readonly kind: 'trained', readonly peer: string, readonly round: number, readonly trainLoss: number,
    readonly samples: number }
  | { readonly kind: 'result', readonly info: RoundInfo, readonly adapter: Adapter }
  | { readonly kind: 'convicted', readonly by: string, readonly offender: string, readonly reason: string,
    readonly round: number }
  | { readonly kind: 'witnessed', readonly peer: string, readonly round: number, readonly bytes: number,
    readonly seconds: number }
  | { readonly kind: 'note', readonly line: string }

export interface TrainCall { readonly id: number, readonly peer: number, readonly round: number,
  readonly base: Adapter, readonly seed: number }
export interface TrainDone { readonly id: number, readonly result?: TrainResult,
  readonly error?: { readonly name: string, readonly message: string } }

/** The orchestrator's handle on one shard. */
export class PeerShard {
  private readonly client = new WorkerClient(new URL('./peer-shard-worker.ts', import.meta.url))
  private readonly aborts = new Map<number, AbortController>()

  /** `trainers` by peer index (the fleet's whole list; the shard uses those of its peers) */
  constructor (private readonly trainers: readonly LocalTrainer[], onEvent: (e: ShardEvent) => void) {
    this.client.on('fleet', onEvent)
    this.client.on('train', (c: TrainCall) => { this.train(c) })
    this.client.on('trainAbort', (id: number) => { this.aborts.get(id)?.abort(new Error('training aborted')) })
  }

  private train (c: TrainCall): void {
    const ac = new AbortController()
    this.aborts.set(c.id, ac)
    const onStep = (step: TrainStep): void => { this.client.call('trainStep', { id: c.id, step }).catch(() => {}) }
    this.trainers[c.peer]!.train({ round: c.round, base: c.base, seed: c.seed, signal: ac.signal, onStep })
      .then((result) => ({ id: c.id, result }),
        (err: Error) => ({ id: c.id, error: { name: err.name ?? 'Error', message: err.message ?? String(err) } }))
      .then(async (done: TrainDone) => await this.client.call('trainDone', done))
      .catch(() => {}) // the shard is gone (killed or stopped): no one waits for this result
      .finally(() => this.aborts.delete(c.id))
  }

  async create (spec: ShardSpec): Promise<void> { await this.client.call('create', spec) }
  async start (indices: readonly number[]): Promise<void> { await this.client.call('start', indices) }
  async views (): Promise<PeerView[]> { return await this.client.call<PeerView[]>('views') }
  /** the delay since the last reset; `reset`: and start again */
  async lag (reset = false): Promise<LoopLag> { return await this.client.call<LoopLag>('lag', reset) }
  async kill (index: number): Promise<void> { await this.client.call('kill', index) }

  async stop (): Promise<void> {
    await this.client.call('stop').catch(() => {})
    for (const ac of this.aborts.values()) ac.abort(new Error('the fleet stopped'))
    await this.client.close()
  }
}
