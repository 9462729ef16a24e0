// Issue 5's in-training check: 8 peers, all training every round, 2 of them sending poisoned updates (scaled
// or sign-flipped): the final held-out loss under the robust default against the same run with no attackers,
// with plain FedAvg's figure beside it. Each case is a full simulation on 127.0.0.1 (same seed, same data).
import type { Attack, SimConfig } from './sim-config.ts'
import { resolveConfig } from './sim-config.ts'
import { runSimulation } from './simulation.ts'

export interface PoisoningOptions {
  readonly rounds: number
  readonly localSteps: number
  readonly maxLength: number
  readonly limitPerPeer: number
  readonly attacks: readonly Attack[]
  /** also run FedAvg under attack (the figure reported beside the robust one) */
  readonly fedavg: boolean
  readonly seed?: number
  readonly trainer?: SimConfig['trainer']
  readonly log?: (line: string) => void
}

export interface CaseResult { readonly evalLoss: number, readonly excluded: number, readonly excludedMalicious: number, readonly seconds: number }

export interface PoisoningResult {
  readonly peers: number
  readonly malicious: number
  readonly base: number
  readonly clean: { readonly robust: CaseResult, readonly fedavg?: CaseResult }
  readonly attacks: Record<string, { readonly robust: CaseResult, readonly fedavg?: CaseResult, readonly robustVsCleanPercent: number }>
}

export const POISON_PEERS = 8
export const POISON_MALICIOUS = 2

export async function runPoisoning (o: PoisoningOptions): Promise<PoisoningResult> {
  let base = NaN
  const run = async (aggregation: 'fedavg' | 'robust', malicious: number, attack: Attack = 'scale'): Promise<CaseResult> => {
    const t0 = Date.now()
    const c = resolveConfig({
      peers: POISON_PEERS, perRound: POISON_PEERS, rounds: o.rounds, inProcess: true, partition: 'iid', aggregation, malicious, attack,
      localSteps: o.localSteps, maxLength: o.maxLength, limitPerPeer: o.limitPerPeer, samples: 0, seed: o.seed ?? 7, trainer: o.trainer ?? 'real',
      batchSize: 8, microBatch: 8, deadlineSeconds: 120
    })
    const { report } = await runSimulation(c, { log: o.log ?? (() => {}) })
    base = report.base.evalLoss
    const bad = new Set(report.faults?.malicious ?? [])
    const ex = report.rounds.flatMap((r) => r.excluded)
    const res = { evalLoss: report.final.evalLoss, excluded: ex.length, excludedMalicious: ex.filter((e) => bad.has(e.peer)).length, seconds: (Date.now() - t0) / 1000 }
    o.log?.(`poisoning: ${aggregation}, ${malicious > 0 ? `${malicious} x ${attack}` : 'no attackers'}: held-out loss ${res.evalLoss.toFixed(4)}, excluded ${res.excluded} (${res.excludedMalicious} malicious)`)
    return res
  }
  const clean = { robust: await run('robust', 0), ...(o.fedavg ? { fedavg: await run('fedavg', 0) } : {}) }
  const attacks: PoisoningResult['attacks'] = {}
  for (const a of o.attacks) {
    const robust = await run('robust', POISON_MALICIOUS, a)
    attacks[a] = { robust, ...(o.fedavg ? { fedavg: await run('fedavg', POISON_MALICIOUS, a) } : {}), robustVsCleanPercent: (robust.evalLoss - clean.robust.evalLoss) / clean.robust.evalLoss * 100 }
  }
  return { peers: POISON_PEERS, malicious: POISON_MALICIOUS, base, clean, attacks }
}
