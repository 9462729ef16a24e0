// The entry point node/ uses: a job's AggregationSpec -> the AggregateFn for its rounds.
// The spec is checked once here, so a round never fails on a spec it cannot run.
import type { AggregationSpec } from '../../protocol/aggregation-spec.ts'
import type { AggregateFn } from './types.ts'
import { AggregationSpecError } from './errors.ts'
import { runPipeline } from './pipeline.ts'

/** Why this implementation cannot run the spec, or undefined when it can. */
export function checkAggregationSpec (spec: AggregationSpec): string | undefined {
  if (spec.space !== 'factors' && spec.space !== 'product') return `unknown space '${String(spec.space)}'`
  if (spec.allowMixedRanks && spec.space !== 'product') {
    return "allowMixedRanks needs space 'product' (factors of different ranks cannot be averaged)"
  }
  const clip = spec.clip
  if (clip.kind === 'fixed' && !(clip.bound > 0 && Number.isFinite(clip.bound))) {
    return `clip bound ${clip.bound} must be a positive number`
  }
  if (clip.kind === 'median' && !(clip.multiple > 0 && Number.isFinite(clip.multiple))) {
    return `clip multiple ${clip.multiple} must be a positive number`
  }
  if (clip.kind === 'median' && clip.mads !== undefined && !(clip.mads > 0 && Number.isFinite(clip.mads))) {
    return `clip mads ${clip.mads} must be a positive number`
  }
  if (clip.kind !== 'none' && clip.kind !== 'fixed' && clip.kind !== 'median') {
    return `unknown clip '${String((clip as { kind: unknown }).kind)}'`
  }
  for (const f of spec.filters) {
    if (f.kind === 'norm') {
      if (!(f.multiple > 0 && Number.isFinite(f.multiple))) {
        return `norm filter multiple ${f.multiple} must be a positive number`
      }
      if (f.minMultiple !== undefined && !(f.minMultiple >= 0 && f.minMultiple < f.multiple)) {
        return `norm filter minMultiple ${f.minMultiple} must be in [0, multiple)`
      }
    } else if (f.kind === 'cosine') {
      if (!(f.maxDistance >= 0 && f.maxDistance <= 2)) {
        return `cosine filter maxDistance ${f.maxDistance} must be in [0, 2]`
      }
      if (f.mads !== undefined && !(f.mads > 0 && Number.isFinite(f.mads))) {
        return `cosine filter mads ${f.mads} must be a positive number`
      }
      if (spec.space === 'product') {
        return 'the cosine filter needs the coordinate-wise median, which product space does not build'
      }
    } else if (f.kind === 'krum') {
      if (!Number.isSafeInteger(f.f) || f.f < 0) return `krum f ${f.f} must be a non-negative integer`
      if (!Number.isSafeInteger(f.keep) || f.keep < 1) return `krum keep ${f.keep} must be a positive integer`
    } else if (f.kind === 'duplicate' || f.kind === 'history') {
      if (!(f.maxCosine > 0 && f.maxCosine <= 1)) return `${f.kind} filter maxCosine ${f.maxCosine} must be in (0, 1]`
      if (f.kind === 'history' && !(Number.isSafeInteger(f.minRounds) && f.minRounds >= 1)) {
        return `history filter minRounds ${f.minRounds} must be a positive integer`
      }
      if (f.kind === 'history' && spec.space === 'product') {
        return 'the history filter sketches flat factor deltas, which product space does not build'
      }
    } else {
      return `unknown filter '${String((f as { kind: unknown }).kind)}'`
    }
  }
  const c = spec.combine
  if (c.kind === 'trimmed-mean') {
    if (!(c.beta >= 0 && c.beta < 0.5)) return `trimmed mean beta ${c.beta} must be in [0, 0.5)`
  } else if (c.kind !== 'mean' && c.kind !== 'median') {
    return `unknown combine '${String((c as { kind: unknown }).kind)}'`
  }
  if (spec.f !== undefined && !(spec.f >= 0 && spec.f < 0.5)) {
    return `threat f ${spec.f} must be in [0, 0.5): a Byzantine majority cannot be outvoted`
  }
  if (spec.space === 'product' && c.kind !== 'mean') {
    return `product space supports only the 'mean' combine, not '${c.kind}'`
  }
  return undefined
}

export function buildAggregator (spec: AggregationSpec): AggregateFn {
  const why = checkAggregationSpec(spec)
  if (why !== undefined) throw new AggregationSpecError(`aggregation spec: ${why}`)
  return (updates, ctx) => runPipeline(spec, updates, ctx)
}
