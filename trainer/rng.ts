// Seeded, deterministic random numbers: data shuffling, partitioning, adapter init, sampling, test doubles.
// mulberry32: small, fast, and identical on every platform (Math.random is neither seedable nor portable).

export interface Rng {
  /** uniform in [0, 1) */
  next (): number
}

/** mulberry32 as a bare function, uniform in [0, 1). */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function createRng (seed: number): Rng {
  return { next: mulberry32((seed >>> 0) ^ 0x9e3779b9) }
}

/** A seed derived from a seed and a salt (epoch, client, purpose), so streams do not overlap. */
export function deriveSeed (seed: number, salt: number | string): number {
  let h = (seed >>> 0) ^ 0x811c9dc5
  const s = String(salt)
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0
}

/** Fisher-Yates, in place; returns the array. */
export function shuffleInPlace<T> (a: T[], rng: Rng): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1))
    const t = a[i]!; a[i] = a[j]!; a[j] = t
  }
  return a
}

/** Standard normal (Box-Muller). */
export function normal (rng: Rng): number {
  const u = 1 - rng.next()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next())
}

/** Gamma(shape, 1) by Marsaglia-Tsang; shape < 1 via the boost Gamma(a) = Gamma(a + 1) * U^(1/a). */
export function gamma (shape: number, rng: Rng): number {
  if (shape < 1) return gamma(shape + 1, rng) * Math.pow(1 - rng.next(), 1 / shape)
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number, v: number
    do { x = normal(rng); v = 1 + c * x } while (v <= 0)
    v = v * v * v
    const u = 1 - rng.next()
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v
  }
}

/** A draw from the symmetric Dirichlet(alpha, ..., alpha) over k outcomes. */
export function dirichlet (k: number, alpha: number, rng: Rng): number[] {
  const g = Array.from({ length: k }, () => gamma(alpha, rng))
  const sum = g.reduce((a, b) => a + b, 0)
  return sum > 0 ? g.map((x) => x / sum) : g.map(() => 1 / k)
}
