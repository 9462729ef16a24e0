// Fetching a global adapter by hash from whoever holds it, verified (sha256 by the transport, then the
// layout by decodeAdapter) before anyone uses it.
import { peerIdFromString } from '@libp2p/peer-id'
import { RejectReason } from '../protocol/reject-reason.ts'
import type { Adapter } from '../trainer/lora/adapter.ts'
import { decodeAdapter } from './adapter-codec.ts'
import { tryLimitMs, withRetries } from './transfer.ts'
import type { FetchOptions } from './types.ts'
import { shuffle } from './shuffle.ts'
import type { PeerContext } from './peer-context.ts'

interface FetchedGlobal { readonly bytes: Uint8Array, readonly adapter: Adapter }

/**
 * Fetches and verifies a global adapter from the first source that has it: members whose Hello says they
 * hold it (in random order) before `from` (the aggregator that made it), so the members of a job do not
 * all fetch a new adapter from one peer at once; the hash check makes any holder as good as another.
 */
export async function fetchGlobal (
  ctx: PeerContext, hash: string, from: readonly string[]
): Promise<FetchedGlobal | undefined> {
  const holders = shuffle((ctx.view?.holdersOf(hash, Date.now()) ?? []).filter((p) => !from.includes(p)))
  const sources = [...new Set([...holders, ...from])].filter((p) => p !== ctx.peerId)
  // a global adapter has the job's layout, so its size is known: tries sized to it, then the next source
  const opts = (i: number): FetchOptions => ({ jobId: ctx.opts.jobId, maxBytes: ctx.maxAdapterBytes,
    timeoutMs: tryLimitMs(ctx.layout.byteLength, i, ctx.timing.transferTimeoutMs) })
  for (const p of sources) {
    try {
      const peer = peerIdFromString(p)
      const bytes = await withRetries(3, async (i) => await ctx.transport.fetchAdapter(ctx.libp2p, peer, hash, opts(i)))
      const d = decodeAdapter(bytes, ctx.layout, ctx.maxAdapterBytes)
      if (d.ok) return { bytes, adapter: d.adapter }
      ctx.reject(p, d.reason, 'adapter')
    } catch (err) {
      if (ctx.stopped) return undefined
      ctx.log(`fetch of ${hash.slice(0, 12)} from ${p.slice(-6)} failed: ${(err as Error).message}`)
      ctx.reject(p, (err as { reason?: string }).reason ?? RejectReason.StreamError, 'adapter')
    }
  }
  return undefined
}
