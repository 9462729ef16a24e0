// The simulation report (DESIGN.md "Contracts"): types and a validator that returns every problem found.

export type ByCategory = Record<string, number>

export interface RoundReport {
  round: number
  aggregator: string
  /** 0 = the elected aggregator served, n = the n-th in the failover order */
  attempt?: number
  selected: string[]
  included: string[]
  excluded: Array<{ peer: string, reason: string }>
  seconds: number
  bytes: number
  trainLoss: number
  evalLoss: number
  byCategory: ByCategory
}

export interface LocalBaseline { peer: string, categories: string[], evalLoss: number, byCategory: ByCategory }

/** Beyond the contract (optional, for people reading the report): who the peers are and what they hold. */
export interface PeerEntry { label: string, id: string, records: number, categories: Record<string, number>,
  malicious?: boolean }

export interface SimulationReport {
  config: { peers: number, rounds: number, perRound: number, partition: string, aggregation: string, seed: number,
    model: string, [k: string]: unknown }
  base: { evalLoss: number, byCategory: ByCategory }
  rounds: RoundReport[]
  final: { evalLoss: number, byCategory: ByCategory, adapter: string, hash?: string }
  baselines?: {
    centralized: { evalLoss: number, byCategory: ByCategory, steps?: number, curve?: number[] }
    local: Array<LocalBaseline & { steps?: number }>
    verdict?: { beatsBase: boolean, beatsLocal: Record<string, boolean>, gapToCentralizedPercent?: number }
  }
  peers?: PeerEntry[]
  faults?: { killed: Array<{ peer: string, round: number, why: string }>, malicious: string[], attack?: string,
    /** peers convicted on evidence (a contradicted or equivocating aggregator, a lying witness), each once */
    convicted?: Array<{ peer: string, kind: string, round: number }> }
  /** what witnessing results cost (in-process runs): one check's seconds against a round's wall time */
  witnesses?: { checksPerRound: number, bytesPerRound: number, secondsPerCheck: number, shareOfRound: number }
  responses?: Array<{ instruction: string, category: string, reference: string, answers: Record<string, string> }>
  seconds?: number
}

/** Checks a parsed report.json against the contract; returns the list of problems (empty = valid). */
export function validateReport (r: unknown): string[] {
  const errs: string[] = []
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
  const num = (x: unknown, where: string): void => {
    if (typeof x !== 'number' || !Number.isFinite(x)) errs.push(`${where}: expected a finite number`)
  }
  const int = (x: unknown, where: string): void => {
    if (!Number.isInteger(x)) errs.push(`${where}: expected an integer`)
  }
  const str = (x: unknown, where: string): void => {
    if (typeof x !== 'string' || x === '') errs.push(`${where}: expected a non-empty string`)
  }
  const strs = (x: unknown, where: string): void => {
    if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) errs.push(`${where}: expected an array of strings`)
  }
  const cats = (x: unknown, where: string): void => {
    if (!isObj(x)) { errs.push(`${where}: expected an object`); return }
    for (const [k, v] of Object.entries(x)) num(v, `${where}.${k}`)
  }
  const lossCats = (x: unknown, where: string): void => {
    if (!isObj(x)) { errs.push(`${where}: expected an object`); return }
    num(x.evalLoss, `${where}.evalLoss`); cats(x.byCategory, `${where}.byCategory`)
  }
  if (!isObj(r)) return ['report: expected an object']
  if (!isObj(r.config)) errs.push('config: expected an object')
  else {
    for (const k of ['peers', 'rounds', 'perRound', 'seed']) int(r.config[k], `config.${k}`)
    for (const k of ['partition', 'aggregation', 'model']) str(r.config[k], `config.${k}`)
  }
  lossCats(r.base, 'base')
  if (!Array.isArray(r.rounds)) errs.push('rounds: expected an array')
  else {
    r.rounds.forEach((x: unknown, i) => {
      const w = `rounds[${i}]`
      if (!isObj(x)) { errs.push(`${w}: expected an object`); return }
      int(x.round, `${w}.round`); str(x.aggregator, `${w}.aggregator`)
      strs(x.selected, `${w}.selected`); strs(x.included, `${w}.included`)
      if (!Array.isArray(x.excluded) || !x.excluded.every((e: unknown) => isObj(e) && typeof e.peer === 'string' &&
        typeof e.reason === 'string')) {
        errs.push(`${w}.excluded: expected [{peer, reason}]`)
      }
      num(x.seconds, `${w}.seconds`); num(x.bytes, `${w}.bytes`); num(x.trainLoss, `${w}.trainLoss`)
      lossCats(x, w)
    })
  }
  if (!isObj(r.final)) errs.push('final: expected an object')
  else { lossCats(r.final, 'final'); str(r.final.adapter, 'final.adapter') }
  if (r.baselines !== undefined) {
    if (!isObj(r.baselines)) errs.push('baselines: expected an object')
    else {
      lossCats(r.baselines.centralized, 'baselines.centralized')
      if (!Array.isArray(r.baselines.local)) errs.push('baselines.local: expected an array')
      else r.baselines.local.forEach((l: unknown, i) => {
        if (!isObj(l)) { errs.push(`baselines.local[${i}]: expected an object`); return }
        str(l.peer, `baselines.local[${i}].peer`); strs(l.categories, `baselines.local[${i}].categories`)
        lossCats(l, `baselines.local[${i}]`)
      })
    }
  }
  return errs
}
