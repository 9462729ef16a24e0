// Getting a job history by hash: ours when we hold it, else from peers that should (the aggregator that made it,
// members standing on its global), checked by sha256 (the transfer) and by decodeHistory before anyone uses it.
import { peerIdFromString } from '@libp2p/peer-id'
import { decodeHistory, MAX_HISTORY_BYTES } from '../trainer/aggregate/history-codec.ts'
import type { JobHistory } from '../trainer/aggregate/history.ts'
import type { PeerContext } from './peer-context.ts'
import { connectedTo } from './global-fetch.ts'
import type { HeldHistory, RoundState } from './round-state.ts'

/** sources tried before giving up: a history nobody serves must not hold the round for long */
const MAX_SOURCES = 4

/**
 * History `hash` ('' : the empty one) from our own store, else from `from` and then from members whose Hello
 * says they stand on `holdersOf` (a global adapter whose result named it), a few at most.
 */
export async function getHistory (ctx: PeerContext, state: RoundState, hash: string, from: readonly string[],
  holdersOf: string): Promise<HeldHistory | undefined> {
  if (hash === '') return { bytes: new Uint8Array(0), value: new Map() as JobHistory }
  const mine = state.heldHistory(hash)
  if (mine !== undefined) return mine
  const holders = ctx.view?.holdersOf(holdersOf, Date.now()) ?? []
  // those we are connected to first: a stream instead of a dial (global-fetch.ts fetchOrder)
  const connected = connectedTo(ctx)
  const all = [...new Set([...from, ...holders])].filter((p) => p !== ctx.peerId)
  const sources = [...all.filter(connected), ...all.filter((p) => !connected(p))].slice(0, MAX_SOURCES)
  const opts = { jobId: ctx.opts.jobId, maxBytes: MAX_HISTORY_BYTES, timeoutMs: ctx.timing.transferTimeoutMs,
    what: 'history' as const }
  for (const p of sources) {
    if (ctx.stopped) return undefined
    try {
      const bytes = await ctx.transport.fetchAdapter(ctx.libp2p, peerIdFromString(p), hash, opts)
      const d = decodeHistory(bytes)
      if (d.ok) return { bytes, value: d.history }
      ctx.reject(p, d.reason, 'adapter')
    } catch (err) {
      ctx.log(`fetch of history ${hash.slice(0, 12)} from ${p.slice(-6)} failed: ${(err as Error).message}`)
    }
  }
  return undefined
}
