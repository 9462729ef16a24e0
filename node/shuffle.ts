/** Fisher-Yates, in place: spreads a crowd of peers over the sources or providers they would all pick first. */
export function shuffle<T> (xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const t = xs[i]!
    xs[i] = xs[j]!
    xs[j] = t
  }
  return xs
}
