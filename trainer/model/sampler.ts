// Choosing the next token from logits: greedy (temperature 0), or temperature + nucleus (top-p) sampling with
// a seeded generator so a run is reproducible.
import { mulberry32 } from '../rng.ts'

/** The sampler's seeded generator (mulberry32). */
export const seededRandom = mulberry32

export function argmax (xs: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i
  return best
}

export interface SamplingOptions {
  /** 0 = greedy */
  readonly temperature: number
  /** nucleus mass in (0, 1]; 1 = plain sampling */
  readonly topP: number
}

export function sampleToken (logits: ArrayLike<number>, o: SamplingOptions, random: () => number): number {
  if (o.temperature <= 0) return argmax(logits)
  const n = logits.length
  let max = -Infinity
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]!)
  const p = new Float64Array(n)
  let z = 0
  for (let i = 0; i < n; i++) z += (p[i] = Math.exp((logits[i]! - max) / o.temperature))
  for (let i = 0; i < n; i++) p[i]! /= z
  let order: number[] = [...Array(n).keys()]
  let mass = 1
  if (o.topP < 1) {
    order.sort((a, b) => p[b]! - p[a]!)
    let cum = 0
    let k = 0
    while (k < n && cum < o.topP) cum += p[order[k++]!]!
    order = order.slice(0, Math.max(1, k))
    mass = cum
  }
  let r = random() * mass
  for (const i of order) {
    r -= p[i]!
    if (r <= 0) return i
  }
  return order[order.length - 1]!
}
