// Model-poisoning attacks from the literature, as pure functions over flat update deltas (factor space, the
// tensors of the global adapter in its order). The colluders see `known` honest deltas: every honest update of
// the round (omniscient, the standard worst case) or only their own honestly trained ones (non-omniscient), and
// they know the job's aggregation spec. Each returns one crafted delta per attacker. The papers' attackers all
// send one vector; against a spec with a near-copy filter they jitter it just below that filter's threshold.
//   alie     Baruch et al. 2019: mean - z·std per coordinate (against the mean's sign), z from n and m
//   ipm      Xie et al. 2020, inner-product manipulation: -eps·mean (eps 0.5; ipm10: eps 10)
//   minmax   Shejwalkar & Houmansadr 2021: mean + gamma·p (p = -std/|std|), the largest gamma whose distance to
//            every honest delta stays within the largest honest pairwise distance
//   minsum   the same, bounding the sum of squared distances by the largest honest one
//   copies   spec-aware Sybils: one crafted delta at just under the spec's norm bound and just inside its cosine
//            bound, pointing against the mean's signs; jittered just below the spec's near-copy threshold
//   drift    stealthy: each attacker keeps its own delta's norm and its component along the mean, and turns its
//            off-mean part toward a hidden direction fixed for the job (a backdoor channel); as aligned as the
//            spec's near-copy threshold allows
//   inflate  weight-claim inflation: an ipm delta claiming the largest believable sample count
// The '-blind' names (alie-blind, ipm-blind, minmax-blind, minsum-blind) are the papers' partial-knowledge
// setting: the colluders estimate the honest mean and spread from their own benign training alone.
import type { AggregationSpec } from '../protocol/aggregation-spec.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import type { Tensor } from '../trainer/tensor.ts'
import { createRng, deriveSeed, normal } from '../trainer/rng.ts'

export type Knowledge = 'omniscient' | 'colluders'

export interface CraftInput {
  /** honest deltas the attackers know (at least one) */
  readonly known: readonly Float64Array[]
  /** the attackers' own honestly trained deltas, one per attacker */
  readonly own: readonly Float64Array[]
  /** trainers in the round (honest and hostile) */
  readonly n: number
  readonly spec: AggregationSpec
  /** unit vector, fixed for the job: where drift pushes the model */
  readonly hidden: Float64Array
  /** the job's round (1-based): drift spreads its push to stay under a cross-round threshold */
  readonly round: number
  readonly seed: number
}

export type ModelAttack = 'alie' | 'ipm' | 'ipm10' | 'minmax' | 'minsum' | 'copies' | 'drift' | 'inflate'

/** attacks crafted from the colluders' own benign deltas only (non-omniscient) */
export const BLIND_ATTACKS = ['alie-blind', 'ipm-blind', 'minmax-blind', 'minsum-blind'] as const
export type BlindAttack = typeof BLIND_ATTACKS[number]
export const isBlind = (a: string): a is BlindAttack => (BLIND_ATTACKS as readonly string[]).includes(a)
/** the attack a blind name crafts (from less knowledge) */
export const blindBase = (a: BlindAttack): ModelAttack => a.slice(0, -'-blind'.length) as ModelAttack

// --------------------------------------------------------------------------- vector helpers
function dot (a: Float64Array, b: Float64Array): number {
  let s = 0
  for (let k = 0; k < a.length; k++) s += a[k] * b[k]
  return s
}
const norm = (a: Float64Array): number => Math.sqrt(dot(a, a))
/** y += a·x, in place; returns y */
function axpy (y: Float64Array, a: number, x: Float64Array): Float64Array {
  for (let k = 0; k < y.length; k++) y[k] += a * x[k]
  return y
}
const scaled = (x: Float64Array, a: number): Float64Array => x.map((v) => v * a)
const unit = (x: Float64Array): Float64Array => { const n = norm(x); return n > 0 ? scaled(x, 1 / n) : x.slice() }
function dist2 (a: Float64Array, b: Float64Array): number {
  let s = 0
  for (let k = 0; k < a.length; k++) { const d = a[k] - b[k]; s += d * d }
  return s
}
/** x without its component along the unit vector u */
const orth = (x: Float64Array, u: Float64Array): Float64Array => axpy(x.slice(), -dot(x, u), u)

function meanStd (xs: readonly Float64Array[]): { mean: Float64Array, std: Float64Array } {
  const d = xs[0]!.length
  const mean = new Float64Array(d); const std = new Float64Array(d)
  for (const x of xs) axpy(mean, 1 / xs.length, x)
  if (xs.length > 1) {
    for (const x of xs) for (let k = 0; k < d; k++) std[k] += (x[k] - mean[k]) ** 2
    for (let k = 0; k < d; k++) std[k] = Math.sqrt(std[k] / (xs.length - 1))
  }
  return { mean, std }
}

function medianOf (xs: readonly number[]): number {
  const a = [...xs].sort((x, y) => x - y); const m = a.length
  return (m & 1) === 1 ? a[m >> 1]! : 0.5 * (a[m / 2 - 1]! + a[m / 2]!)
}

/** Standard normal quantile by bisection on the CDF (erf of Abramowitz-Stegun 7.1.26; plenty for ALIE's z). */
export function normalQuantile (p: number): number {
  const cdf = (x: number): number => {
    const t = 1 / (1 + 0.3275911 * Math.abs(x) / Math.SQRT2)
    const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    const e = 1 - poly * Math.exp(-x * x / 2)
    return 0.5 * (1 + (x >= 0 ? e : -e))
  }
  let lo = -10; let hi = 10
  for (let i = 0; i < 100; i++) { const mid = (lo + hi) / 2; if (cdf(mid) < p) lo = mid; else hi = mid }
  return (lo + hi) / 2
}

/** ALIE's z: the most the attackers can shift while s = floor(n/2 + 1) - m honest still lie farther out. */
export function alieZ (n: number, m: number): number {
  const s = Math.floor(n / 2 + 1) - m
  return normalQuantile(Math.min(0.999, Math.max(0.5, (n - s) / n)))
}

/** The largest gamma in [0, hi] with ok(gamma), by bisection (ok is monotone: true below a threshold). */
function largestGamma (ok: (g: number) => boolean, hi: number): number {
  let lo = 0
  if (ok(hi)) return hi
  for (let i = 0; i < 40; i++) { const mid = (lo + hi) / 2; if (ok(mid)) lo = mid; else hi = mid }
  return lo
}

const spreadOf = (xs: readonly number[], med: number): number => 1.4826 * medianOf(xs.map((x) => Math.abs(x - med)))

/** Norm the spec lets through at full strength, from the honest norms (the tighter of clip and norm filter). */
function normAllowance (spec: AggregationSpec, norms: readonly number[]): number {
  const med = medianOf(norms)
  let a = Infinity
  if (spec.clip.kind === 'median') {
    a = Math.min(a, spec.clip.multiple * med)
    if (spec.clip.mads !== undefined) a = Math.min(a, med + spec.clip.mads * spreadOf(norms, med))
  }
  for (const f of spec.filters) if (f.kind === 'norm') a = Math.min(a, f.multiple * med)
  return a === Infinity ? 10 * med : a
}

/** Lowest cosine with the centre the spec's cosine filter lets through, from the honest cosines (-1 without one). */
function cosineAllowance (spec: AggregationSpec, cosines: readonly number[]): number {
  const f = spec.filters.find((x) => x.kind === 'cosine')
  if (f === undefined) return -1
  const med = medianOf(cosines)
  return Math.max(1 - f.maxDistance, f.mads !== undefined ? med - f.mads * spreadOf(cosines, med) : -1)
}

/** Largest pairwise cosine the spec's near-copy filter lets through (1 when it has none). */
function copyAllowance (spec: AggregationSpec): number {
  const f = spec.filters.find((x) => x.kind === 'duplicate')
  return f === undefined ? 1 : f.maxCosine - 0.02
}

/** Spread m copies of one vector apart, each by an independent Gaussian jitter, so their pairwise cosine is ~c. */
function jitter (v: Float64Array, m: number, c: number, seed: number): Float64Array[] {
  if (c >= 1 || m === 1) return Array.from({ length: m }, () => v.slice())
  const eps = Math.sqrt(1 / c - 1) // |e|/|v| for cos(v + e1, v + e2) = 1 / (1 + eps^2)
  const rng = createRng(deriveSeed(seed, 'jitter'))
  const nv = norm(v)
  return Array.from({ length: m }, () => {
    const e = new Float64Array(v.length).map(() => normal(rng))
    const out = axpy(v.slice(), eps * nv / norm(e), e)
    return scaled(out, nv / norm(out))
  })
}

export function craft (attack: ModelAttack, x: CraftInput): Float64Array[] {
  const m = x.own.length
  const { mean, std } = meanStd(x.known)
  const meanHat = unit(mean)
  const norms = x.known.map(norm)
  switch (attack) {
    case 'alie': {
      const z = alieZ(x.n, m)
      return jitter(mean.map((mu, k) => mu - Math.sign(mu) * z * std[k]), m, copyAllowance(x.spec), x.seed)
    }
    case 'ipm': case 'inflate': return jitter(scaled(mean, -0.5), m, copyAllowance(x.spec), x.seed)
    case 'ipm10': return jitter(scaled(mean, -10), m, copyAllowance(x.spec), x.seed)
    case 'minmax': case 'minsum': {
      const p = scaled(unit(std), -1)
      const k = x.known
      const bound = attack === 'minmax'
        ? Math.max(0, ...k.flatMap((a, i) => k.map((b, j) => j > i ? dist2(a, b) : 0)))
        : Math.max(0, ...k.map((a) => k.reduce((s, b) => s + dist2(a, b), 0)))
      const ok = (g: number): boolean => {
        const v = axpy(mean.slice(), g, p)
        return attack === 'minmax' ? k.every((a) => dist2(v, a) <= bound)
          : k.reduce((s, a) => s + dist2(v, a), 0) <= bound
      }
      const g = largestGamma(ok, 10 * Math.max(...norms))
      return jitter(axpy(mean.slice(), g, p), m, copyAllowance(x.spec), x.seed)
    }
    case 'copies': {
      // the median stands in for the coordinate-wise median the spec measures cosines against
      const cosines = x.known.map((k) => dot(k, meanHat) / Math.max(1e-30, norm(k)))
      const floor = cosineAllowance(x.spec, cosines)
      const cos = floor <= -1 ? -0.5 : Math.min(1, floor + 0.05)
      const side = unit(orth(mean.map((mu) => -Math.sign(mu)), meanHat))
      const dir = axpy(scaled(meanHat, cos), Math.sqrt(1 - cos * cos), side)
      const v = scaled(dir, 0.95 * normAllowance(x.spec, norms))
      return jitter(v, m, copyAllowance(x.spec), x.seed)
    }
    case 'drift': {
      const h = unit(orth(x.hidden, meanHat))
      // alignment a of the off-mean parts with h: two attackers' deltas then have cosine ~ c^2 + s^2 a^2
      const c2 = medianOf(x.own.map((o) => (dot(o, meanHat) / Math.max(1e-30, norm(o))) ** 2))
      const allow = copyAllowance(x.spec)
      let a = allow >= 1 ? 1 : Math.sqrt(Math.min(1, Math.max(0, (allow - c2) / Math.max(1e-12, 1 - c2))))
      // a cross-round filter sees the residual sums: r rounds of a push a along h and unit noise have cosine
      // r a^2 / (r a^2 + 1 - a^2) with the partner's; stay under its threshold by spreading the push thin
      const hist = x.spec.filters.find((f) => f.kind === 'history')
      if (hist !== undefined) {
        const t = hist.maxCosine - 0.05
        a = Math.min(a, Math.sqrt(t / (x.round * (1 - t) + t)))
      }
      return x.own.map((o) => {
        const along = dot(o, meanHat)
        const off = orth(orth(o, meanHat), h)
        const offNorm = Math.sqrt(Math.max(0, dot(o, o) - along * along))
        const turned = axpy(scaled(h, a), Math.sqrt(1 - a * a), unit(off))
        return axpy(scaled(meanHat, along), offNorm, turned)
      })
    }
  }
}

/** A job's hidden direction for drift: a seeded Gaussian unit vector of the adapter's size. */
export function hiddenDirection (size: number, seed: number): Float64Array {
  const rng = createRng(deriveSeed(seed, 'hidden'))
  return unit(new Float64Array(size).map(() => normal(rng)))
}

/** The delta of an adapter against the base, flattened in the base's tensor order. */
export function flatDelta (a: Adapter, base: Adapter): Float64Array {
  const size = [...base.tensors.values()].reduce((s, t) => s + t.data.length, 0)
  const out = new Float64Array(size); let o = 0
  for (const [name, b] of base.tensors) {
    const t = a.tensors.get(name)!.data
    for (let k = 0; k < b.data.length; k++) out[o + k] = t[k]! - b.data[k]!
    o += b.data.length
  }
  return out
}

/** base + a flat delta, as an adapter. */
export function withDelta (base: Adapter, delta: Float64Array): Adapter {
  const tensors = new Map<string, Tensor>(); let o = 0
  for (const [name, b] of base.tensors) {
    const data = new Float32Array(b.data.length)
    for (let k = 0; k < data.length; k++) data[k] = b.data[k]! + delta[o + k]!
    o += data.length
    tensors.set(name, { shape: [...b.shape], data })
  }
  return { config: base.config, tensors }
}
