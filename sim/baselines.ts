// The experiment's comparison models, trained outside the network on the same data the peers hold:
//   Local-k: one peer's data alone, for the local steps that peer gets in the federation on average
//            (ceil(rounds x perRound / peers) rounds of localSteps);
//   centralized: the union of all peers' data, for the federation's total number of examples seen
//            (rounds x perRound rounds of localSteps), evaluated after each round's worth for the loss curve.
// Every model starts from the federation's round-0 adapter. Each runs in its own trainer (worker thread), all at once;
// every model is judged by the same evaluator.
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { InstructionRecord } from '../trainer/data/record.ts'
import type { HeldOutLoss } from './held-out-evaluator.ts'
import type { LocalPick, PeerShare } from './peer-data.ts'

export interface BaselinePlan {
  /** train() calls (each localSteps steps) of a local-only model */
  readonly localCalls: number
  /** train() calls of the centralized model */
  readonly centralCalls: number
  /** centralized calls per federated round (for the curve) */
  readonly callsPerRound: number
}

export function baselinePlan (rounds: number, perRound: number, peers: number): BaselinePlan {
  return { localCalls: Math.max(1, Math.ceil(rounds * perRound / peers)), centralCalls: rounds * perRound,
    callsPerRound: perRound }
}

export interface BaselineModel { readonly name: string, readonly adapter: Adapter, readonly eval: HeldOutLoss,
  readonly steps: number }
export interface LocalModel extends BaselineModel { readonly pick: LocalPick, readonly label: string }

export interface BaselineOptions {
  readonly plan: BaselinePlan
  readonly localSteps: number
  readonly seed: number
  readonly shares: readonly PeerShare[]
  readonly picks: readonly LocalPick[]
  readonly makeTrainer: (records: readonly InstructionRecord[]) => Promise<LocalTrainer>
  readonly evaluate: (a: Adapter) => Promise<HeldOutLoss>
  readonly log: (line: string) => void
}

/** Chains `calls` train() calls from `start`; `after(i, adapter)` sees the adapter after call i (1-based). */
async function trainChain (t: LocalTrainer, start: Adapter, calls: number, seed: number,
  after?: (i: number, a: Adapter, loss: number) => Promise<void>): Promise<Adapter> {
  let a = start
  for (let i = 1; i <= calls; i++) {
    const r = await t.train({ round: i, base: a, seed: seed + i })
    a = r.adapter
    await after?.(i, a, r.trainLoss)
  }
  return a
}

export async function runBaselines (
  o: BaselineOptions
): Promise<{ locals: LocalModel[], centralized: BaselineModel & { curve: number[] } }> {
  const union = o.shares.flatMap((s) => s.records)
  const localJobs = o.picks.map(async (pick, k) => {
    const share = o.shares[pick.index]!
    const t = await o.makeTrainer(share.records)
    try {
      const a = await trainChain(t, t.initialAdapter(o.seed), o.plan.localCalls, o.seed * 1000 + k * 100)
      const e = await o.evaluate(a)
      const name = `Local-${k + 1}`
      o.log(`baseline ${name} (${share.label}: ${pick.categories.join('+')}, ${share.records.length} ` +
        `records, ${o.plan.localCalls * o.localSteps} steps): held-out loss ${e.evalLoss.toFixed(4)}`)
      return { name, label: share.label, pick, adapter: a, eval: e, steps: o.plan.localCalls * o.localSteps }
    } finally { await t.close() }
  })
  const central = (async () => {
    const t = await o.makeTrainer(union)
    const curve: number[] = []
    try {
      const a = await trainChain(t, t.initialAdapter(o.seed), o.plan.centralCalls, o.seed * 1000 + 999,
        async (i, adapter, loss) => {
        if (i % o.plan.callsPerRound !== 0) return
        const e = await o.evaluate(adapter)
        curve.push(e.evalLoss)
        o.log(`baseline centralized: ${i}/${o.plan.centralCalls} (round ${curve.length} equivalent) train ` +
          `loss ${loss.toFixed(4)}, held-out loss ${e.evalLoss.toFixed(4)}`)
      })
      const e = await o.evaluate(a)
      return { name: 'centralized', adapter: a, eval: e, steps: o.plan.centralCalls * o.localSteps, curve }
    } finally { await t.close() }
  })()
  const [locals, centralized] = await Promise.all([Promise.all(localJobs), central])
  return { locals, centralized }
}
