// What a simulation runs: the settings, their defaults, the paper's preset, and checks that name the flag
// that is wrong. Pure: no I/O.
import type { PartitionMethod } from '../trainer/data/partition.ts'
import type { LoraConfig } from '../trainer/lora/adapter.ts'
import { DEFAULT_LORA } from '../trainer/lora/adapter.ts'
import { ROBUST_DEFAULT, threatUnholdable } from '../protocol/aggregation-spec.ts'
import { BLIND_ATTACKS } from './attacks.ts'

export const ATTACKS = ['scale', 'signflip', 'noise', 'alie', 'ipm', 'ipm10', 'minmax', 'minsum', 'copies', 'drift',
  'backdoor', 'inflate', ...BLIND_ATTACKS, 'aggregator-garbage', 'witness-liar'] as const
export type Attack = typeof ATTACKS[number]
export const PARTITIONS: readonly PartitionMethod[] = ['iid', 'shepherd-categories', 'shepherd-quantity', 'dirichlet']
/** 'real': LoRA training with ONNX Runtime in worker threads; 'fake': instant, no learning (protocol-only runs) */
export type TrainerKind = 'real' | 'fake'

export interface SimConfig {
  readonly preset: 'demo' | 'paper'
  readonly peers: number
  readonly rounds: number
  readonly perRound: number
  /** all peers in this process (trainers in worker threads) instead of one process each */
  readonly inProcess: boolean
  readonly seed: number
  readonly out?: string
  readonly baselines: boolean
  readonly partition: PartitionMethod
  readonly alpha: number
  readonly aggregation: 'fedavg' | 'robust'
  readonly lora: LoraConfig
  readonly learningRate: number
  /** effective batch (examples per optimizer step) */
  readonly batchSize: number
  /** examples per forward pass (gradient accumulation up to batchSize) */
  readonly microBatch: number
  readonly localSteps: number
  readonly maxLength: number
  /** cap on each peer's training records (undefined: the whole partition) */
  readonly limitPerPeer?: number
  /** seconds from a round's announce until updates are late */
  readonly deadlineSeconds: number
  readonly killAggregatorAt?: number
  readonly dropRate: number
  readonly malicious: number
  readonly attack: Attack
  readonly trainer: TrainerKind
  readonly modelPath: string
  readonly dataPath: string
  /** held-out instructions answered by each model in the responses table */
  readonly samples: number
}

export class SimConfigError extends Error {
  constructor (message: string) { super(message); this.name = 'SimConfigError' }
}

/** Small enough to finish in a few minutes on 2 cores with stories260K (measured: see README). */
export const DEMO: SimConfig = {
  preset: 'demo',
  peers: 10,
  rounds: 5,
  perRound: 3,
  inProcess: false,
  seed: 42,
  baselines: false,
  partition: 'shepherd-categories',
  alpha: 0.5,
  aggregation: 'fedavg',
  lora: DEFAULT_LORA,
  learningRate: 3e-3,
  batchSize: 8,
  microBatch: 8,
  localSteps: 10,
  maxLength: 256,
  limitPerPeer: 400,
  deadlineSeconds: 120,
  dropRate: 0,
  malicious: 0,
  attack: 'scale',
  trainer: 'real',
  modelPath: 'assets/stories260K/stories260K.bin',
  dataPath: 'assets/dolly/dolly-15k.jsonl.gz',
  samples: 3
}

/** The FedIT/Shepherd paper's setting: 100 clients, 5 per round, 20 rounds, rank 8, lr 1.5e-4, batch 32, length 512. */
export const PAPER: Partial<SimConfig> = {
  preset: 'paper',
  peers: 100,
  rounds: 20,
  perRound: 5,
  partition: 'shepherd-categories',
  lora: { ...DEFAULT_LORA, r: 8 },
  learningRate: 1.5e-4,
  batchSize: 32,
  microBatch: 8,
  // Shepherd trains one local epoch per round; with ~150 records a peer that is ~5 steps of 32
  localSteps: 5,
  maxLength: 512,
  limitPerPeer: undefined,
  // not the paper's (its rounds are synchronous) but the job's default: ~20x a round's training here (5-35 s a
  // trainer on 2 loaded cores). A selected update that never comes (a push that timed out on a loaded machine, a
  // fork at the start) costs a round this long; at 3600 s one such update stalled a run for an hour
  deadlineSeconds: 600
}

/** Defaults <- preset <- the given overrides; then every field checked. */
export function resolveConfig (over: Partial<SimConfig>): SimConfig {
  const preset = over.preset === 'paper' ? PAPER : {}
  const c: SimConfig = { ...DEMO, ...preset, ...stripUndefined(over) }
  checkConfig(c)
  return c
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

export function checkConfig (c: SimConfig): void {
  const fail = (flag: string, what: string): never => { throw new SimConfigError(`--${flag} ${what}`) }
  const int = (v: number, flag: string, min: number, max = 1e6): void => {
    if (!Number.isSafeInteger(v) || v < min || v > max) fail(flag, `must be an integer in [${min}, ${max}], got ${v}`)
  }
  int(c.peers, 'peers', 2, 1000)
  int(c.rounds, 'rounds', 1, 10_000)
  int(c.perRound, 'per-round', 1, c.peers)
  int(c.seed, 'seed', 0, 2 ** 31 - 1)
  int(c.localSteps, 'local-steps', 1)
  int(c.maxLength, 'max-length', 16, 1 << 16)
  int(c.batchSize, 'batch-size', 1, 4096)
  int(c.microBatch, 'micro-batch', 1, 4096)
  int(c.samples, 'samples', 0, 80)
  if (c.limitPerPeer !== undefined) int(c.limitPerPeer, 'limit-per-peer', 1)
  if (!PARTITIONS.includes(c.partition)) {
    fail('partition', `must be one of ${PARTITIONS.join(', ')}, got ${c.partition}`)
  }
  if (!(c.alpha > 0 && Number.isFinite(c.alpha))) fail('alpha', `must be a positive number, got ${c.alpha}`)
  if (c.aggregation !== 'fedavg' && c.aggregation !== 'robust') {
    fail('aggregation', `must be fedavg or robust, got ${String(c.aggregation)}`)
  }
  const unholdable = c.aggregation === 'robust' ? threatUnholdable(ROBUST_DEFAULT, c.perRound) : undefined
  if (unholdable !== undefined) fail('per-round', `${c.perRound} is too few for --aggregation robust: ${unholdable}`)
  if (!(c.learningRate > 0 && c.learningRate < 10)) fail('lr', `must be a number in (0, 10), got ${c.learningRate}`)
  if (!(c.deadlineSeconds >= 1)) fail('deadline', `must be at least 1 second, got ${c.deadlineSeconds}`)
  if (!(c.dropRate >= 0 && c.dropRate < 1)) fail('drop-rate', `must be a probability in [0, 1), got ${c.dropRate}`)
  int(c.malicious, 'malicious', 0, c.peers - 1)
  if (!(ATTACKS as readonly string[]).includes(c.attack)) {
    fail('attack', `must be one of ${ATTACKS.join(', ')}, got ${String(c.attack)}`)
  }
  if (c.killAggregatorAt !== undefined) {
    int(c.killAggregatorAt, 'kill-aggregator-at', 1, c.rounds)
    if (c.peers - 1 < c.perRound) {
      fail('kill-aggregator-at', `needs more than --per-round peers (${c.peers} peers, ${c.perRound} per round)`)
    }
  }
  if (c.trainer !== 'real' && c.trainer !== 'fake') fail('trainer', `must be real or fake, got ${String(c.trainer)}`)
  if (!c.inProcess && c.malicious > 0) {
    fail('malicious', 'needs --in-process (a `fedit peer` process always trains honestly)')
  }
  if (!c.inProcess && c.trainer === 'fake') {
    fail('trainer', 'fake needs --in-process (`fedit peer` always trains for real)')
  }
}

/** The job every simulated peer joins (raw JSON for validateJobSpec / job.json). */
export function jobJson (c: SimConfig, modelId: string, modelSha256: string): Record<string, unknown> {
  return {
    name: `fedit-sim-${c.seed}`,
    baseModel: { id: modelId, sha256: modelSha256 },
    lora: { r: c.lora.r, alpha: c.lora.alpha, dropout: c.lora.dropout, targetModules: [...c.lora.targetModules] },
    recipe: { learningRate: c.learningRate, batchSize: c.batchSize, localSteps: c.localSteps, maxLength: c.maxLength,
      seed: c.seed },
    rounds: c.rounds,
    peersPerRound: c.perRound,
    // failover and vanished peers: rounds go on as long as a round's worth of peers is live
    minPeers: c.perRound,
    aggregation: c.aggregation,
    roundDeadlineSeconds: c.deadlineSeconds
  }
}

/** Peer labels used in logs and plots: p00, p01, ... */
export function peerLabel (i: number, n: number): string {
  return `p${String(i).padStart(Math.max(2, String(n - 1).length), '0')}`
}
