// The training speed a peer advertises in its Hello (capabilities): measured from its own trainer's
// results (tokens / seconds of each round), smoothed so one odd round does not swing it. 0 = not measured yet.

/** weight of the newest round */
const NEWEST = 0.5

export function nextTokensPerSecond (
  prev: number, round: { readonly tokens: number, readonly seconds: number }
): number {
  if (!(round.seconds > 0) || !(round.tokens > 0) || !Number.isFinite(round.tokens / round.seconds)) return prev
  const now = round.tokens / round.seconds
  return prev > 0 ? prev + NEWEST * (now - prev) : now
}
