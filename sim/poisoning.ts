// The poisoning matrix: attacks x aggregation rules x settings (peers, malicious, data split), each case a real
// federation of stories260K on Dolly where every peer trains every round. The rounds run here directly (the
// same trainers, aggregation rules and evaluator as a simulation, without the network), so the figures measure
// the aggregation rule alone and every case of a setting sees the same data, seeds and schedule. One setting
// loads its trainers once and reuses them for all its cases.
import { readDolly } from '../trainer/data/readers.ts'
import { splitHeldOut } from '../trainer/data/split.ts'
import { loadCheckpoint } from '../trainer/checkpoint/load.ts'
import { loadTokenizerFor } from '../trainer/tokenizer.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { LocalTrainer } from '../trainer/local-trainer.ts'
import type { PartitionMethod } from '../trainer/data/partition.ts'
import type { ClientUpdate } from '../trainer/aggregate/types.ts'
import type { JobHistory } from '../trainer/aggregate/history.ts'
import { DEFAULT_MAX_SAMPLES } from '../trainer/aggregate/types.ts'
import { buildAggregator } from '../trainer/aggregate/build-aggregator.ts'
import type { AggregationSpec } from '../protocol/aggregation-spec.ts'
import { FEDAVG, ROBUST_DEFAULT } from '../protocol/aggregation-spec.ts'
import { encodeAdapter, sha256Hex } from '../node/adapter-codec.ts'
import { trainSeed } from '../node/peer.ts'
import { DEMO, peerLabel } from './sim-config.ts'
import { shareTrainingPool } from './peer-data.ts'
import { createSimTrainer } from './trainer-source.ts'
import { createEvaluator } from './held-out-evaluator.ts'
import type { BlindAttack, Knowledge, ModelAttack } from './attacks.ts'
import { blindBase, craft, flatDelta, hiddenDirection, isBlind, withDelta } from './attacks.ts'
import { corruptUpdate } from './attack-trainer.ts'
import { backdoorRecords, backdoorSuccess } from './backdoor.ts'

/** The rules a case can run: the job presets, the coordinate-wise median, the default without its memory, with its
 * memory's earlier threshold (0.5) and the stricter one for IID jobs (0.2), and the default before the threat
 * parameter (robust-v1). */
export const RULES: Record<string, AggregationSpec> = {
  robust: ROBUST_DEFAULT,
  fedavg: FEDAVG,
  median: { space: 'factors', clip: { kind: 'none' }, filters: [], combine: { kind: 'median' },
    allowMixedRanks: false },
  'robust-no-history': { ...ROBUST_DEFAULT, filters: ROBUST_DEFAULT.filters.filter((f) => f.kind !== 'history') },
  'robust-h50': historyAt(0.5),
  'robust-h20': historyAt(0.2),
  'robust-v1': {
    space: 'factors', clip: { kind: 'median', multiple: 3 },
      filters: [{ kind: 'norm', multiple: 3, minMultiple: 0.1 }, { kind: 'cosine', maxDistance: 1 }],
    combine: { kind: 'trimmed-mean', beta: 0.2 }, allowMixedRanks: false
  }
}

function historyAt (maxCosine: number): AggregationSpec {
  return { ...ROBUST_DEFAULT,
    filters: ROBUST_DEFAULT.filters.map((f) => f.kind === 'history' ? { ...f, maxCosine } : f) }
}

export type MatrixAttack = ModelAttack | BlindAttack | 'backdoor' | 'scale' | 'signflip'
/** the matrix's attacks: omniscient (they see the round's honest updates) unless named '-blind' */
export const MATRIX_ATTACKS: readonly MatrixAttack[] = ['alie', 'ipm', 'ipm10', 'minmax', 'minsum', 'copies', 'drift',
  'backdoor', 'inflate', 'alie-blind', 'minmax-blind']

export interface Setting {
  readonly peers: number
  readonly malicious: number
  readonly partition: PartitionMethod
  /** training length in tokens, when not the run's (a category split gives some peers only long records) */
  readonly maxLength?: number
}
export const SETTINGS: readonly Setting[] = [
  { peers: 8, malicious: 2, partition: 'iid' }, { peers: 10, malicious: 3, partition: 'iid' },
  { peers: 10, malicious: 4, partition: 'shepherd-categories', maxLength: 256 }
]

export interface CaseSpec { readonly attack?: MatrixAttack, readonly knowledge: Knowledge, readonly rule: string }

export interface MatrixOptions {
  readonly rounds: number
  readonly localSteps: number
  readonly maxLength: number
  readonly limitPerPeer: number
  readonly settings: readonly Setting[]
  /** the cases of every setting; a clean case per rule is added where missing (the reference) */
  readonly cases: readonly CaseSpec[]
  readonly seed?: number
  readonly log?: (line: string) => void
}

export interface CaseRow {
  readonly attack: string // 'none', or the attack name ('-blind' when non-omniscient)
  readonly malicious: number
  readonly peers: number
  readonly partition: string
  readonly rule: string
  readonly finalLoss: number
  readonly cleanLoss: number
  readonly worsePct: number
  readonly maliciousExcluded: number
  readonly maliciousTotal: number
  readonly benignExcluded: number
  readonly benignTotal: number
  /** drift: the final model's movement along the hidden direction / the clean run's total movement */
  readonly driftShare: number | null
  /** backdoor: share of triggered held-out prompts answered with the target phrase */
  readonly backdoorSuccess?: number
  readonly seconds: number
}

export function caseName (c: CaseSpec): string {
  if (c.attack === undefined) return 'none'
  return c.knowledge === 'colluders' && !isBlind(c.attack) ? `${c.attack}-blind` : c.attack
}

export async function runMatrix (o: MatrixOptions, onRow?: (row: CaseRow) => void): Promise<CaseRow[]> {
  const rows: CaseRow[] = []
  for (const s of o.settings) rows.push(...await runSetting(o, s, onRow))
  return rows
}

async function runSetting (o: MatrixOptions, setting: Setting, onRow?: (row: CaseRow) => void): Promise<CaseRow[]> {
  const seed = o.seed ?? 7
  const { peers, malicious: M } = setting
  const modelPath = DEMO.modelPath
  const ckpt = loadCheckpoint(modelPath)
  const tok = loadTokenizerFor(modelPath, ckpt.config.vocabSize)
  const { test, train } = splitHeldOut(readDolly(DEMO.dataPath).records)
  const shares = shareTrainingPool(train, { peers, method: setting.partition, seed, alpha: 0.5,
    limitPerPeer: o.limitPerPeer, label: (i) => peerLabel(i, peers) })
  const isBad = (i: number): boolean => i >= peers - M // the last M peers attack
  const make = async (records: typeof train): Promise<LocalTrainer> => await createSimTrainer({
    kind: 'real', modelPath, model: ckpt.config, records, lora: DEMO.lora, learningRate: DEMO.learningRate,
    batchSize: 8, microBatch: 8, localSteps: o.localSteps, maxLength: setting.maxLength ?? o.maxLength, threads: 1
  })
  const honest: LocalTrainer[] = []
  for (const s of shares) honest.push(await make(s.records))
  const poisoned: LocalTrainer[] = []
  if (o.cases.some((c) => c.attack === 'backdoor')) {
    for (let i = peers - M; i < peers; i++) poisoned.push(await make(backdoorRecords(shares[i]!.records, seed)))
  }
  const evaluator = await createEvaluator({ modelPath, records: test, lora: DEMO.lora, maxLength: 512, threads: 1 })
  const init = honest[0]!.initialAdapter(seed)
  const hidden = hiddenDirection(flatDelta(init, init).length, seed)
  const where = `${M} of ${peers} ${setting.partition}`
  try {
    type CaseRun = { global: Adapter, loss: number, exM: number, exB: number, sec: number }
    const run = async (c: CaseSpec): Promise<CaseRun> => {
      const t0 = Date.now()
      const spec = RULES[c.rule]!
      const aggregate = buildAggregator(spec)
      let global = init
      let history: JobHistory | undefined
      let exM = 0; let exB = 0; let loss = NaN
      for (let round = 1; round <= o.rounds; round++) {
        const baseHash = sha256Hex(encodeAdapter(global))
        const trained = await Promise.all(honest.map(async (t, i) => {
          const who = c.attack === 'backdoor' && isBad(i) ? poisoned[i - (peers - M)]! : t
          return await who.train({ round, base: global, seed: trainSeed(seed, round, shares[i]!.label) })
        }))
        const adapters = trained.map((r) => r.adapter)
        const samples = trained.map((r) => r.samples)
        const named = c.attack
        const blind = named !== undefined && (isBlind(named) || c.knowledge === 'colluders')
        const a = named !== undefined && isBlind(named) ? blindBase(named) : named
        if (a === 'scale' || a === 'signflip') {
          for (let i = peers - M; i < peers; i++) adapters[i] = corruptUpdate(a, global, adapters[i]!, seed + round)
        } else if (a !== undefined && a !== 'backdoor') {
          const deltas = adapters.map((x) => flatDelta(x, global))
          const own = deltas.slice(peers - M)
          const known = blind ? own : deltas
          const crafted = craft(a, { known, own, n: peers, spec, hidden, round, seed: seed + round })
          crafted.forEach((d, k) => { adapters[peers - M + k] = withDelta(global, d) })
          if (a === 'inflate') for (let i = peers - M; i < peers; i++) samples[i] = DEFAULT_MAX_SAMPLES
        }
        const updates: ClientUpdate[] = adapters.map((adapter, i) => ({ peer: shares[i]!.label, samples: samples[i]!,
          round, baseHash, adapter }))
        const res = aggregate(updates, { round, baseHash, global, ...(history !== undefined ? { history } : {}) })
        history = res.history
        res.decisions.forEach((d, i) => { if (!d.included) { if (a !== undefined && isBad(i)) exM++; else exB++ } })
        global = res.adapter
        loss = (await evaluator.evaluate(global)).evalLoss
        const out = res.decisions.filter((d) => !d.included)
          .map((d) => `${d.peer}${isBad(Number(d.peer.slice(1))) && a !== undefined ? '*' : ''} ${d.kind}`)
        o.log?.(`${where} ${c.rule} ${caseName(c)} round ${round}: ` +
          `loss ${loss.toFixed(4)}; ${res.summary}${out.length > 0 ? `; out: ${out.join(', ')}` : ''}`)
      }
      return { global, loss, exM, exB, sec: (Date.now() - t0) / 1000 }
    }
    const out: CaseRow[] = []
    const clean = new Map<string, { loss: number, movement: number }>()
    const rules = [...new Set(o.cases.map((c) => c.rule))]
    for (const rule of rules) {
      const r = await run({ rule, knowledge: 'omniscient' })
      const movement = Math.sqrt(flatDelta(r.global, init).reduce((s, v) => s + v * v, 0))
      clean.set(rule, { loss: r.loss, movement })
      const row = rowOf(setting, { rule, knowledge: 'omniscient' }, r, r.loss, null, M, peers, o.rounds)
      out.push(row); onRow?.(row)
    }
    for (const c of o.cases.filter((x) => x.attack !== undefined)) {
      const r = await run(c)
      const ref = clean.get(c.rule)!
      let drift: number | null = null
      if (c.attack === 'drift') {
        const d = flatDelta(r.global, init)
        let p = 0
        for (let k = 0; k < d.length; k++) p += d[k]! * hidden[k]!
        drift = Math.abs(p) / ref.movement
      }
      const bd = c.attack === 'backdoor' ? await backdoorSuccess(ckpt, tok, test, r.global, seed) : undefined
      const row = { ...rowOf(setting, c, r, ref.loss, drift, M, peers, o.rounds),
        ...(bd !== undefined ? { backdoorSuccess: bd } : {}) }
      out.push(row); onRow?.(row)
    }
    return out
  } finally {
    await Promise.all([...honest, ...poisoned].map(async (t) => await t.close()))
    await evaluator.close()
  }
}

function rowOf (s: Setting, c: CaseSpec, r: { loss: number, exM: number, exB: number, sec: number }, cleanLoss: number,
  driftShare: number | null, M: number, peers: number, rounds: number): CaseRow {
  const attacked = c.attack !== undefined
  return {
    attack: caseName(c),
    malicious: attacked ? M : 0,
    peers,
    partition: s.partition,
    rule: c.rule,
    finalLoss: r.loss,
    cleanLoss,
    worsePct: (r.loss - cleanLoss) / cleanLoss * 100,
    maliciousExcluded: r.exM,
    maliciousTotal: attacked ? M * rounds : 0,
    benignExcluded: r.exB,
    benignTotal: (attacked ? peers - M : peers) * rounds,
    driftShare,
    seconds: r.sec
  }
}
