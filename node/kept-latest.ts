// The small lists of messages a peer keeps to check again later (announces too early or naming members it does not
// count yet, results it cannot judge yet): one entry per sender (and round, where rounds ahead are kept), the newest
// kept, a few at most, so a flood from one sender or many costs a bounded re-check.

/** `list` with `item` in place of any entry `same` matches, the oldest dropped beyond `cap` (a new array). */
export function keepLatest<T> (list: readonly T[], item: T, same: (kept: T) => boolean, cap: number): T[] {
  const next = [...list.filter((k) => !same(k)), item]
  return next.length > cap ? next.slice(next.length - cap) : next
}
