// report.json from the pieces a run collected (pure): the contract's fields in DESIGN.md's shape, peers
// named by their labels (p00, p01, ...; the peers list maps labels to libp2p peer ids).
import type { RoundInfo } from '../node/round-info.ts'
import type { SimulationReport, RoundReport, PeerEntry } from './report.ts'
import type { HeldOutLoss } from './held-out-evaluator.ts'
import type { SimConfig } from './sim-config.ts'

export interface RunPieces {
  readonly config: SimConfig
  readonly model: string
  readonly base: HeldOutLoss
  readonly rounds: ReadonlyArray<{ readonly info: RoundInfo, readonly eval: HeldOutLoss }>
  readonly finalAdapter: string
  readonly finalHash: string
  readonly peers: readonly PeerEntry[]
  readonly killed: ReadonlyArray<{ peer: string, round: number, why: string }>
  /** peers convicted on evidence, by peer id */
  readonly convicted?: ReadonlyArray<{ peer: string, kind: string, round: number }>
  /** every witness check of a result (in-process runs) */
  readonly witnessed?: readonly WitnessCheck[]
  readonly baselines?: SimulationReport['baselines']
  readonly responses?: SimulationReport['responses']
  readonly seconds: number
}

const lc = (h: HeldOutLoss): { evalLoss: number, byCategory: Record<string, number> } => ({ evalLoss: h.evalLoss,
  byCategory: { ...h.byCategory } })

export interface WitnessCheck { readonly round: number, readonly bytes: number, readonly seconds: number }

/**
 * The witnesses' price: checks and update bytes per round, one check's seconds, and that against a round's
 * wall time (announce to result; the witnesses of a round recompute side by side, each on its own machine).
 */
export function witnessPrice (checks: readonly WitnessCheck[],
  rounds: readonly RoundInfo[]): SimulationReport['witnesses'] | undefined {
  if (checks.length === 0 || rounds.length === 0) return undefined
  const perCheck = checks.reduce((a, w) => a + w.seconds, 0) / checks.length
  const roundSeconds = rounds.reduce((a, r) => a + r.seconds, 0) / rounds.length
  const r3 = (x: number): number => Math.round(x * 1000) / 1000
  return {
    checksPerRound: r3(checks.length / rounds.length),
    bytesPerRound: Math.round(checks.reduce((a, w) => a + w.bytes, 0) / rounds.length),
    secondsPerCheck: r3(perCheck),
    shareOfRound: r3(roundSeconds > 0 ? perCheck / roundSeconds : 0)
  }
}

export function assembleReport (p: RunPieces): SimulationReport {
  const label = new Map(p.peers.map((e) => [e.id, e.label]))
  const name = (id: string): string => label.get(id) ?? id
  const c = p.config
  const rounds: RoundReport[] = [...p.rounds].sort((a, b) => a.info.round - b.info.round).map(({ info, eval: e }) => ({
    round: info.round,
    aggregator: name(info.aggregator),
    attempt: info.attempt,
    selected: info.selected.map(name),
    included: info.included.map(name),
    excluded: info.excluded.map((x) => ({ peer: name(x.peer), reason: x.reason })),
    seconds: info.seconds,
    bytes: info.bytes,
    trainLoss: info.trainLoss,
    ...lc(e)
  }))
  const last = p.rounds.length === 0 ? p.base : [...p.rounds].sort((a, b) => b.info.round - a.info.round)[0]!.eval
  const malicious = p.peers.filter((e) => e.malicious === true).map((e) => e.label)
  const witnesses = witnessPrice(p.witnessed ?? [], p.rounds.map((r) => r.info))
  return {
    config: {
      peers: c.peers, rounds: c.rounds, perRound: c.perRound, partition: c.partition, aggregation: c.aggregation,
        seed: c.seed, model: p.model,
      preset: c.preset, inProcess: c.inProcess, trainer: c.trainer, alpha: c.alpha,
      lora: { r: c.lora.r, alpha: c.lora.alpha, dropout: c.lora.dropout, targetModules: [...c.lora.targetModules] },
      learningRate: c.learningRate, batchSize: c.batchSize, localSteps: c.localSteps, maxLength: c.maxLength,
      limitPerPeer: c.limitPerPeer ?? null, deadlineSeconds: c.deadlineSeconds,
      killAggregatorAt: c.killAggregatorAt ?? null, dropRate: c.dropRate, malicious: c.malicious,
        attack: c.malicious > 0 ? c.attack : null
    },
    base: lc(p.base),
    rounds,
    final: { ...lc(last), adapter: p.finalAdapter, hash: p.finalHash },
    ...(p.baselines !== undefined ? { baselines: p.baselines } : {}),
    peers: p.peers.map((e) => ({ ...e })),
    faults: { killed: p.killed.map((k) => ({ ...k, peer: name(k.peer) })), malicious,
      ...(malicious.length > 0 ? { attack: c.attack } : {}),
      ...(p.convicted !== undefined && p.convicted.length > 0
        ? { convicted: p.convicted.map((x) => ({ ...x, peer: name(x.peer) })) } : {}) },
    ...(witnesses !== undefined ? { witnesses } : {}),
    ...(p.responses !== undefined ? { responses: p.responses } : {}),
    seconds: p.seconds
  }
}
