// Issue 5's in-training check: 8 peers, all training every round, 2 of them sending poisoned updates (scaled
// x100 or sign-flipped): the final held-out loss under the robust default against the same run with no
// attackers, with plain FedAvg's figure beside it. The rounds run here directly (the same trainers, attack
// wrappers, aggregation rules and evaluator as a simulation, without the network), so the figures measure
// the aggregation rule alone and every case sees the same data, seeds and schedule.
import { readDolly } from '../trainer/data/readers.ts'
import { splitHeldOut } from '../trainer/data/split.ts'
import { loadCheckpoint } from '../trainer/checkpoint/load.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { ClientUpdate } from '../trainer/aggregate/types.ts'
import { buildAggregator } from '../trainer/aggregate/build-aggregator.ts'
import { FEDAVG, ROBUST_DEFAULT } from '../protocol/aggregation-spec.ts'
import { encodeAdapter, sha256Hex } from '../node/adapter-codec.ts'
import { trainSeed } from '../node/peer.ts'
import type { Attack } from './sim-config.ts'
import { DEMO, peerLabel } from './sim-config.ts'
import { shareTrainingPool } from './peer-data.ts'
import { createSimTrainer } from './trainer-source.ts'
import { createAttackTrainer } from './attack-trainer.ts'
import { createEvaluator } from './held-out-evaluator.ts'

export interface PoisoningOptions {
  readonly rounds: number
  readonly localSteps: number
  readonly maxLength: number
  readonly limitPerPeer: number
  readonly attacks: readonly Attack[]
  /** also run FedAvg (clean and under attack): the figures reported beside the robust ones */
  readonly fedavg: boolean
  readonly seed?: number
  readonly log?: (line: string) => void
}

export interface CaseResult { readonly evalLoss: number, readonly curve: number[], readonly excluded: number,
  readonly excludedMalicious: number, readonly seconds: number }

export interface PoisoningResult {
  readonly peers: number
  readonly malicious: number
  readonly base: number
  readonly clean: { readonly robust: CaseResult, readonly fedavg?: CaseResult }
  readonly attacks: Record<string, {
    readonly robust: CaseResult, readonly fedavg?: CaseResult, readonly robustVsCleanPercent: number
  }>
}

export const POISON_PEERS = 8
export const POISON_MALICIOUS = 2

export async function runPoisoning (o: PoisoningOptions): Promise<PoisoningResult> {
  const seed = o.seed ?? 7
  const modelPath = DEMO.modelPath
  const model = loadCheckpoint(modelPath).config
  const { test, train } = splitHeldOut(readDolly(DEMO.dataPath).records)
  const shares = shareTrainingPool(train, { peers: POISON_PEERS, method: 'iid', seed, alpha: 0.5,
    limitPerPeer: o.limitPerPeer, label: (i) => peerLabel(i, POISON_PEERS) })
  const honest: LocalTrainer[] = await Promise.all(shares.map(async (s) => await createSimTrainer({
    kind: 'real', modelPath, model, records: s.records, lora: DEMO.lora, learningRate: DEMO.learningRate,
    batchSize: 8, microBatch: 8, localSteps: o.localSteps, maxLength: o.maxLength, threads: 1
  })))
  const evaluator = await createEvaluator({ modelPath, records: test, lora: DEMO.lora, maxLength: 512, threads: 1 })
  try {
    const base = (await evaluator.evaluate()).evalLoss
    const run = async (rule: 'fedavg' | 'robust', attack?: Attack): Promise<CaseResult> => {
      const t0 = Date.now()
      // the last two peers attack; with an IID split they hold the same kind of data as the rest
      const trainers = honest.map((t, i) => attack !== undefined && i >= POISON_PEERS - POISON_MALICIOUS
        ? createAttackTrainer(t, attack) : t)
      const aggregate = buildAggregator(rule === 'robust' ? ROBUST_DEFAULT : FEDAVG)
      let global: Adapter = honest[0]!.initialAdapter(seed)
      const curve: number[] = []
      let excluded = 0; let excludedMalicious = 0
      for (let round = 1; round <= o.rounds; round++) {
        const baseHash = sha256Hex(encodeAdapter(global))
        const updates: ClientUpdate[] = await Promise.all(trainers.map(async (t, i) => {
          const r = await t.train({ round, base: global, seed: trainSeed(seed, round, shares[i]!.label) })
          return { peer: shares[i]!.label, samples: r.samples, round, baseHash, adapter: r.adapter }
        }))
        const res = aggregate(updates, { round, baseHash, global })
        for (const d of res.decisions.filter((x) => !x.included)) {
          excluded++
          if (attack !== undefined && Number(d.peer.slice(1)) >= POISON_PEERS - POISON_MALICIOUS) excludedMalicious++
        }
        global = res.adapter
        const e = await evaluator.evaluate(global)
        curve.push(e.evalLoss)
        o.log?.(`poisoning ${rule}${attack !== undefined ? ` + 2 x ${attack}` : ''} round ${round}: held-out ` +
          `loss ${e.evalLoss.toFixed(4)}; ${res.summary}`)
      }
      return { evalLoss: curve[curve.length - 1]!, curve, excluded, excludedMalicious,
        seconds: (Date.now() - t0) / 1000 }
    }
    const clean = { robust: await run('robust'), ...(o.fedavg ? { fedavg: await run('fedavg') } : {}) }
    const attacks: PoisoningResult['attacks'] = {}
    for (const a of o.attacks) {
      const robust = await run('robust', a)
      attacks[a] = { robust, ...(o.fedavg ? { fedavg: await run('fedavg', a) } : {}),
        robustVsCleanPercent: (robust.evalLoss - clean.robust.evalLoss) / clean.robust.evalLoss * 100 }
    }
    return { peers: POISON_PEERS, malicious: POISON_MALICIOUS, base, clean, attacks }
  } finally {
    await Promise.all(honest.map(async (t) => await t.close()))
    await evaluator.close()
  }
}
