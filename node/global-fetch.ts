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
 * Whom to ask for an adapter, in order: members whose Hello says they hold it, those we are connected to first (each
 * group in random order), then `from`. A new connection costs a handshake (three X25519 agreements and a signature
 * at each end): noise handshakes were ~10 % of a 100-peer process's time in its rounds (bench scale's profile),
 * and after each round every member fetches the new global. Pure but for the shuffle.
 */
export function fetchOrder (holders: readonly string[], from: readonly string[], self: string,
  connected: (peer: string) => boolean): string[] {
  const others = holders.filter((p) => !from.includes(p) && p !== self)
  const near = shuffle(others.filter(connected))
  const far = shuffle(others.filter((p) => !connected(p)))
  return [...new Set([...near, ...far, ...from])].filter((p) => p !== self)
}

/**
 * Fetches and verifies a global adapter from the first source that has it: members whose Hello says they
 * hold it (fetchOrder) before `from` (the aggregator that made it), so the members of a job do not
 * all fetch a new adapter from one peer at once; the hash check makes any holder as good as another.
 */
export async function fetchGlobal (
  ctx: PeerContext, hash: string, from: readonly string[]
): Promise<FetchedGlobal | undefined> {
  const holders = ctx.view?.holdersOf(hash, Date.now()) ?? []
  const sources = fetchOrder(holders, from, ctx.peerId,
    (p) => ctx.libp2p.getConnections(peerIdFromString(p)).some((c) => c.status === 'open'))
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
