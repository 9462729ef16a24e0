// A restarted peer's job history (DESIGN.md "The job's history travels with its results"): the blob an earlier run
// kept in its state directory is taken only when the confirmed result of the saved round (our chain's link for it)
// names the saved global adapter and exactly this blob; anything else leaves the history unknown until the next
// result we adopt, as if nothing had been saved. Pure: the caller reads the files.
import { decodeHistory } from '../trainer/aggregate/history-codec.ts'
import type { ChainLink } from '../protocol/messages.ts'
import type { AdoptedHistory } from './round-state.ts'
import { sha256Hex } from './adapter-codec.ts'
import { hex } from './hex.ts'

export type SavedHistoryCheck = { readonly ok: true, readonly history: AdoptedHistory } |
  { readonly ok: false, readonly reason: string }

export function checkSavedHistory (bytes: Uint8Array | undefined, link: ChainLink | undefined,
  saved: { readonly round: number, readonly hash: string }): SavedHistoryCheck {
  const r = link?.result
  if (r === undefined) return { ok: false, reason: `no confirmed result of round ${saved.round} in the saved chain` }
  if (hex(r.newHash) !== saved.hash) {
    return { ok: false, reason: `the chain's round ${saved.round} result names global ` +
      `${hex(r.newHash).slice(0, 12)}, not the saved ${saved.hash.slice(0, 12)}` }
  }
  const named = hex(r.historyHash ?? new Uint8Array(0))
  if (named === '') return { ok: true, history: { hash: '' } } // the job keeps no history
  if (bytes === undefined) return { ok: false, reason: 'no saved history' }
  const got = sha256Hex(bytes)
  if (got !== named) {
    return { ok: false, reason: `the saved history ${got.slice(0, 12)} is not ${named.slice(0, 12)}, the one the ` +
      `round ${saved.round} result names` }
  }
  const d = decodeHistory(bytes)
  if (!d.ok) return { ok: false, reason: d.reason }
  return { ok: true, history: { hash: named, held: { bytes, value: d.history } } }
}
