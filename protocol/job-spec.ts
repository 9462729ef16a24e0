// The job: what every peer of one federation must agree on. jobId = sha256 of the canonical JSON of the
// normalised spec (defaults filled in), so formatting and key order of job.json do not matter.
import { createHash } from 'node:crypto'
import type { AggregationSpec, ClipSpec, CombineSpec, FilterSpec } from './aggregation-spec.ts'
import { FEDAVG, ROBUST_DEFAULT, threatUnholdable } from './aggregation-spec.ts'
import type { Json } from './canonical-json.ts'
import { canonicalJson } from './canonical-json.ts'
import { DEFAULT_MAX_ADAPTER_BYTES } from './limits.ts'
import type { MembershipSpec } from './membership.ts'
import { OPEN_JOB_MEMBERSHIP } from './membership.ts'
import type { WitnessSpec } from './witness-rules.ts'
import { DEFAULT_WITNESSES } from './witness-rules.ts'

/** The LLaMA linear modules LoRA may wrap (same names as trainer/model/config.ts LINEAR_MODULES). */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const
export type LoraTarget = typeof LORA_TARGETS[number]

export interface JobLora {
  readonly r: number
  readonly alpha: number
  readonly dropout: number
  readonly targetModules: readonly LoraTarget[]
}

export interface TrainingRecipe {
  readonly learningRate: number
  readonly batchSize: number
  /** optimizer steps per round on each selected peer (exactly one of localSteps / localEpochs) */
  readonly localSteps?: number
  readonly localEpochs?: number
  readonly maxLength: number
  readonly seed: number
  /** compute precision every member trains at (auto, fp32, fp16, bf16); absent: each peer's --precision */
  readonly precision?: 'auto' | 'fp32' | 'fp16' | 'bf16'
}

const PRECISIONS = ['auto', 'fp32', 'fp16', 'bf16'] as const
const precisionOf = (v: unknown, fail: (field: string, what: string) => never): typeof PRECISIONS[number] =>
  (PRECISIONS as readonly unknown[]).includes(v) ? v as typeof PRECISIONS[number]
    : fail('recipe.precision', `must be one of ${PRECISIONS.join(', ')}`)

export interface JobSpec {
  readonly version: 1
  readonly name: string
  /** base model id (e.g. a Hugging Face repo name) and sha256 (hex) of its weights, so peers train the same model */
  readonly baseModel: { readonly id: string, readonly sha256: string }
  readonly lora: JobLora
  readonly recipe: TrainingRecipe
  readonly rounds: number
  readonly peersPerRound: number
  /** live members needed before round 1 starts (default peersPerRound) */
  readonly minPeers: number
  readonly aggregation: AggregationSpec
  /** seconds from announce until updates are late; also how long members wait before failing over */
  readonly roundDeadlineSeconds: number
  readonly maxAdapterBytes: number
  /** who confirms each round's result (protocol/witness-rules.ts) */
  readonly witnesses: WitnessSpec
  /** the price of an identity in an open job (protocol/membership.ts); an allow-listed peer skips it */
  readonly membership: MembershipSpec
}

export class JobSpecError extends Error {
  constructor (message: string) { super(message); this.name = 'JobSpecError' }
}

export function jobIdOf (spec: JobSpec): string {
  return createHash('sha256').update(canonicalJson(spec as unknown as Json)).digest('hex')
}

/** Parses and validates a job.json text; throws JobSpecError with one line naming the source and field. */
export function parseJobSpec (text: string, source = 'job.json'): JobSpec {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    const m = /position (\d+)/.exec(String((err as Error).message))
    const line = m === null ? '' : `:${text.slice(0, Number(m[1])).split('\n').length}`
    throw new JobSpecError(`${source}${line}: not valid JSON (${(err as Error).message.split('\n')[0]})`)
  }
  return validateJobSpec(raw, source)
}

export function validateJobSpec (raw: unknown, source = 'job'): JobSpec {
  const fail = (field: string, what: string): never => { throw new JobSpecError(`${source}: "${field}" ${what}`) }
  const obj = (v: unknown, field: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown>
      : fail(field, 'must be an object')
  const int = (v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? v as number
      : fail(field, `must be an integer in [${min}, ${max}]`)
  const num = (v: unknown, field: string, min: number, max: number): number =>
    typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v
      : fail(field, `must be a number in [${min}, ${max}]`)
  const str = (v: unknown, field: string, re: RegExp, what: string): string =>
    typeof v === 'string' && re.test(v) ? v : fail(field, what)
  const known = (o: Record<string, unknown>, prefix: string, keys: readonly string[]): void => {
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) fail(prefix + k, `is not a known field (expected one of ${keys.join(', ')})`)
    }
  }

  const j = obj(raw, '(top level)')
  known(j, '', ['version', 'name', 'baseModel', 'lora', 'recipe', 'rounds', 'peersPerRound', 'minPeers', 'aggregation',
    'roundDeadlineSeconds', 'maxAdapterBytes', 'witnesses', 'membership'])
  if (j.version !== undefined && j.version !== 1) fail('version', 'must be 1')
  const name = str(j.name, 'name', /^[\w.\- ]{1,100}$/, 'must be 1-100 letters, digits, spaces, ._-')
  const bm = obj(j.baseModel, 'baseModel')
  known(bm, 'baseModel.', ['id', 'sha256'])
  const baseModel = {
    id: str(bm.id, 'baseModel.id', /^\S{1,200}$/, 'must be a non-empty id without spaces'),
    sha256: str(bm.sha256, 'baseModel.sha256', /^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits')
  }
  const l = obj(j.lora, 'lora')
  known(l, 'lora.', ['r', 'alpha', 'dropout', 'targetModules'])
  if (!Array.isArray(l.targetModules) || l.targetModules.length === 0) {
    fail('lora.targetModules', 'must be a non-empty array')
  }
  const targets = (l.targetModules as unknown[]).map((m, i) =>
    LORA_TARGETS.includes(m as LoraTarget) ? m as LoraTarget
      : fail(`lora.targetModules[${i}]`, `must be one of ${LORA_TARGETS.join(', ')}`))
  if (new Set(targets).size !== targets.length) fail('lora.targetModules', 'has duplicates')
  const lora: JobLora = {
    r: int(l.r, 'lora.r', 1, 1024),
    alpha: num(l.alpha, 'lora.alpha', 1e-6, 1e6),
    dropout: num(l.dropout ?? 0, 'lora.dropout', 0, 0.99),
    // canonical order, so ["v_proj","q_proj"] and ["q_proj","v_proj"] are the same job
    targetModules: LORA_TARGETS.filter((m) => targets.includes(m))
  }
  const rc = obj(j.recipe, 'recipe')
  known(rc, 'recipe.', ['learningRate', 'batchSize', 'localSteps', 'localEpochs', 'maxLength', 'seed', 'precision'])
  if ((rc.localSteps === undefined) === (rc.localEpochs === undefined)) {
    fail('recipe', 'needs exactly one of localSteps, localEpochs')
  }
  const recipe: TrainingRecipe = {
    learningRate: num(rc.learningRate, 'recipe.learningRate', 1e-9, 10),
    batchSize: int(rc.batchSize, 'recipe.batchSize', 1, 4096),
    ...(rc.localSteps !== undefined ? { localSteps: int(rc.localSteps, 'recipe.localSteps', 1, 1e6) } : {}),
    ...(rc.localEpochs !== undefined ? { localEpochs: num(rc.localEpochs, 'recipe.localEpochs', 1e-3, 1000) } : {}),
    maxLength: int(rc.maxLength, 'recipe.maxLength', 8, 1 << 20),
    seed: int(rc.seed ?? 0, 'recipe.seed', 0, 2 ** 31 - 1),
    ...(rc.precision !== undefined ? { precision: precisionOf(rc.precision, fail) } : {})
  }
  const rounds = int(j.rounds, 'rounds', 1, 1e6)
  const peersPerRound = int(j.peersPerRound, 'peersPerRound', 1, 1024)
  const minPeers = int(j.minPeers ?? peersPerRound, 'minPeers', 1, 1024)
  const aggregation = parseAggregation(j.aggregation ?? 'fedavg', fail)
  const unholdable = threatUnholdable(aggregation, peersPerRound)
  if (unholdable !== undefined) {
    fail('peersPerRound', `${peersPerRound} cannot hold the aggregation's threat: ${unholdable}`)
  }
  const roundDeadlineSeconds = num(j.roundDeadlineSeconds ?? 600, 'roundDeadlineSeconds', 0.1, 7 * 24 * 3600)
  const maxAdapterBytes = int(j.maxAdapterBytes ?? DEFAULT_MAX_ADAPTER_BYTES, 'maxAdapterBytes', 1024,
    DEFAULT_MAX_ADAPTER_BYTES)
  const w = obj(j.witnesses ?? {}, 'witnesses')
  known(w, 'witnesses.', ['count', 'quorum'])
  const wCount = int(w.count ?? DEFAULT_WITNESSES.count, 'witnesses.count', 0, 64)
  const witnesses: WitnessSpec = {
    count: wCount,
    quorum: int(w.quorum ?? Math.min(DEFAULT_WITNESSES.quorum, wCount), 'witnesses.quorum', Math.min(1, wCount),
      Math.max(wCount, 1))
  }
  const ms = obj(j.membership ?? {}, 'membership')
  known(ms, 'membership.', ['powBits', 'minAgeRounds'])
  const membership: MembershipSpec = {
    powBits: int(ms.powBits ?? OPEN_JOB_MEMBERSHIP.powBits, 'membership.powBits', 0, 40),
    minAgeRounds: int(ms.minAgeRounds ?? OPEN_JOB_MEMBERSHIP.minAgeRounds, 'membership.minAgeRounds', 0, 1000)
  }
  return { version: 1, name, baseModel, lora, recipe, rounds, peersPerRound, minPeers, aggregation,
    roundDeadlineSeconds, maxAdapterBytes, witnesses, membership }
}

type Fail = (field: string, what: string) => never

function parseAggregation (raw: unknown, fail: Fail): AggregationSpec {
  if (raw === 'fedavg') return FEDAVG
  if (raw === 'robust') return ROBUST_DEFAULT
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail('aggregation',
      'must be "fedavg", "robust" or an object {space, clip, filters, combine, allowMixedRanks}')
  }
  const a = raw as Record<string, unknown>
  const pos = (v: unknown, f: string): number => typeof v === 'number' && Number.isFinite(v) && v > 0 ? v
    : fail(f, 'must be a positive number')
  const unit = (v: unknown, f: string): number => typeof v === 'number' && v > 0 && v <= 1 ? v
    : fail(f, 'must be a number in (0, 1]')
  if (a.space !== 'factors' && a.space !== 'product') fail('aggregation.space', 'must be "factors" or "product"')
  const c = (a.clip ?? { kind: 'none' }) as Record<string, unknown>
  let clip: ClipSpec
  if (c.kind === 'none') clip = { kind: 'none' }
  else if (c.kind === 'fixed') clip = { kind: 'fixed', bound: pos(c.bound, 'aggregation.clip.bound') }
  else if (c.kind === 'median') {
    const multiple = pos(c.multiple, 'aggregation.clip.multiple')
    clip = c.mads === undefined ? { kind: 'median', multiple }
      : { kind: 'median', multiple, mads: pos(c.mads, 'aggregation.clip.mads') }
  }
  else return fail('aggregation.clip.kind', 'must be "none", "fixed" or "median"')
  if (!Array.isArray(a.filters ?? [])) fail('aggregation.filters', 'must be an array')
  const filters: FilterSpec[] = ((a.filters ?? []) as Array<Record<string, unknown>>).map((f, i) => {
    const p = `aggregation.filters[${i}]`
    if (f?.kind === 'norm') {
      const multiple = pos(f.multiple, `${p}.multiple`)
      if (f.minMultiple === undefined) return { kind: 'norm', multiple }
      const min = f.minMultiple
      if (typeof min !== 'number' || !(min >= 0 && min < multiple)) {
        fail(`${p}.minMultiple`, 'must be a number in [0, multiple)')
      }
      return { kind: 'norm', multiple, minMultiple: min as number }
    }
    if (f?.kind === 'cosine') {
      const maxDistance = pos(f.maxDistance, `${p}.maxDistance`)
      return f.mads === undefined ? { kind: 'cosine', maxDistance }
        : { kind: 'cosine', maxDistance, mads: pos(f.mads, `${p}.mads`) }
    }
    if (f?.kind === 'krum') {
      if (!Number.isSafeInteger(f.f) || (f.f as number) < 0) fail(`${p}.f`, 'must be an integer >= 0')
      if (!Number.isSafeInteger(f.keep) || (f.keep as number) < 1) fail(`${p}.keep`, 'must be an integer >= 1')
      return { kind: 'krum', f: f.f as number, keep: f.keep as number }
    }
    if (f?.kind === 'duplicate') return { kind: 'duplicate', maxCosine: unit(f.maxCosine, `${p}.maxCosine`) }
    if (f?.kind === 'history') {
      if (!Number.isSafeInteger(f.minRounds) || (f.minRounds as number) < 1) {
        fail(`${p}.minRounds`, 'must be an integer >= 1')
      }
      return { kind: 'history', maxCosine: unit(f.maxCosine, `${p}.maxCosine`), minRounds: f.minRounds as number }
    }
    return fail(`${p}.kind`, 'must be "norm", "cosine", "krum", "duplicate" or "history"')
  })
  const cb = (a.combine ?? { kind: 'mean' }) as Record<string, unknown>
  let combine: CombineSpec
  if (cb.kind === 'mean') combine = { kind: 'mean' }
  else if (cb.kind === 'median') combine = { kind: 'median' }
  else if (cb.kind === 'trimmed-mean') {
    const beta = cb.beta
    if (typeof beta !== 'number' || !(beta >= 0 && beta < 0.5)) {
      fail('aggregation.combine.beta', 'must be a number in [0, 0.5)')
    }
    combine = { kind: 'trimmed-mean', beta: beta as number }
  } else return fail('aggregation.combine.kind', 'must be "mean", "median" or "trimmed-mean"')
  const allowMixedRanks = a.allowMixedRanks ?? false
  if (typeof allowMixedRanks !== 'boolean') fail('aggregation.allowMixedRanks', 'must be true or false')
  if (allowMixedRanks === true && a.space !== 'product') fail('aggregation.allowMixedRanks', 'needs space "product"')
  const f = a.f ?? 0
  if (typeof f !== 'number' || !(f >= 0 && f < 0.5)) {
    fail('aggregation.f', 'must be a number in [0, 0.5) (the fraction of hostile trainers)')
  }
  return { space: a.space as 'factors' | 'product', clip, filters, combine, allowMixedRanks: allowMixedRanks as boolean,
    ...(f as number > 0 ? { f: f as number } : {}) }
}
