// The structural half of "validate": everything that can be judged without reading the values (round, base
// hash, sample claim, LoRA config, tensor names and shapes). Returns a verdict, never throws: a bad update
// is a normal input. Finiteness is judged in the same pass that measures the update's norm (see the spaces).
import type { AggregationContext, ClientUpdate } from './types.ts'
import { DEFAULT_MAX_SAMPLES } from './types.ts'
import type { Tensor } from '../tensor.ts'
import { numel } from '../tensor.ts'
import { DecisionKind } from './decision-kind.ts'

export type Verdict =
  | { readonly valid: true }
  | { readonly valid: false, readonly kind: DecisionKind, readonly reason: string }

export interface ValidateOptions {
  /** peers may use another LoRA rank (and alpha); A is then [r_peer, in] and B [out, r_peer] */
  readonly mixedRanks: boolean
}

const MAX_RANK = 4096

function reject (kind: DecisionKind, reason: string): Verdict {
  return { valid: false, kind, reason }
}

function shapeText (shape: readonly number[]): string {
  return `[${shape.join(',')}]`
}

function short (hash: string): string {
  return hash.length > 16 ? `${hash.slice(0, 12)}...` : hash
}

/** Which LoRA factor a PEFT tensor name is, if any. */
export function loraPart (name: string): 'A' | 'B' | undefined {
  return name.endsWith('.lora_A.weight') ? 'A' : name.endsWith('.lora_B.weight') ? 'B' : undefined
}

/** The shape an update's tensor must have, given the global tensor and the update's rank. */
function expectedShape (name: string, global: Tensor, rank: number, mixed: boolean): readonly number[] {
  if (!mixed) return global.shape
  const part = loraPart(name)
  if (part === 'A') return [rank, global.shape[1]]
  if (part === 'B') return [global.shape[0], rank]
  return global.shape
}

export function validateStructure (u: ClientUpdate, ctx: AggregationContext, opts: ValidateOptions): Verdict {
  if (u.round !== ctx.round) {
    return reject(DecisionKind.WrongRound,
      `${u.round < ctx.round ? 'stale' : 'future'} round ${u.round} (expected ${ctx.round})`)
  }
  if (u.baseHash !== ctx.baseHash) {
    return reject(DecisionKind.WrongBase, `trained from base ${short(u.baseHash)} (expected ${short(ctx.baseHash)})`)
  }
  const cap = ctx.maxSamples ?? DEFAULT_MAX_SAMPLES
  if (!Number.isSafeInteger(u.samples) || u.samples < 1) {
    return reject(DecisionKind.BadSamples, `samples ${u.samples} is not a positive integer`)
  }
  if (u.samples > cap) return reject(DecisionKind.BadSamples, `samples ${u.samples} above the cap ${cap}`)
  const c = u.adapter.config; const g = ctx.global.config
  if (opts.mixedRanks) {
    if (!Number.isSafeInteger(c.r) || c.r < 1 || c.r > MAX_RANK || !Number.isFinite(c.alpha) || c.alpha <= 0) {
      return reject(DecisionKind.ConfigMismatch, `LoRA r=${c.r} alpha=${c.alpha} is not a usable rank and scale`)
    }
  } else if (c.r !== g.r || c.alpha !== g.alpha) {
    return reject(DecisionKind.ConfigMismatch,
      `LoRA r=${c.r} alpha=${c.alpha} differs from the job's r=${g.r} alpha=${g.alpha}`)
  }
  for (const [name, gt] of ctx.global.tensors) {
    const t = u.adapter.tensors.get(name)
    if (t === undefined) return reject(DecisionKind.MissingTensor, `missing tensor ${name}`)
    const want = expectedShape(name, gt, c.r, opts.mixedRanks)
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      return reject(DecisionKind.ShapeMismatch, `shape ${shapeText(t.shape)} of ${name} (expected ${shapeText(want)})`)
    }
    if (!(t.data instanceof Float32Array) || t.data.length !== numel(want)) {
      return reject(DecisionKind.ShapeMismatch, `${name} holds ${t.data?.length} values for shape ${shapeText(want)}`)
    }
  }
  for (const name of u.adapter.tensors.keys()) {
    if (!ctx.global.tensors.has(name)) return reject(DecisionKind.UnknownTensor, `unknown tensor ${name}`)
  }
  return { valid: true }
}
